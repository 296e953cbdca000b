"""Rank surveys: planted structure found, independent of splitting and executor, resumable after a kill."""

import concurrent.futures
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nmflab
from theory import crossval
from theory.survey import rank_survey, shuffled_null

REPO = Path(__file__).resolve().parents[1]


def _planted(seed=0, n=24, p=36, k=3, noise=0.05):
    """Samples in k groups, each group made mostly of its own part."""
    rng = np.random.default_rng(seed)
    groups = np.arange(n) % k
    W = 0.1 * rng.random((n, k)) + np.eye(k)[groups] * rng.uniform(1, 2, (n, 1))
    H = rng.random((k, p)) * (rng.random((k, p)) < 0.5)
    H[np.arange(k), np.arange(k)] += 1
    return W @ H + noise * rng.random((n, p)), groups


FAST = {"backend": "numpy", "max_iter": 600}


def test_planted_block_structure_is_found_at_its_rank():
    V, groups = _planted()
    survey = rank_survey(V, [2, 3, 4, 5], 8, seed=1, chunk=4, progress=False, **FAST)
    ranks = np.array(survey.ranks)
    assert ranks[np.argmax(survey.column("cophenetic"))] == 3
    assert ranks[np.argmax(survey.column("dispersion"))] == 3
    assert survey.column("dispersion")[1] == pytest.approx(1.0)
    # the rank-3 consensus clusters are the planted groups
    from theory.consensus import connectivity, consensus_clusters

    found = consensus_clusters(survey.consensus[3], 3)
    np.testing.assert_array_equal(connectivity(found), connectivity(groups))
    cv = crossval.cross_validate(V, [1, 2, 3, 4, 5, 6], folds=4, seed=0, max_iter=1500, tol=1e-7)
    assert cv.best_rank == 3


def test_kl_cross_validation_predicts_every_held_out_entry_and_takes_no_look_at_it():
    """A KL fit scored on held-out entries must predict them positive without using them: the default method
    (MU for beta < 2) never sets W H to 0; a fit's iterates do not depend on a held-out entry's value."""
    from experiments.rank_selection import planted_counts

    V, _ = planted_counts(11)
    cv = crossval.cross_validate(V, [3, 5, 7], folds=3, seed=1, loss="kl", max_iter=150)
    assert np.isfinite(cv.test_error).all()
    held = crossval.holdout_folds(V.shape, 3, 1) == 0
    other = np.where(held, V + 7.0, V)  # the held-out entries differ, nothing else
    for method in ("mu", "cd"):
        kw = dict(loss="kl", method=method, mask=~held, seed=0, max_iter=60, stop="max_iter")
        np.testing.assert_array_equal(nmflab.nmf(V, 5, **kw).W, nmflab.nmf(other, 5, **kw).W)


def test_result_does_not_depend_on_chunks_or_executor():
    V, _ = _planted(seed=2)
    kw = dict(seed=5, progress=False, null=True, **FAST)
    one = rank_survey(V, [2, 3], 6, chunk=6, **kw)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        split = rank_survey(V, [3, 2], 6, chunk=4, executor=pool, **kw)
    for r in (2, 3):
        np.testing.assert_array_equal(one.consensus[r], split.consensus[r])
        np.testing.assert_array_equal(one.null_consensus[r], split.null_consensus[r])
        np.testing.assert_array_equal(one.objectives[r], split.objectives[r])
        np.testing.assert_array_equal(one.labels[r], split.labels[r])
    timeless = lambda table: [{k: v for k, v in row.items() if k != "seconds"} for row in table]  # noqa: E731
    assert timeless(one.table) == timeless(split.table)
    assert timeless(one.null_table) == timeless(split.null_table)


