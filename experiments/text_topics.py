"""Topics in news text: KL NMF of a document-term count matrix (the Lee corpus).

The Lee news corpus (300 ABC news articles; ``lee_background.cor`` in the
gensim wheel, read from the installed files) as document x term counts
(scikit-learn's tokenizer, English stop words and the honorifics Mr, Mrs,
Ms, Dr out, terms in 3 to 150 documents). KL NMF (the generalized Kullback-Leibler divergence is the Poisson
likelihood of counts) by Lee-Seung multiplicative updates on the sparse
matrix (products only at the non-zeros), rank 10, the best of several
restarts. Each row of H, normalized to sum to one, is a topic
(a distribution over terms); each row of W, normalized, a document's topic
mixture. Recorded: the top terms of each topic with their weights, the number
of documents whose dominant topic it is, the objective, and, across the
restarts, how well each topic of the best run is matched by the others
(cosine of the best-matching topic, a stability check in the spirit of
Brunet et al. 2004).

Run: ``python -m experiments.text_topics [--quick]``; figure:
``python -m paper.figures text_topics``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

import nmflab
from nmflab import datasets

from .common import Experiment, parse_args

NAME = "text_topics"
TOP = 10
#: Titles that head every news item and would top most topics.
HONORIFICS = ("mr", "mrs", "ms", "dr")


def _normalize_rows(X):
    sums = X.sum(axis=1, keepdims=True)
    return X / np.where(sums > 0, sums, 1.0)


def run(argv=None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv)
    seed = 0
    exp = Experiment(NAME, args, seeds=[seed])
    corpus = datasets.load_lee_news(extra_stop_words=HONORIFICS)
    V = scipy.sparse.csr_matrix(corpus.data)
    terms = np.array(corpus.feature_names)
    rank = 10
    restarts = 2 if args.quick else 10
    max_iter = 100 if args.quick else 1000
    fit = nmflab.nmf(V, rank, loss="kl", method="mu", restarts=restarts, max_iter=max_iter, tol=1e-7,
                     seed=seed, keep_restarts=True, trace=False)
    topics = _normalize_rows(fit.H)
    mixtures = _normalize_rows(fit.W)
    order = np.argsort(-mixtures.sum(axis=0))  # topics by total share of the corpus
    topics, mixtures = topics[order], mixtures[:, order]
    dominant = np.bincount(mixtures.argmax(axis=1), minlength=rank)
    top_idx = np.argsort(-topics, axis=1)[:, :TOP]
    # stability: for each topic of the best run, the best cosine match in every other restart
    unit = topics / np.linalg.norm(topics, axis=1, keepdims=True)
    matches = []
    for k, H in enumerate(fit.restart_H):
        if k == fit.best_restart:
            continue
        other = _normalize_rows(np.asarray(H))
        other = other / np.linalg.norm(other, axis=1, keepdims=True)
        matches.append((unit @ other.T).max(axis=1))
    matches = np.array(matches) if matches else np.ones((1, rank))
    exp.arrays.update(topics=topics, mixtures=mixtures, top_terms_index=top_idx, match_cosines=matches)
    exp.numbers.update({
        "n_documents": int(V.shape[0]), "n_terms": int(V.shape[1]), "n_tokens": int(V.sum()),
        "rank": rank, "restarts": restarts, "method": "mu (Lee-Seung KL, sparse)",
        "density": float(V.nnz / (V.shape[0] * V.shape[1])),
        "objective": float(fit.final_objective), "restart_objectives": fit.restart_objectives.tolist(),
        "n_iter": int(fit.n_iter),
        "topics": [
            {"terms": terms[top_idx[t]].tolist(), "weights": topics[t, top_idx[t]].round(5).tolist(),
             "dominant_documents": int(dominant[t]), "corpus_share": float(mixtures[:, t].mean()),
             "median_match_cosine": float(np.median(matches[:, t]))}
            for t in range(rank)
        ],
    })
    return exp.save()


if __name__ == "__main__":
    print(run())
