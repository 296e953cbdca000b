"""The command line: fit from every input format, clear errors, nothing lost."""

import json

import numpy as np
import pytest
import scipy.io
import scipy.sparse

import nmflab
from nmflab.cli import main

V = np.random.default_rng(0).uniform(0, 1, (8, 6))


def _write(tmp_path, fmt):
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        np.savetxt(path, V, delimiter=",")
    elif fmt == "tsv":
        np.savetxt(path, V, delimiter="\t")
    elif fmt == "txt":
        np.savetxt(path, V)
    elif fmt == "npy":
        np.save(path, V)
    elif fmt == "npz":
        np.savez(path, V=V)
    elif fmt == "mtx":
        scipy.io.mmwrite(path, scipy.sparse.coo_matrix(V))
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "txt", "npy", "npz", "mtx"])
def test_fit_writes_factors_trace_and_summary(tmp_path, fmt, capsys):
    path = _write(tmp_path, fmt)
    out = tmp_path / "fit"
    assert main(["fit", str(path), "--rank", "2", "--seed", "3", "--max-iter", "50", "--out", str(out)]) == 0
    with np.load(tmp_path / "fit.npz") as saved:
        expected = nmflab.nmf(V, 2, seed=3, max_iter=50)
        np.testing.assert_allclose(saved["W"], expected.W, rtol=1e-12)
        np.testing.assert_allclose(saved["H"], expected.H, rtol=1e-12)
        np.testing.assert_allclose(saved["objective"], expected.objective, rtol=1e-12)
        for name in nmflab.result.Trace._fields:  # the whole trace, by the schema Result and the drivers share
            assert saved[name].shape == expected.objective.shape, name
        np.testing.assert_array_equal(saved["iterations"], expected.iterations)
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["rank"] == 2 and summary["seed"] == 3 and summary["n_iter"] == expected.n_iter
    assert summary["final_objective"] == pytest.approx(expected.final_objective, rel=1e-12)


def test_transpose_gives_the_transposed_problem(tmp_path):
    path = _write(tmp_path, "npy")
    main(["fit", str(path), "-r", "2", "--seed", "1", "--transpose", "--out", str(tmp_path / "t")])
    with np.load(tmp_path / "t.npz") as saved:
        assert saved["W"].shape == (6, 2) and saved["H"].shape == (2, 8)


@pytest.mark.parametrize(
    "content,match",
    [("1,2\n3,-4\n", "Negative values"), ("1,2\n3,x\n", "could not read"), ("1,2\n3\n", "could not read")],
)
def test_bad_files_exit_2_and_write_nothing(tmp_path, capsys, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["fit", str(path), "-r", "1", "--out", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not list(tmp_path.glob("res*"))
    assert path.read_text() == content


def test_missing_file_and_unknown_type(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "-r", "1"]) == 2
    assert "no such file" in capsys.readouterr().err
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"x")
    assert main(["fit", str(odd), "-r", "1"]) == 2
    assert "unknown file type" in capsys.readouterr().err


def test_impossible_rank(tmp_path, capsys):
    path = _write(tmp_path, "npy")
    assert main(["fit", str(path), "-r", "0"]) == 2
    assert "rank must be at least 1" in capsys.readouterr().err


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    path = _write(tmp_path, "npy")
    out = tmp_path / "res"
    assert main(["fit", str(path), "-r", "2", "--seed", "1", "--out", str(out)]) == 0
    before = (tmp_path / "res.json").read_text()
    assert main(["fit", str(path), "-r", "3", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "res.json").read_text() == before
    assert main(["fit", str(path), "-r", "3", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((tmp_path / "res.json").read_text())["rank"] == 3


def test_npz_with_several_arrays_needs_a_key(tmp_path, capsys):
    path = tmp_path / "two.npz"
    np.savez(path, A=V, B=V)
    assert main(["fit", str(path), "-r", "2"]) == 2
    assert "--key" in capsys.readouterr().err
    assert main(["fit", str(path), "-r", "2", "--key", "B", "--out", str(tmp_path / "k")]) == 0


def test_demo_reference_prints_the_chapter_numbers(capsys):
    assert main(["demo", "--reference"]) == 0
    out = capsys.readouterr().out
    for number in ("66.042", "0.269", "0.0235"):
        assert number in out
    # the cost's largest change between iterations was -4.211e-04: said as a fall, not as a negative increase
    assert "the cost fell at every iteration, by at least 4.211e-04" in out and "increase" not in out


def test_demo_prints_descent_and_recovery(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Monotone descent: yes" in out
    recovery = float(out.split("mean matched cosine):")[1].split()[0])
    assert recovery > 0.99
    assert (tmp_path / "objective.png").stat().st_size > 10_000
    assert (tmp_path / "parts.png").stat().st_size > 10_000


@pytest.mark.parametrize("flags, sketch", [(["--sketch"], True), (["--sketch", "4", "--sketch-power", "1"],
                                                                      nmflab.Sketch(size=4, power_iterations=1))])
def test_fit_on_a_sketch(tmp_path, capsys, flags, sketch):
    path = _write(tmp_path, "npy")
    out = tmp_path / "fit"
    assert main(["fit", str(path), "-r", "2", "--seed", "3", "--out", str(out), *flags]) == 0
    expected = nmflab.nmf(V, 2, seed=3, sketch=sketch)
    with np.load(tmp_path / "fit.npz") as saved:
        np.testing.assert_allclose(saved["W"], expected.W, rtol=1e-12)
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["sketch"]["size"] == expected.sketch.size
    assert f"sketch: {expected.sketch.size} columns" in capsys.readouterr().out


def test_fit_online_maps_an_npy_file_and_writes_the_parts(tmp_path, capsys):
    from nmflab.online import online_nmf

    rng = np.random.default_rng(5)
    X = rng.random((300, 3)) @ rng.random((3, 12)) + 0.05 * rng.random((300, 12))
    path = tmp_path / "big.npy"
    np.save(path, X)
    out = tmp_path / "fit"
    assert main(["fit", str(path), "-r", "3", "--online", "--block-rows", "64", "--seed", "2", "--max-iter", "5",
                 "--stop", "max_iter", "--out", str(out)]) == 0
    expected = online_nmf(X, 3, block_rows=64, seed=2, max_iter=5, stop="max_iter")
    with np.load(tmp_path / "fit.npz") as saved:
        np.testing.assert_allclose(saved["H"], expected.H, rtol=1e-12)
        np.testing.assert_allclose(saved["W"], expected.W, rtol=1e-12)
        np.testing.assert_allclose(saved["objective"], expected.objective, rtol=1e-12)
    summary = json.loads((tmp_path / "fit.json").read_text())
    assert summary["online"] and summary["passes"] == 5 and summary["rows_taken"] == 1500
    assert "5 passes over 300 rows" in capsys.readouterr().out


@pytest.mark.parametrize("flags, match", [(["--restarts", "3"], "no restarts"), (["--l1-H", "0.1"], "no penalties"),
                                          (["--transpose"], "no --transpose"),
                                          (["--stop", "kkt"], "unknown stop 'kkt'")])
def test_fit_online_refuses_what_it_cannot_do(tmp_path, capsys, flags, match):
    path = _write(tmp_path, "npy")
    assert main(["fit", str(path), "-r", "2", "--online", "--out", str(tmp_path / "res"), *flags]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not list(tmp_path.glob("res*"))
