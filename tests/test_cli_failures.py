"""The command line: every failure one line with status 2, refused before any work, nothing lost; the options a
user expects."""

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse

import nmflab
from nmflab.cli import main

REPO = Path(__file__).resolve().parents[1]
V = np.random.default_rng(0).random((8, 6)) + 0.1


def _no_fit(monkeypatch):
    """Any fit fails the test: a refusal must come before the work."""
    monkeypatch.setattr(nmflab.api, "nmf", lambda *a, **k: pytest.fail("a fit ran before the refusal"))


def _one_line_error(capsys, status, expected=None):
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "Traceback" not in err, err
    if expected:
        assert expected in err, err
    return err


@pytest.mark.parametrize("name,content", [
    ("exponent.mtx", "%%MatrixMarket matrix coordinate real general\n3 3 1\n1 1 1.5E-"),
    ("array.mtx", "%%MatrixMarket matrix array real general\n2 2\n1.0\n2.0\n3.0\n4.E-"),
    ("count.mtx", "%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.5\n"),
    ("index.mtx", "%%MatrixMarket matrix coordinate real general\n3 3 1\n4 1 1.5\n"),
    ("banner.mtx", "%%MatrixMarket matrix coordinate complex general\n3 3 1\n1 1 1 2\n"),
    ("notmm.mtx", "just text\n"),
])
def test_a_bad_matrix_market_file_is_one_line_not_a_crash(tmp_path, name, content):
    """scipy's reader segfaulted on a number cut short in its exponent: run as a separate process."""
    path = tmp_path / name
    path.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "nmflab", "fit", str(path), "--rank", "1", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and str(path) in proc.stderr and "Traceback" not in proc.stderr


def test_matrix_market_files_are_read_exactly():
    from nmflab.io import read_matrix_market

    dense = np.array([[1.0, 0.0, 2.5], [0.0, 0.0, 3.0]])

    for text, expected, sparse in [
        ("%%MatrixMarket matrix coordinate real general\n% a comment\n2 3 3\n1 1 1.0\n1 3 2.5\n2 3 3\n", dense, True),
        ("%%MatrixMarket matrix array real general\n2 3\n1\n0\n0\n0\n2.5\n3\n", dense, False),
        ("%%MatrixMarket matrix coordinate integer symmetric\n2 2 2\n1 1 4\n2 1 7\n", np.array([[4.0, 7], [7, 0]]),
         True),
        ("%%MatrixMarket matrix coordinate pattern general\n2 2 2\n1 2\n2 1\n", np.array([[0.0, 1], [1, 0]]), True),
    ]:
        with tempfile.NamedTemporaryFile("w", suffix=".mtx", delete=False) as handle:
            handle.write(text)
        try:
            out = read_matrix_market(handle.name)
        finally:
            os.unlink(handle.name)
        assert scipy.sparse.issparse(out) == sparse
        np.testing.assert_array_equal(out.toarray() if sparse else out, expected)


@pytest.mark.parametrize("kind", ["empty.npy", "truncated.npy", "empty.npz", "truncated.npz", "object.npy"])
def test_empty_truncated_or_foreign_binary_files_are_one_line(tmp_path, capsys, kind):
    path = tmp_path / kind
    if kind.startswith("empty"):
        path.write_bytes(b"")
    elif kind == "object.npy":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        whole = tmp_path / ("whole" + path.suffix)
        (np.save if path.suffix == ".npy" else lambda p, a: np.savez(p, a=a))(whole, V)
        raw = whole.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    _one_line_error(capsys, main(["fit", str(path), "--rank", "2"]), str(path))


def test_a_directory_is_not_reported_missing(tmp_path, capsys):
    _one_line_error(capsys, main(["fit", str(tmp_path), "--rank", "2"]), "is a directory")


def test_outputs_are_checked_before_the_work(tmp_path, capsys, monkeypatch):
    data = tmp_path / "v.npy"
    np.save(data, V)
    (tmp_path / "taken.npz").write_bytes(b"")
    (tmp_path / "folder.npz").mkdir()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a folder is needed")
    _no_fit(monkeypatch)
    monkeypatch.setattr(nmflab.cli, "_theory", lambda name: pytest.fail("theory work ran before the refusal"))
    _one_line_error(capsys, main(["fit", str(data), "-r", "2", "--out", str(tmp_path / "taken")]), "exists")
    _one_line_error(capsys, main(["fit", str(data), "-r", "2", "--out", str(tmp_path / "folder")]), "is a directory")
    _one_line_error(capsys, main(["fit", str(data), "-r", "2", "--out", str(blocked / "fit")]), "cannot create")
    _one_line_error(capsys, main(["survey", str(data), "--store", str(blocked)]), "is a file")
    _one_line_error(capsys, main(["bounds", str(data), "--certificate", str(tmp_path)]), "is a directory")
    _one_line_error(capsys, main(["bounds", str(data), "--json", str(tmp_path / "taken.npz")]), "exists")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    data = tmp_path / "v.npy"
    np.save(data, V)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    _no_fit(monkeypatch)
    try:
        _one_line_error(capsys, main(["fit", str(data), "-r", "2", "--out", str(locked / "fit")]), "permission")
    finally:
        locked.chmod(0o700)


def test_outputs_take_the_umask_and_a_named_suffix_is_not_doubled(tmp_path):
    data = tmp_path / "v.npy"
    np.save(data, V)
    old = os.umask(0o022)
    try:
        assert main(["fit", str(data), "-r", "2", "--seed", "0", "--out", str(tmp_path / "res" / "fit.npz")]) == 0
    finally:
        os.umask(old)
    written = tmp_path / "res" / "fit.npz"
    assert written.exists() and not (tmp_path / "res" / "fit.npz.npz").exists()
    assert stat.S_IMODE(written.stat().st_mode) == 0o644  # mkstemp alone gave 0600
    assert stat.S_IMODE((tmp_path / "res" / "fit.json").stat().st_mode) == 0o644


