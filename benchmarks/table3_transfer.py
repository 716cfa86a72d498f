"""Paper Table 3: Kendall τ when a GBM trained on W_L of one zoo ranks the networks of another.

For each training zoo (rows): the GBM configuration chosen by 3-fold CV on its training split
(shared with Table 2 through the result cache) is refitted on the whole training split, then it
predicts the test split of every zoo (columns); the diagonal is the in-domain test τ. All zoos
must share one architecture (layout); digits and MNIST-5k zoos do.

Usage::

    python benchmarks/table3_transfer.py
    python benchmarks/table3_transfer.py --quick --zoo DIR_A --zoo DIR_B
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import paper_numbers as P  # noqa: E402

from skweights.metrics import kendall_tau  # noqa: E402


def transfer_matrix(args) -> dict[tuple[str, str], float]:
    taus = {}
    for source in args.zoos:
        model = C.fit_best(source, "gbm", "W_L", args.n_trials, args.quick, args.seed)
        for target in args.zoos:
            X = C.features(target, "W_L")[target.test]
            taus[source.name, target.name] = kendall_tau(
                target.target[target.test], model.predict(X)
            )
    return taus


def run(argv=None) -> str:
    p = C.parser(__doc__.splitlines()[0])
    args = C.parse(p, argv)
    names = [z.name for z in args.zoos]
    if len(set(names)) != len(names):  # two zoos with one display name: use directory names
        for z in args.zoos:
            z.name = z.path.name
        names = [z.name for z in args.zoos]
    taus = transfer_matrix(args)
    headers = ["trained on ↓ / ranked →"] + names
    rows = [[src] + [f"{taus[src, dst]:.3f}" for dst in names] for src in names]
    paper_headers = ["paper: trained on ↓ / ranked →", *P.COLLECTIONS]
    paper_rows = [
        [src] + [f"{P.TABLE3_TAU[src][dst]:.2f}" for dst in P.COLLECTIONS] for src in P.COLLECTIONS
    ]
    table = C.markdown_table(headers, rows) + "\n\n" + C.markdown_table(paper_headers, paper_rows)
    notes = (
        f"Ours (first table): Kendall τ-b on the test split of the column zoo, GBM on W_L "
        f"(per-layer stats) refitted on the training split of the row zoo with the best of "
        f"{args.n_trials} CV-search trials (paper: 1k). Zoos: {C.zoo_summary(args.zoos)}. "
        f"Paper (second table): Table 3 on the Small CNN Zoo; its in-domain MNIST τ is 0.92."
    )
    return C.emit(args, "Table 3 — Kendall τ transfer between zoos", table, notes)


if __name__ == "__main__":
    run()