def test_dask_local_cluster_gives_the_same_survey():
    distributed = pytest.importorskip("distributed")
    V, _ = _planted(seed=3)
    kw = dict(seed=2, progress=False, **FAST)
    local = rank_survey(V, [2, 3], 4, chunk=2, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        remote = rank_survey(V, [2, 3], 4, chunk=2, executor=client.get_executor(), **kw)
    for r in (2, 3):
        np.testing.assert_array_equal(local.consensus[r], remote.consensus[r])
        np.testing.assert_array_equal(local.objectives[r], remote.objectives[r])


def test_worker_processes_give_the_same_survey():
    V, _ = _planted(seed=6)
    kw = dict(seed=3, progress=False, chunk=2, **FAST)
    alone = rank_survey(V, [2, 3], 4, **kw)
    pooled = rank_survey(V, [2, 3], 4, workers=2, **kw)
    for r in (2, 3):
        np.testing.assert_array_equal(alone.consensus[r], pooled.consensus[r])
        np.testing.assert_array_equal(alone.objectives[r], pooled.objectives[r])
        np.testing.assert_array_equal(alone.labels[r], pooled.labels[r])


def test_local_pool_removes_its_compilation_cache():
    from theory.survey import local_executor

    pool = local_executor(2)
    cache = Path(pool._cache)
    assert cache.is_dir()
    assert pool.submit(os.getenv, "JAX_COMPILATION_CACHE_DIR").result() == str(cache)
    pool.shutdown()
    assert not cache.exists()


def test_pool_workers_take_one_core_each_in_turn(monkeypatch):
    import multiprocessing

    from theory._worker import pin_to_next_core

    pinned = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cores: pinned.append((pid, cores)), raising=False)
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    for _ in range(5):
        pin_to_next_core(counter, [3, 5])
    assert pinned == [(0, {3}), (0, {5}), (0, {3}), (0, {5}), (0, {3})]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this system")
def test_a_one_worker_pool_runs_on_the_first_core_it_may_use():
    from theory.survey import local_executor

    with local_executor(1) as pool:
        assert pool.submit(os.sched_getaffinity, 0).result() == {min(os.sched_getaffinity(0))}


def test_worker_set_up_leaves_one_xla_thread(monkeypatch):
    from theory._worker import one_thread

    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true --xla_force_host_platform_device_count=1")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "2")
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # the environment alone
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
    one_thread("/shared/cache")
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == "/shared/cache"
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    assert os.environ["XLA_FLAGS"].split() == ["--xla_cpu_multi_thread_eigen=false",
                                                "--xla_force_host_platform_device_count=1"]
    assert all(os.environ[name] == "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))


def test_a_killed_survey_resumes_without_recomputing(tmp_path):
    """The survey process kills itself (SIGKILL) in the middle of writing its sixth task: the same point on
    any machine, with a half-written temporary file left behind."""
    V, _ = _planted(seed=4)
    np.save(tmp_path / "V.npy", V)
    store = tmp_path / "store"
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        import theory.survey as survey
        written, real = [], survey.atomic_write_npz
        def dying_write(path, **arrays):
            written.append(path)
            if len(written) == 6:
                (path.parent / ("." + path.name + ".partial.tmp")).write_bytes(b"PK half of a file")
                os.kill(os.getpid(), signal.SIGKILL)
            real(path, **arrays)
        survey.atomic_write_npz = dying_write
        V = np.load({str(tmp_path / "V.npy")!r})
        survey.rank_survey(V, [2, 3, 4], 12, seed=3, chunk=1, store={str(store)!r}, progress=False,
                           backend="numpy", max_iter=600)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=900)
    assert proc.returncode == -signal.SIGKILL
    finished = len(list(store.glob("data-*.npz")))
    assert finished == 5
    resumed = rank_survey(V, [2, 3, 4], 12, seed=3, chunk=1, store=store, progress=False, **FAST)
    assert resumed.loaded_tasks == finished
    assert resumed.computed_tasks == 36 - finished
    fresh = rank_survey(V, [2, 3, 4], 12, seed=3, chunk=12, progress=False, **FAST)
    for r in (2, 3, 4):
        np.testing.assert_array_equal(resumed.consensus[r], fresh.consensus[r])
        np.testing.assert_array_equal(resumed.objectives[r], fresh.objectives[r])
    again = rank_survey(V, [2, 3, 4], 12, seed=3, chunk=1, store=store, progress=False, **FAST)
    assert again.computed_tasks == 0


def test_a_store_of_another_survey_is_refused_and_a_damaged_task_recomputed(tmp_path):
    V, _ = _planted(seed=5)
    kw = dict(seed=1, chunk=2, store=tmp_path, progress=False, **FAST)
    rank_survey(V, [2], 4, **kw)
    with pytest.raises(ValueError, match=r"other data or options \(differs in: seed\)"):
        rank_survey(V, [2], 4, **{**kw, "seed": 2})
    with pytest.raises(ValueError, match=r"differs in: null"):
        rank_survey(V, [2], 4, null=True, **kw)
    with pytest.raises(ValueError, match="data_sha256"):
        rank_survey(V + 1, [2], 4, **kw)
    victim = sorted(tmp_path.glob("data-*.npz"))[0]
    victim.write_bytes(b"not an npz file")
    again = rank_survey(V, [2], 4, **kw)
    assert again.computed_tasks == 1 and again.loaded_tasks == 1


