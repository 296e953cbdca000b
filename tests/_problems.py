"""Small test problems shared by several test modules."""


def random_problem(rng, n=12, p=9, rank=3, noise=0.1):
    """A non-negative matrix near rank ``rank`` and a positive start."""
    W = rng.uniform(0, 1, (n, rank))
    H = rng.uniform(0, 1, (rank, p))
    V = W @ H + noise * rng.uniform(0, 1, (n, p))
    W0 = rng.uniform(0.1, 1, (n, rank))
    H0 = rng.uniform(0.1, 1, (rank, p))
    return V, W0, H0
