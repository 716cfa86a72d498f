"""Training and prediction speed of NeuralFunctionalRegressor: this checkout vs a git revision.

Absolute times on a shared machine are noisy, so the script measures a *ratio*: it exports the
baseline revision's ``skweights`` (``git archive``) next to this checkout's and runs the same fit
in fresh child processes, alternating baseline / current ``--repeats`` times on the same
networks, parameters and seed. Each child:

1. fits once with ``epochs=1`` (XLA compilation + one epoch: "first fit"),
2. fits again with ``epochs=--epochs`` (compiled programs are cached in the process, so this
   is the steady-state speed: networks x epochs per second, validation included),
3. predicts the held-out networks twice and times the second call (networks per second).

Both implementations train the same model on the same batches; the table also reports the
largest difference between their predictions. ``--xla-threads 1`` creates each child's XLA
client on one core (a one-thread intra-op pool, as the zoo workers do); the default keeps
XLA's pool (one thread per core).

Usage::

    python benchmarks/bench_nfn_speed.py --zoo DIR --n-train 2000 --epochs 3 --baseline REV
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def export_revision(revision: str, into: Path) -> Path:
    """``skweights`` of ``revision`` unpacked under ``into`` (a directory for PYTHONPATH)."""
    archive = into / "skweights.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), revision, "skweights"],
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def _one_xla_thread() -> None:
    """Create the XLA client while this process may run on one core only, then release it."""
    import jax

    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    jax.devices()
    for tid in map(int, os.listdir("/proc/self/task")):
        try:
            os.sched_setaffinity(tid, allowed)
        except OSError:
            pass


def child(args) -> dict:
    """Fit and predict with the ``skweights`` on ``sys.path``; the timings as a dict."""
    if args.xla_threads == "1":
        _one_xla_thread()
    import skweights
    from skweights.datasets import load_zoo, paper_split
    from skweights.models import NeuralFunctionalRegressor

    bunch = load_zoo(args.zoo, step="final")
    train, test = paper_split(len(bunch.target), n_train=args.n_train, random_state=args.seed)
    X, y = bunch.weights[train], bunch.target[train]
    params = dict(random_state=args.seed, patience=args.epochs + 1, **args.nfn_params)

    def fit(epochs):
        start = time.perf_counter()
        model = NeuralFunctionalRegressor(bunch.layout, epochs=epochs, **params).fit(X, y)
        return model, time.perf_counter() - start

    _, first = fit(1)
    model, steady = fit(args.epochs)
    model.predict(bunch.weights[test])
    start = time.perf_counter()
    pred = model.predict(bunch.weights[test])
    predict = time.perf_counter() - start
    return {
        "source": str(Path(skweights.__file__).parent),
        "first_fit": first,
        "fit": steady,
        "epochs": model.n_iter_,
        "fit_nets_epochs_per_s": len(train) * model.n_iter_ / steady,
        "predict_nets_per_s": len(test) / predict,
        "n_train": len(train),
        "n_test": len(test),
        "pred": pred.tolist(),
    }


def run_child(source: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", "--zoo", str(args.zoo)]
    cmd += ["--n-train", str(args.n_train), "--epochs", str(args.epochs), "--seed", str(args.seed)]
    cmd += ["--xla-threads", args.xla_threads, "--nfn-params", json.dumps(args.nfn_params)]
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def summary(runs: dict[str, list[dict]], args) -> str:
    best = {name: max(r, key=lambda r: r["fit_nets_epochs_per_s"]) for name, r in runs.items()}
    base, new = best["baseline"], best["current"]
    diff = np.max(np.abs(np.array(base["pred"]) - np.array(new["pred"])))
    lines = [
        f"zoo `{Path(args.zoo).name}`, {new['n_train']} training / {new['n_test']} predicted "
        f"networks, {args.epochs} epochs, NFN parameters {args.nfn_params or 'default'}, "
        f"XLA threads: {args.xla_threads}; {platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}; best of {args.repeats} alternating runs",
        "",
        "| implementation | first fit: compile + 1 epoch (s) | fit nets·epochs/s | "
        "predict nets/s |",
        "| --- | --- | --- | --- |",
    ]
    for name, label in (("baseline", f"baseline `{args.baseline}`"), ("current", "this checkout")):
        r = best[name]
        lines.append(
            f"| {label} | {r['first_fit']:.1f} | {r['fit_nets_epochs_per_s']:,.0f} | "
            f"{r['predict_nets_per_s']:,.0f} |"
        )
    fit_ratio = new["fit_nets_epochs_per_s"] / base["fit_nets_epochs_per_s"]
    predict_ratio = new["predict_nets_per_s"] / base["predict_nets_per_s"]
    minutes = 10_000 * 30 / new["fit_nets_epochs_per_s"] / 60
    lines += [
        "",
        f"speed-up (current / baseline): fit {fit_ratio:.2f}x, predict {predict_ratio:.2f}x; "
        f"largest prediction difference {diff:.2e}; 10,000 networks x 30 epochs at this "
        f"checkout's rate: {minutes:.1f} min",
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", type=Path, required=True, help="zoo directory")
    p.add_argument("--n-train", type=int, default=2000, help="training networks")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the timed fit")
    p.add_argument("--baseline", default="HEAD", help="git revision to compare against")
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each")
    p.add_argument("--xla-threads", choices=["default", "1"], default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nfn-params", type=json.loads, default={}, help="JSON dict of parameters")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for key in ("hidden_channels", "head_units"):
        if key in args.nfn_params:
            args.nfn_params[key] = tuple(args.nfn_params[key])
    if args.child:
        print(json.dumps(child(args)))
        return {}
    runs = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"baseline": export_revision(args.baseline, Path(tmp)), "current": ROOT}
        for repeat in range(args.repeats):
            for name in runs:
                runs[name].append(run_child(sources[name], args))
                r = runs[name][-1]
                print(
                    f"{name} run {repeat + 1}: {r['fit_nets_epochs_per_s']:,.0f} nets·epochs/s, "
                    f"predict {r['predict_nets_per_s']:,.0f} nets/s",
                    file=sys.stderr,
                    flush=True,
                )
    text = summary(runs, args)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return runs


if __name__ == "__main__":
    main()