@pytest.mark.parametrize("damage", ["truncated", "overwritten", "empty", "missing_key", "wrong_shape",
                                    "other_method", "no_method"])
def test_a_task_file_that_does_not_load_and_validate_completely_is_recomputed(tmp_path, damage):
    """Damaged files are recomputed, never trusted (a truncated one raised BadZipFile, a missing key KeyError)."""
    V, _ = _planted(seed=5)
    kw = dict(seed=1, chunk=2, store=tmp_path, progress=False, **FAST)
    fresh = rank_survey(V, [2, 3], 4, **kw)
    victim = sorted(tmp_path.glob("data-rank003-*.npz"))[0]
    raw = victim.read_bytes()
    with np.load(victim) as f:
        arrays = {k: f[k] for k in f.files}
    if damage == "truncated":
        victim.write_bytes(raw[: len(raw) // 2])
    elif damage == "overwritten":
        victim.write_bytes(b"\0" * len(raw))
    elif damage == "empty":
        victim.write_bytes(b"")
    elif damage == "missing_key":
        np.savez(victim, **{k: v for k, v in arrays.items() if k != "labels"})
    elif damage == "other_method":  # fitted by another rule: an older version's choice for method="auto"
        np.savez(victim, **{**arrays, "method": np.str_("not-" + str(arrays["method"]))})
    elif damage == "no_method":  # written before task files recorded their method
        np.savez(victim, **{k: v for k, v in arrays.items() if k != "method"})
    else:
        np.savez(victim, **{**arrays, "counts": arrays["counts"][:-1]})
    again = rank_survey(V, [2, 3], 4, **kw)
    assert again.computed_tasks == 1 and again.loaded_tasks == 3
    for r in (2, 3):
        np.testing.assert_array_equal(again.consensus[r], fresh.consensus[r])
        np.testing.assert_array_equal(again.objectives[r], fresh.objectives[r])


@pytest.mark.parametrize("bad", [{"method": "foo"}, {"max_iter": "many"}, {"tol": -1.0}, {"bogus_option": 3},
                                 {"method": "hals", "loss": "kl"}])
def test_bad_fit_options_are_refused_before_the_store_is_written(tmp_path, bad):
    """A survey that stored its manifest before the options failed locked its store to them: the right command
    was then refused."""
    V, _ = _planted(seed=5)
    store = tmp_path / "store"
    with pytest.raises((ValueError, TypeError)):
        rank_survey(V, [2], 2, seed=1, store=store, progress=False, **{**FAST, **bad})
    assert not (store / "survey.json").exists()
    assert rank_survey(V, [2], 2, seed=1, store=store, progress=False, **FAST).computed_tasks == 1


@pytest.mark.parametrize(
    ("ranks", "message"), [([1, 2], "between 2"), ([2, 50], "between 2"), ([], "between 2")]
)
def test_impossible_ranks_are_refused(ranks, message):
    V, _ = _planted()
    with pytest.raises(ValueError, match=message):
        rank_survey(V, ranks, 2, progress=False, **FAST)


def test_survey_options_reserved_and_checked():
    V, _ = _planted()
    with pytest.raises(TypeError, match="set by rank_survey"):
        rank_survey(V, [2], 2, restarts_per=None, first_restart=3, progress=False)
    with pytest.raises(ValueError, match="non-negative|negative"):
        rank_survey(-V, [2], 2, progress=False)
    with concurrent.futures.ThreadPoolExecutor(1) as pool, pytest.raises(TypeError, match="either executor or workers"):
        rank_survey(V, [2], 2, workers=2, executor=pool, progress=False)
    with pytest.raises(ValueError, match="workers"):
        rank_survey(V, [2], 2, workers=0, progress=False)


def test_shuffled_null_permutes_each_feature_across_samples():
    V, _ = _planted()
    null = shuffled_null(V, seed=0)
    np.testing.assert_array_equal(np.sort(null, axis=0), np.sort(V, axis=0))
    assert not np.array_equal(null, V)
    # columns are shuffled independently: the row pairing of two columns changes
    assert not np.array_equal(np.argsort(null[:, 0]) == np.argsort(V[:, 0]),
                              np.argsort(null[:, 1]) == np.argsort(V[:, 1]))


def test_holdout_folds_partition_and_balance():
    folds = crossval.holdout_folds((23, 17), 4, seed=3)
    assert folds.shape == (23, 17) and set(np.unique(folds)) == {0, 1, 2, 3}
    for k in range(4):
        per_row = (folds == k).sum(axis=1)
        per_col = (folds == k).sum(axis=0)
        assert per_row.min() >= 17 // 4 and per_row.max() <= -(-17 // 4)
        assert per_col.min() >= 23 // 4 and per_col.max() <= -(-23 // 4)
    with pytest.raises(ValueError, match="at least 4 rows"):
        crossval.holdout_folds((3, 10), 4)


def test_elbow_of_a_broken_line():
    x = np.arange(1, 9)
    y = np.where(x <= 3, 10 - 3 * (x - 1), 4 - 0.1 * (x - 3))
    assert x[crossval.elbow(x, y)] == 3


def test_survey_command_writes_table_and_resumes(tmp_path, capsys):
    from nmflab.cli import main

    V, _ = _planted(seed=6)
    data = tmp_path / "v.csv"
    np.savetxt(data, V, delimiter=",")
    args = [str(data), "--ranks", "2:3", "--restarts", "4", "--chunk", "2", "--backend", "numpy", "--no-progress",
            "--no-figures"]
    assert main(["survey", *args]) == 0
    out = capsys.readouterr().out
    assert "4 tasks computed, 0 loaded" in out
    table = (tmp_path / "v.survey" / "measures.csv").read_text().splitlines()
    assert table[0].startswith("kind,rank,restarts,cophenetic") and len(table) == 3
    assert main(["survey", *args]) == 0
    assert "0 tasks computed, 4 loaded" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["survey", str(data), "--ranks", "2:x"])
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    assert main(["survey", *args, "--labels", str(labels)]) == 2
    assert "2 labels for 24 samples" in capsys.readouterr().err


def test_survey_command_draws_labelled_consensus_maps(tmp_path, capsys):
    from nmflab.cli import main

    V, groups = _planted(seed=7)
    data = tmp_path / "v.npy"
    np.save(data, V)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"group{g}" for g in groups) + "\n")
    assert main(["survey", str(data), "--ranks", "2:3", "--restarts", "3", "--backend", "numpy", "--no-progress",
                 "--labels", str(labels)]) == 0
    store = tmp_path / "v.survey"
    for name in ("survey_curves.png", "consensus_rank2.png", "consensus_rank3.png"):
        assert (store / name).stat().st_size > 10_000


