"""Sparse input (NumPy backend): the same iterates as the dense fit, without dense n x p arrays."""

import re

import numpy as np
import pytest
import scipy.sparse as sp

import nmflab
from nmflab.data import as_data, rows, sparse


def _sparse(seed=0, n=300, p=200, density=0.03):
    rng = np.random.default_rng(seed)
    return sp.random(n, p, density=density, random_state=seed, format="csr",
                     data_rvs=lambda k: rng.poisson(3, k) + 1.0)


@pytest.mark.parametrize("loss,method", [("frobenius", "mu"), ("kl", "mu"), ("kl", "cd"), ("kl", "brunet"),
                                         ("frobenius", "lee")])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_equals_dense(loss, method, fmt):
    V = _sparse().asformat(fmt)
    rng = np.random.default_rng(1)
    W0, H0 = rng.uniform(0.1, 1, (300, 6)), rng.uniform(0.1, 1, (6, 200))
    kw = dict(loss=loss, method=method, init=(W0, H0), max_iter=40, stop="max_iter", check_every=5)
    a = nmflab.nmf(V, 6, **kw)
    b = nmflab.nmf(V.toarray(), 6, **kw)
    np.testing.assert_allclose(a.W, b.W, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.H, b.H, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-9)


def test_sparse_hals_equals_dense_sweep_for_sweep():
    from nmflab.rules.hals import HALS, inner_sweeps

    V = _sparse(seed=7)
    rng = np.random.default_rng(8)
    W, H = rng.uniform(0.1, 1, (300, 6)), rng.uniform(0.1, 1, (6, 200))
    # inner sweeps are bounded by the products' cost: n p for dense data, the stored entries for sparse data
    assert inner_sweeps(300, 200, 6, 0.5) == (1 + (1 + (60000 + 1200) // 2100) // 2, 1 + (1 + (60000 + 1800) // 1400) // 2)
    assert inner_sweeps(300, 200, 6, 0.5, entries=V.nnz) == (1 + (1 + (V.nnz + 1200) // 2100) // 2,
                                                             1 + (1 + (V.nnz + 1800) // 1400) // 2)
    rule = HALS(alpha=0.0)  # one sweep per factor on both: the same arithmetic
    out = []
    for data in (as_data(np, V), as_data(np, V.toarray())):
        consts = rule.prepare(np, data)
        Wk, Hk, state = W, H, rule.init(np, data, W, H, consts)
        for _ in range(20):
            Wk, Hk, state = rule.update(np, data, Wk, Hk, state, consts)
        out.append((Wk, Hk, rule.objective(np, data, Wk, Hk, state, consts)))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-9, atol=1e-12)
    assert out[0][2] == pytest.approx(out[1][2], rel=1e-9)


@pytest.mark.parametrize("beta,exponent,eps", [(0.5, "mm", 1e-9), (1.5, "heuristic", 1e-9), (3.0, "mm", 0.0)])
def test_sparse_beta_divergence_equals_dense(monkeypatch, beta, exponent, eps):
    from nmflab.rules.mu import MultiplicativeBeta

    monkeypatch.setattr(sparse, "_GATHER", 1000)  # several blocks of stored entries
    monkeypatch.setattr(rows, "BLOCK_ENTRIES", 1000)  # and of rows of WH
    assert len(rows.row_blocks(300, 200)) == 60
    V = _sparse(seed=5)
    rng = np.random.default_rng(6)
    W0, H0 = rng.uniform(0.1, 1, (300, 5)), rng.uniform(0.1, 1, (5, 200))
    rule = MultiplicativeBeta(beta=beta, exponent=exponent, eps=eps)
    results = []
    for data in (as_data(np, V), as_data(np, V.toarray())):
        consts = rule.prepare(np, data)
        W, H, state = W0, H0, rule.init(np, data, W0, H0, consts)
        objectives = [rule.objective(np, data, W, H, state, consts)]
        for _ in range(15):
            W, H, state = rule.update(np, data, W, H, state, consts)
            objectives.append(rule.objective(np, data, W, H, state, consts))
        results.append((W, H, np.array(objectives)))
    (Ws, Hs, fs), (Wd, Hd, fd) = results
    np.testing.assert_allclose(Ws, Wd, rtol=1e-10)
    np.testing.assert_allclose(Hs, Hd, rtol=1e-10)
    np.testing.assert_allclose(fs, fd, rtol=1e-10)
    if exponent == "mm":
        assert np.all(np.diff(fs) <= 1e-12 * fs[:-1])


@pytest.mark.parametrize("gather", [1, 7, 6 * 1000, 2**21])
def test_products_at_the_stored_entries_in_blocks(monkeypatch, gather):
    sparse_ops = sparse
    monkeypatch.setattr(sparse_ops, "_GATHER", gather)  # blocks of 1, 1, 1000 entries and all at once
    V = _sparse(seed=3)
    rng = np.random.default_rng(4)
    W, H = rng.random((300, 6)), rng.random((6, 200))
    rows, cols = V.nonzero()
    order = np.lexsort((cols, rows))  # CSR storage order
    np.testing.assert_allclose(sparse_ops.at_nonzeros(sparse_ops.pattern(V), W, H), (W @ H)[rows[order], cols[order]],
                               rtol=1e-14)


def test_sparse_never_forms_a_dense_matrix(monkeypatch):
    """Any n x p array would go through one of these; the fit must not call them."""
    V = _sparse(2)
    for name in ("toarray", "todense"):
        monkeypatch.setattr(type(V), name, lambda self, *a, **k: pytest.fail(f"{name} was called"))
    res = nmflab.nmf(V, 5, loss="kl", method="mu", max_iter=30, seed=0)
    assert res.W.shape == (300, 5)
    res = nmflab.nmf(V, 5, method="hals", max_iter=30, seed=0, init="nndsvda")
    assert np.isfinite(res.final_objective)


@pytest.mark.parametrize("loss,method", [("frobenius", "hals"), ("frobenius", "mu"), ("frobenius", "lee"),
                                         ("kl", "mu"), ("kl", "cd"), ("kl", "brunet"), (0.5, "mu")])
def test_sparse_fit_allocates_far_less_than_one_dense_array(loss, method):
    """NumPy reports its allocations to tracemalloc: the fit's peak stays under a quarter of one n x p array."""
    import tracemalloc

    V = sp.random(4000, 3000, density=0.002, random_state=3, format="csr")
    V.data = np.floor(V.data * 5) + 1.0
    dense_bytes = 4000 * 3000 * 8
    tracemalloc.start()
    try:
        res = nmflab.nmf(V, 4, loss=loss, method=method, max_iter=3, stop="max_iter", seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(res.final_objective)
    assert peak < dense_bytes / 4, f"peak {peak / 1e6:.1f} MB against {dense_bytes / 1e6:.0f} MB for V dense"


def test_auto_kl_method_depends_on_rank_and_sparsity():
    V = _sparse(5).toarray()
    assert nmflab.nmf(V, 3, loss="kl", max_iter=2, seed=0).method == "cd"
    from nmflab.rules.kl_cd import MAX_AUTO_RANK, MAX_AUTO_RANK_COMPILED

    limit = MAX_AUTO_RANK_COMPILED if nmflab._kernels.available() else MAX_AUTO_RANK
    assert nmflab.nmf(V, limit, loss="kl", max_iter=2, seed=0).method == "cd"
    assert nmflab.nmf(V, limit + 1, loss="kl", max_iter=2, seed=0).method == "e-mu"


def test_sparse_defaults_and_refusals(monkeypatch):
    from nmflab.rules import BrunetKL

    V = _sparse(3)
    assert nmflab.nmf(V, 3, loss="kl", max_iter=5, seed=0).method == "e-mu"
    assert nmflab.nmf(V, 3, max_iter=5, seed=0).method == "hals"
    assert all(cls.supports_sparse for cls in nmflab.rules.registered().values())  # every rule takes sparse input
    monkeypatch.setattr(BrunetKL, "supports_sparse", False)  # a rule that did not would be refused by name
    with pytest.raises(ValueError, match="does not take sparse input; use 'cd', 'e-cd', 'e-mu', 'mu' or pass V.toarray"):
        nmflab.nmf(V, 3, method="brunet")
    monkeypatch.undo()
    with pytest.raises(ValueError, match="backend='numpy'"):
        nmflab.nmf(V, 3, backend="jax")
    with pytest.raises(ValueError, match="infinite at every zero"):
        nmflab.nmf(V, 3, loss="itakura-saito")
    bad = V.copy()
    bad.data[3] = -1.0
    with pytest.raises(ValueError, match="Negative values"):
        nmflab.nmf(bad, 3)
    bad.data[3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        nmflab.nmf(bad, 3)


def test_sparse_nndsvd_matches_dense():
    V = _sparse(4, 120, 90, 0.1)
    W, H = nmflab.init.nndsvd(V, 4, rng=np.random.default_rng(0))
    Wd, Hd = nmflab.init.nndsvd(V.toarray(), 4)
    np.testing.assert_allclose(W @ H, Wd @ Hd, rtol=1e-8, atol=1e-10)


def test_a_canonical_csr_is_fitted_as_it_is_and_any_other_is_left_untouched():
    """V is read, never written: a canonical CSR matrix in the fit's dtype is used without a copy; one with
    duplicates, unsorted indices or stored zeros is converted in a copy, and the caller's arrays keep
    every value (the fit is that of the canonical matrix, to rounding)."""
    from nmflab.validation import check_sparse_matrix

    V = _sparse(5)
    assert check_sparse_matrix(V) is V
    assert check_sparse_matrix(V, dtype="float32") is not V
    # the same matrix with its first row's entries reversed, its first entry split in two and a stored zero
    start, stop = V.indptr[0], V.indptr[1]
    assert stop - start >= 2
    row_values, row_columns = V.data[start:stop][::-1].copy(), V.indices[start:stop][::-1].copy()
    absent = int(np.setdiff1d(np.arange(V.shape[1]), row_columns)[0])
    row_values = np.concatenate([row_values[:-1], [row_values[-1] / 2, row_values[-1] / 2, 0.0]])
    row_columns = np.concatenate([row_columns, [row_columns[-1], absent]])
    messy = sp.csr_matrix((np.concatenate([row_values, V.data[stop:]]),
                           np.concatenate([row_columns, V.indices[stop:]]),
                           np.concatenate([[0], V.indptr[1:] + 2])), shape=V.shape)
    before = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    converted = check_sparse_matrix(messy)
    assert converted is not messy and converted.has_canonical_format and converted.data.all()
    assert (converted != V.tocsr()).nnz == 0
    for kept, now in zip(before, (messy.data, messy.indices, messy.indptr)):
        np.testing.assert_array_equal(kept, now)
    kw = dict(init="nndsvda", max_iter=20, stop="max_iter")
    np.testing.assert_allclose(nmflab.nmf(messy, 4, **kw).W, nmflab.nmf(V, 4, **kw).W, rtol=1e-9, atol=1e-12)


def test_blas_runs_one_thread_during_a_sparse_fit_and_as_it_was_during_a_dense_one():
    """The sparse products run on nmflab's thread pool; BLAS workers spinning beside them would take its
    cores, so a sparse fit runs BLAS on one thread (read from inside the fit, at each check)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from nmflab.parallel import pool_threads

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]

    outside = blas_threads()
    if pool_threads() < 2 or not outside or max(outside) < 2:
        pytest.skip("needs two cores and a BLAS with two threads")
    seen = {}
    for kind, V in (("sparse", _sparse(2)), ("dense", _sparse(2).toarray())):
        nmflab.nmf(V, 3, max_iter=10, check_every=5, seed=0,
                   progress=lambda check, kind=kind: seen.setdefault(kind, blas_threads()))
    assert seen["sparse"] == [1] * len(outside) and seen["dense"] == outside
    assert blas_threads() == outside  # restored after the fit


@pytest.mark.parametrize("bad,message", [(-2.5, "Negative values"), (np.nan, "non-finite"), (-np.inf, "non-finite")])
def test_a_bad_stored_entry_is_named_with_its_position(bad, message):
    """The error names the first bad entry in row order, the one a dense scan of V.toarray() finds first."""
    from nmflab.validation import check_sparse_matrix

    V = _sparse(4)
    V.data[[17, 40]] = [bad, -1.0]  # a later negative must not hide a non-finite entry, nor come first
    row, col = np.argwhere(np.isnan(V.toarray()) | np.isinf(V.toarray()) | (V.toarray() == bad))[0]
    with pytest.raises(ValueError, match=rf"{message}.*the first is {re.escape(repr(float(bad)))} at \({row}, {col}\)"):
        check_sparse_matrix(V)
