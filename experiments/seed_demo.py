"""The seed demonstration: planted parts recovered with monotone descent, and the exact replay of R's run.

* fit: the chapter's planted-parts matrix (60 x 40, three overlapping block
  parts plus uniform noise), rank 3, Lee–Seung multiplicative updates from
  a seeded random start until the objective changes by less than 1e-6
  (:func:`nmflab.demo.fit_demo`): objective trace, descent check, recovered
  parts against the planted ones.
* reference: the chapter's own R run (``../shared/data/seed_demo``: data,
  start and 200-iteration cost trace) replayed from the same start
  (:func:`nmflab.demo.replay_reference`): both traces and their largest
  relative deviation. Skipped, and recorded as such, where the reference
  data is not found.

Run: ``python -m experiments.seed_demo [--quick]``; figure:
``python -m paper.figures seed_demo``.
"""

from __future__ import annotations

from nmflab.demo import fit_demo, replay_reference

from .common import Experiment, parse_args

NAME = "seed_demo"
SEED = 42


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    exp = Experiment(NAME, args, seeds=[SEED])
    numbers, arrays, _ = fit_demo(seed=SEED, backend=args.backend)
    exp.numbers["fit"] = numbers
    exp.arrays.update({f"fit_{k}": v for k, v in arrays.items()})
    try:
        reference, ref_arrays = replay_reference(backend=args.backend)
    except FileNotFoundError as exc:
        exp.numbers["reference"] = {"skipped": str(exc)}
    else:
        exp.numbers["reference"] = reference
        exp.arrays.update({f"reference_{k}": v for k, v in ref_arrays.items()})
    print(f"fit: {numbers['n_iter']} iterations, monotone {numbers['monotone']}, "
          f"recovery {numbers['recovery']:.4f}; reference: {exp.numbers['reference']}")
    return exp.save()


if __name__ == "__main__":
    run()