def _children(pid: int) -> set[int]:
    """The process ids whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            out.add(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: /proc, PR_SET_PDEATHSIG")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_parallel_survey_leaves_no_worker_and_no_cache_folder(tmp_path, signum):
    """SIGTERM (timeout, batch schedulers) ends the command as an interrupt: the pool stops, its folder goes, and
    the command says what it saved. SIGKILL runs nothing, yet the workers die with their parent, and the next
    pool removes the folder it left."""
    import tempfile

    from theory.survey import local_executor

    V, _ = _planted(seed=6)
    data = tmp_path / "V.npy"
    np.save(data, V)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "nmflab", "survey", str(data), "--ranks", "2:4", "--restarts", "40",
                             "--chunk", "1", "--workers", "2", "--backend", "numpy", "--store", str(store),
                             "--no-figures", "--no-progress"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = 300  # polls of 0.1 s: a guard against a hang, not a measure of speed
        while not list(store.glob("data-*.npz")) and deadline and proc.poll() is None:
            deadline -= 1
            subprocess.run(["sleep", "0.1"])
        assert proc.poll() is None, "the survey ended before it could be killed"
        workers = _children(proc.pid)
        assert len(workers) >= 2
        caches = list(Path(tempfile.gettempdir()).glob(f"nmflab-xla-cache-{proc.pid}-*"))
        assert len(caches) == 1
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    for _ in range(300):
        if not any(_alive(w) for w in workers):
            break
        subprocess.run(["sleep", "0.1"])
    assert not any(_alive(w) for w in workers), "workers outlived their parent"
    if signum == signal.SIGTERM:
        assert proc.returncode == 130
        saved = len(list(store.glob("data-*.npz")))
        assert f"interrupted; {saved} tasks saved in {store}: run the same command again to resume" in err
        assert not caches[0].exists()
    else:
        assert proc.returncode == -signal.SIGKILL and caches[0].exists()
        local_executor(1).shutdown()  # the next pool removes what a killed one left
        assert not caches[0].exists()


def test_a_rank_error_names_the_range_not_every_rank():
    V = np.random.default_rng(0).random((8, 6))
    with pytest.raises(ValueError, match=r"= 6, got 2\.\.99$"):
        rank_survey(V, range(2, 100), 2)
    with pytest.raises(TypeError, match="numpy.ma masked array"):
        rank_survey(np.ma.masked_array(V, mask=V > 0.9), [2], 2)


def _same_survey(a, b):
    for key in a.table[0]:
        if key != "seconds":
            np.testing.assert_array_equal([row[key] for row in a.table], [row[key] for row in b.table], err_msg=key)
    for r in a.ranks:
        np.testing.assert_array_equal(a.consensus[r], b.consensus[r])
        np.testing.assert_array_equal(a.labels[r], b.labels[r])
        np.testing.assert_array_equal(a.best[r][0], b.best[r][0])


def test_a_store_is_extended_with_more_restarts_and_ranks_computing_only_what_is_new(tmp_path):
    """A finished store refused more restarts or ranks; it now serves them, and the result is that of the
    larger survey run whole (restart k is the same fit in any task)."""
    V, _ = _planted(seed=5)
    kw = dict(seed=1, progress=False, **FAST)
    first = rank_survey(V, [2, 3], 6, chunk=3, store=tmp_path, **kw)
    assert first.computed_tasks == 4
    more = rank_survey(V, [2, 3, 4], 10, chunk=4, store=tmp_path, **kw)
    # ranks 2 and 3 reuse restarts 0-5 and compute 6-9 (one task each); rank 4 is new: 4 + 4 + 2
    assert (more.loaded_tasks, more.computed_tasks) == (4, 5)
    _same_survey(more, rank_survey(V, [2, 3, 4], 10, chunk=5, **kw))
    fewer = rank_survey(V, [3], 4, chunk=4, store=tmp_path, **kw)
    # rank 3 holds restarts 0-2, 3-5 and 6-9: 0-2 lies below 4, 3-5 does not, so restart 3 alone is computed
    assert (fewer.loaded_tasks, fewer.computed_tasks) == (1, 1)
    _same_survey(fewer, rank_survey(V, [3], 4, **kw))


def test_a_sparse_matrix_is_surveyed_sparse(tmp_path, monkeypatch):
    import scipy.sparse

    from theory import survey as module

    V, _ = _planted(seed=6)
    V = np.where(V > 0.5, V, 0.0)
    S = scipy.sparse.csr_matrix(V)
    fitted = []
    real = module._fit_chunk
    monkeypatch.setattr(module, "_fit_chunk", lambda data, *a: fitted.append(scipy.sparse.issparse(data))
                        or real(data, *a))
    kw = dict(seed=2, chunk=5, progress=False, null=True, **FAST)
    sparse = rank_survey(S, [2, 3], 10, store=tmp_path, **kw)
    assert fitted and all(fitted)
    dense = rank_survey(V, [2, 3], 10, **kw)
    np.testing.assert_array_equal(sparse.labels[3], dense.labels[3])  # the same fits, up to rounding
    for key in ("cophenetic", "rss", "evar", "svd_rss"):
        np.testing.assert_allclose(sparse.column(key), dense.column(key), rtol=1e-6, err_msg=key)
    null = shuffled_null(S, 2)
    assert scipy.sparse.issparse(null) and null.nnz == S.nnz
    np.testing.assert_array_equal(np.sort(null.toarray(), axis=0), np.sort(V, axis=0))  # each column permuted
    assert not np.array_equal(null.toarray(), V)
    again = rank_survey(S, [2, 3], 10, store=tmp_path, **kw)
    assert again.computed_tasks == 0


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_the_sparse_null_leaves_the_callers_matrix_as_it_was(fmt):
    """A CSC V shared its arrays with the shuffled copy, whose sort_indices then permuted the caller's values."""
    import scipy.sparse

    V = scipy.sparse.random(30, 20, density=0.3, format=fmt, random_state=0)
    before = V.toarray()
    null = shuffled_null(V, 0)
    np.testing.assert_array_equal(V.toarray(), before)
    np.testing.assert_array_equal(np.sort(null.toarray(), axis=0), np.sort(before, axis=0))


def test_progress_off_a_terminal_is_a_line_per_task(capsys):
    """The bar showed only on a terminal: a batch job's log got nothing. Off a terminal it gets a line per task."""
    V, _ = _planted(seed=7)
    rank_survey(V, [2, 3], 4, chunk=2, seed=0, progress=None, **FAST)  # pytest's stderr is not a terminal
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [f"rank survey: {k}/4 tasks done" for k in range(1, 5)]
    rank_survey(V, [2], 2, chunk=2, seed=0, progress=False, **FAST)
    assert capsys.readouterr().err == ""
