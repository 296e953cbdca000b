"""nmflab.theory: the non-negative rank and stability studies.

* :mod:`theory.nnrank` — certified lower and upper bounds on the non-negative
  rank with their evidence (:func:`theory.nnrank.nonneg_rank_bounds`);
* :mod:`theory.gallery` — rank-gap matrices with their literature values;
* :mod:`theory.consensus`, :mod:`theory.survey`, :mod:`theory.crossval`,
  :mod:`theory.plots` — consensus and cophenetic stability studies, rank
  surveys and held-out cross-validation.

``theory`` may import ``nmflab``; ``nmflab`` never imports ``theory`` (the
command line imports it lazily, inside the sub-commands that need it).
"""