def test_bounds_of_the_zero_matrix_and_json_that_is_not_overwritten(tmp_path, capsys):
    pytest.importorskip("cvxpy")
    data = tmp_path / "zeros.csv"
    np.savetxt(data, np.zeros((3, 4)), delimiter=",")
    out = tmp_path / "b.json"
    assert main(["bounds", str(data), "--json", str(out), "--time-limit", "none"]) == 0
    assert "rank₊ = 0" in capsys.readouterr().out
    assert json.loads(out.read_text())["upper"] == 0
    _one_line_error(capsys, main(["bounds", str(data), "--json", str(out)]), "exists")
    assert main(["bounds", str(data), "--json", str(out), "--overwrite", "--time-limit", "none"]) == 0


def test_a_sparse_mtx_is_fitted_without_being_made_dense(tmp_path, monkeypatch):
    S = scipy.sparse.random(40, 30, density=0.1, random_state=0, format="coo")
    path = tmp_path / "s.mtx"
    scipy.io.mmwrite(path, S)
    fitted = []
    real_nmf = nmflab.api.nmf
    monkeypatch.setattr(nmflab.api, "nmf", lambda V, *a, **k: fitted.append(V) or real_nmf(V, *a, **k))
    assert main(["fit", str(path), "-r", "3", "--seed", "0", "--max-iter", "20", "--out", str(tmp_path / "f")]) == 0
    assert len(fitted) == 1 and scipy.sparse.issparse(fitted[0])
    with np.load(tmp_path / "f.npz") as saved:
        expected = real_nmf(S.tocsr(), 3, seed=0, max_iter=20)
        np.testing.assert_allclose(saved["W"], expected.W, rtol=1e-12)


def test_mask_missing_penalties_beta_and_row_names_on_the_command_line(tmp_path):
    data = tmp_path / "v.csv"
    rows = ["," + ",".join(f"f{j}" for j in range(V.shape[1]))]
    rows += [f"s{i}," + ",".join(repr(float(x)) for x in V[i]) for i in range(V.shape[0])]
    data.write_text("\n".join(rows) + "\n")  # R's write.csv: a header and a column of row names
    mask = np.random.default_rng(1).random(V.shape) > 0.3
    np.save(tmp_path / "mask.npy", mask.astype(float))
    args = ["fit", str(data), "--skip-header", "--row-names", "-r", "2", "--seed", "0", "--loss", "1.5",
            "--mask", str(tmp_path / "mask.npy"), "--l1-W", "0.1", "--l2-H", "0.2", "--max-iter", "30"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    expected = nmflab.nmf(V, 2, seed=0, loss=1.5, mask=mask, l1_W=0.1, l2_H=0.2, max_iter=30)
    with np.load(tmp_path / "a.npz") as saved:
        np.testing.assert_allclose(saved["W"], expected.W, rtol=1e-12)
    assert json.loads((tmp_path / "a.json").read_text())["loss"] == "beta=1.5"
    gappy = V.copy()
    gappy[2, 3] = np.nan
    np.save(tmp_path / "nan.npy", gappy)
    assert main(["fit", str(tmp_path / "nan.npy"), "-r", "2", "--missing", "mask", "--out", str(tmp_path / "b")]) == 0


def test_an_interrupted_survey_says_what_it_saved(tmp_path, capsys, monkeypatch):
    from theory import survey

    data = tmp_path / "v.npy"
    np.save(data, V)
    store = tmp_path / "store"
    store.mkdir()
    for k in range(3):
        (store / f"data-rank002-restarts{k:05d}-{k:05d}.npz").write_bytes(b"")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(survey, "rank_survey", interrupted)
    status = main(["survey", str(data), "--store", str(store), "--workers", "1"])
    err = capsys.readouterr().err.strip()
    assert status == 130 and err.count("\n") == 0
    assert err.endswith(f"interrupted; 3 tasks saved in {store}: run the same command again to resume")


def test_a_sparse_survey_from_the_command_line_is_extended_in_its_store(tmp_path, capsys, monkeypatch):
    from theory import survey

    rng = np.random.default_rng(3)
    groups = np.arange(18) % 2
    dense = (np.eye(2)[groups] * 2 + 0.1) @ (rng.random((2, 12)) * (rng.random((2, 12)) > 0.4)) + 0.0
    path = tmp_path / "s.mtx"
    scipy.io.mmwrite(path, scipy.sparse.coo_matrix(dense))
    seen = []
    real = survey._fit_chunk
    monkeypatch.setattr(survey, "_fit_chunk", lambda V, *a: seen.append(scipy.sparse.issparse(V)) or real(V, *a))
    base = ["survey", str(path), "--ranks", "2:3", "--chunk", "2", "--workers", "1", "--no-figures", "--no-progress",
            "--store", str(tmp_path / "store")]
    assert main(base + ["--restarts", "4"]) == 0
    assert "4 tasks computed, 0 loaded" in capsys.readouterr().out
    assert main(base + ["--restarts", "6"]) == 0
    assert "2 tasks computed, 4 loaded" in capsys.readouterr().out
    assert seen == [True] * 6


def test_fit_progress_goes_to_standard_error_when_asked(tmp_path, capsys):
    data = tmp_path / "v.npy"
    np.save(data, V)
    assert main(["fit", str(data), "-r", "2", "--seed", "0", "--max-iter", "20", "--progress", "--out",
                 str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("nmf: restart 1/1 stopped after 20 iterations") and "nmf:" not in captured.out
    assert main(["fit", str(data), "-r", "2", "--seed", "0", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == ""  # not a terminal: quiet by default
