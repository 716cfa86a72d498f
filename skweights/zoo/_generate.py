"""`generate_zoo`: resumable, sharded, parallel generation of a zoo in the Small CNN Zoo format.

The run set is fully determined by ``(dataset, n_networks, seed, ranges, architecture, epochs,
checkpoints, batch_size, group_size)``. Networks are sorted by ``(activation, train_fraction)``
(one compiled program per activation; neighbours take the same number of steps) and cut into
groups of near-equal size; each group is
trained by `train_group` and written atomically as a shard ``OUT/.shards/group-XXXXX.npz``.
Existing shards are skipped on restart. At the end the shards are assembled, rows ordered by run
index then step, into ``weights.npy``, ``metrics.csv.gz`` and ``layout.csv`` with
`skweights._format.write_zoo`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skweights.zoo._architecture import min_image_size, param_shapes
from skweights.zoo._hyperparameters import resolve_ranges, sample_hyperparameters

SHARD_DIR = ".shards"
MANIFEST = "manifest.json"


def default_checkpoints(epochs: int, epochs_between_checkpoints: int | None = None) -> list[int]:
    """Checkpoint epochs of the released code: 0, 1, 2, 3, every k-th epoch, and the last.

    ``k`` defaults to the released ratio (20 of 86 epochs), rounded, at least 1.

    Examples
    --------
    >>> default_checkpoints(86, 20)
    [0, 1, 2, 3, 20, 40, 60, 80, 86]
    >>> default_checkpoints(18)
    [0, 1, 2, 3, 4, 8, 12, 16, 18]
    """
    k = epochs_between_checkpoints or default_epochs_between_checkpoints(epochs)
    return sorted({e for e in range(epochs) if e < 4 or e % k == 0} | {epochs})


def default_epochs_between_checkpoints(epochs: int) -> int:
    return max(1, round(epochs * 20 / 86))


#: Version of the grouping rule (`plan_groups`), stored in the shard manifest: shards of another
#: rule hold other networks and must not be reused.
GROUPING_VERSION = 3


def plan_groups(configs: Sequence[Mapping[str, Any]], group_size: int) -> list[list[int]]:
    """Deterministic groups of one activation each, sorted by (activation, train_fraction, index).

    A group shares a compiled program that computes only its activation. The trainer runs a
    group a few networks at a time, each chunk only for as many steps as its networks take, so
    sorting by fraction makes chunks of equal step counts. The networks of each activation are
    cut into ``ceil(n_activation / group_size)`` groups whose sizes differ by at most one.

    Examples
    --------
    >>> cfg = [{"train_fraction": f, "activation": "relu"} for f in (1.0, 0.1, 1.0)]
    >>> plan_groups(cfg, 2)
    [[1, 0], [2]]
    >>> plan_groups([{"train_fraction": 0.1, "activation": "tanh"}] + cfg, 2)
    [[2, 1], [3], [0]]
    """
    n = len(configs)
    order = sorted(
        range(n),
        key=lambda i: (
            str(configs[i].get("activation", "")),
            float(configs[i]["train_fraction"]),
            i,
        ),
    )
    groups = []
    start = 0
    while start < n:
        act = str(configs[order[start]].get("activation", ""))
        stop = start
        while stop < n and str(configs[order[stop]].get("activation", "")) == act:
            stop += 1
        run = order[start:stop]
        n_groups = -(-len(run) // group_size)
        sizes = [len(run) // n_groups + (g < len(run) % n_groups) for g in range(n_groups)]
        bounds = np.cumsum([0] + sizes)
        groups += [run[bounds[g] : bounds[g + 1]] for g in range(n_groups)]
        start = stop
    return groups


def _group_cost(configs) -> float:
    """Relative training time of a group: steps (train fraction) plus evaluation, per network."""
    return sum(
        (float(c["train_fraction"]) + 0.3) * (1.2 if c.get("activation") == "tanh" else 1.0)
        for c in configs
    )


def _images(dataset: str, data_home):
    from skweights.zoo._images import load_images

    return load_images(dataset, data_home=data_home)


def _limit_threads():
    """Eigen single-threaded in worker processes (each worker is also pinned to a core of its
    own, `_pin_worker`)."""
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        ).strip()


def _pinning_cores(workers: int, backend) -> list[int] | None:
    """The cores to pin local worker processes to (one each), or None (no pinning).

    Two unpinned workers on 2 cores were 19-27 % slower than two pinned ones: XLA spreads each
    program over both cores, so the workers' threads keep displacing each other. Pinning
    applies to local loky workers only, and only when every worker gets a core of its own.
    """
    if workers < 2 or not hasattr(os, "sched_setaffinity") or backend not in (None, "loky"):
        return None
    if backend is None:
        from joblib._parallel_backends import LokyBackend
        from joblib.parallel import get_active_backend

        if not isinstance(get_active_backend()[0], LokyBackend):
            return None
    cores = sorted(os.sched_getaffinity(0))
    return cores if workers <= len(cores) else None


def _claim_core(pin_dir: str, cores: Sequence[int]) -> int | None:
    """Claim a free core: the first ``core-<i>`` token file this process creates in
    ``pin_dir`` (atomic O_EXCL, so two workers never get the same core). None when all are
    taken or ``pin_dir`` does not exist here (a worker on another machine)."""
    for core in cores:
        try:
            fd = os.open(
                os.path.join(pin_dir, f"core-{core}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY
            )
        except FileExistsError:
            continue
        except OSError:
            return None
        os.close(fd)
        return core
    return None


_pinned_for: str | None = None  # the pin_dir this worker process claimed its core in


def _pin_worker(pin_dir: str, cores: Sequence[int]) -> None:
    """Pin this worker process to a core of its own for the generation using ``pin_dir``.

    Runs before JAX is imported in a fresh worker, so XLA sizes its thread pool to that core.
    A worker reused from an earlier generation claims a core again for this one.
    """
    global _pinned_for
    if _pinned_for == pin_dir:
        return
    core = _claim_core(pin_dir, cores)
    if core is not None:
        os.sched_setaffinity(0, {core})
        _pinned_for = pin_dir


def _train_shard(
    shard: str,
    configs,
    dataset,
    data_home,
    epochs,
    checkpoints,
    batch_size,
    single_thread,
    pad_to,
    pin=None,
):
    if pin is not None:
        _pin_worker(*pin)
    if single_thread:
        _limit_threads()
    from skweights.zoo._trainer import train_group

    images = _images(dataset, data_home)
    result = train_group(configs, images, epochs, checkpoints, batch_size, pad_to=pad_to)
    shard = Path(shard)
    fd, tmp = tempfile.mkstemp(dir=shard.parent, prefix=shard.name, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **result)
        os.replace(tmp, shard)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return len(configs)


def generate_zoo(
    out: str | os.PathLike,
    dataset: str = "digits",
    n_networks: int = 200,
    epochs: int = 18,
    seed: int = 0,
    workers: int = 1,
    group_size: int = 64,
    checkpoints: Sequence[int] | None = None,
    epochs_between_checkpoints: int | None = None,
    n_layers: int = 3,
    n_units: int = 16,
    batch_size: int = 128,
    hyperparameter_ranges: Mapping[str, Any] | None = None,
    progress: bool = True,
    backend: str | None = None,
    data_home: str | os.PathLike | None = None,
    pin_workers: bool = True,
) -> Path:
    """Train a zoo of CNNs and write it in the Small CNN Zoo format.

    Hyperparameters are sampled from paper A.2 (`sample_hyperparameters`), one seed per network.
    Networks are trained in vectorised groups (`group_size` at a time), each finished group is
    written atomically to ``out/.shards/``; a killed generation restarted with the same arguments
    continues where it stopped and gives the same files as an uninterrupted one.

    Parameters
    ----------
    out : path-like
        Output directory (``weights.npy``, ``metrics.csv.gz``, ``layout.csv``).
    dataset : str, default="digits"
        Name understood by `skweights.zoo._images.load_images` ("digits", "mnist_5k", ...).
    n_networks : int, default=200
    epochs : int, default=18
        Training epochs (the paper: 18; the released zoo: 86).
    seed : int, default=0
        Seed of the hyperparameter sample (and thereby of everything).
    workers : int, default=1
        Parallel joblib jobs. Each worker runs single-threaded XLA when ``workers > 1``; local
        loky workers are pinned to a core each when there are enough cores.
    group_size : int, default=64
        Networks trained at once (memory grows linearly, ~20 MB per network on digits).
    checkpoints : sequence of int or None, default=None
        Epochs recorded; None: `default_checkpoints(epochs, epochs_between_checkpoints)`.
    epochs_between_checkpoints : int or None, default=None
        None: ``round(epochs * 20 / 86)`` (the released ratio), at least 1.
    n_layers, n_units : int, default=3, 16
        Architecture (a different one gets its own layout).
    batch_size : int, default=128
        Mini-batch size; a network uses ``min(batch_size, size of its training subset)`` and
        drops the last partial batch (the released code: 512 on 60k images; 128 suits the
        ~1200 digits training images).
    hyperparameter_ranges : mapping or None, default=None
        Overrides of `skweights.zoo.HYPERPARAMETER_RANGES`.
    progress : bool, default=True
        Show a tqdm progress bar of networks trained.
    backend : str or None, default=None
        joblib backend ("loky", "threading", "dask", ...); None: joblib's default (or the one
        active in a ``joblib.parallel_config`` context).
    data_home : path-like or None, default=None
        Passed to `load_images`.
    pin_workers : bool, default=True
        Pin each local loky worker to a core of its own when there is one per worker (19-27 %
        faster per network on 2 cores); False lets the OS and XLA place the workers' threads,
        e.g. on a machine shared with other jobs.

    Returns
    -------
    out : Path
        The zoo directory.

    Examples
    --------
    >>> import tempfile
    >>> from skweights.datasets import load_zoo  # doctest: +SKIP
    >>> path = generate_zoo(tempfile.mkdtemp(), n_networks=4, epochs=1, progress=False)
    >>> sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    ['layout.csv', 'metrics.csv.gz', 'weights.npy']
    """
    import joblib
    import pandas as pd

    from skweights._format import LAYOUT_FILE, METRICS_FILE, WEIGHTS_FILE, write_zoo
    from skweights.zoo._architecture import cnn_layout

    for name, value, low in (
        ("n_networks", n_networks, 1),
        ("epochs", epochs, 1),
        ("workers", workers, 1),
        ("group_size", group_size, 1),
        ("batch_size", batch_size, 1),
        ("n_layers", n_layers, 1),
        ("n_units", n_units, 1),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    ebc = epochs_between_checkpoints or default_epochs_between_checkpoints(epochs)
    ckpts = sorted(
        {
            int(c)
            for c in (checkpoints if checkpoints is not None else default_checkpoints(epochs, ebc))
        }
    )
    if not ckpts or ckpts[0] < 0 or ckpts[-1] > epochs:
        raise ValueError(f"checkpoints must be epochs in [0, {epochs}], got {ckpts}.")
    ranges = resolve_ranges(hyperparameter_ranges)
    images = _images(dataset, data_home)
    side = min(images.x_train.shape[1:3])
    if side < min_image_size(n_layers):
        raise ValueError(
            f"{n_layers} conv layers need images of at least {min_image_size(n_layers)} pixels, "
            f"dataset {dataset!r} has {images.x_train.shape[1:3]}."
        )
    shapes = param_shapes(n_layers, n_units, images.x_train.shape[-1], int(images.n_classes))
    layout = cnn_layout(n_layers, n_units, images.x_train.shape[-1], int(images.n_classes))
    del images

    configs = sample_hyperparameters(n_networks, seed, ranges)
    for c in configs:
        c["num_layers"], c["num_units"] = n_layers, n_units
    groups = plan_groups(configs, group_size)

    out = Path(out)
    shard_dir = out / SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "dataset": dataset,
        "n_networks": n_networks,
        "epochs": epochs,
        "seed": seed,
        "group_size": group_size,
        "checkpoints": ckpts,
        "n_layers": n_layers,
        "n_units": n_units,
        "batch_size": batch_size,
        "grouping": GROUPING_VERSION,
        "ranges": {k: list(v) for k, v in ranges.items()},
    }
    mpath = shard_dir / MANIFEST
    if mpath.exists():
        old = json.loads(mpath.read_text())
        new = json.loads(json.dumps(manifest))
        same_runs = {k: v for k, v in old.items() if k != "grouping"} == {
            k: v for k, v in new.items() if k != "grouping"
        }
        if same_runs and old.get("grouping", 1) != GROUPING_VERSION:
            # an older version of the generator cut the same runs into other groups: its
            # finished zoo holds the same networks, its unfinished shards cannot be completed
            if all((out / f).exists() for f in (WEIGHTS_FILE, METRICS_FILE, LAYOUT_FILE)):
                return out
            raise ValueError(
                f"{shard_dir} holds unfinished shards of an older generator version (grouping "
                f"{old.get('grouping', 1)}, this version {GROUPING_VERSION}); they cannot be "
                f"completed. Delete {shard_dir} to generate the zoo again."
            )
        if old != new:
            raise ValueError(
                f"{out} holds shards of a different generation ({old}); expected {manifest}. "
                "Use another output directory or delete it."
            )
    else:
        from skweights._format import atomic_write_text

        atomic_write_text(mpath, json.dumps(manifest, indent=1))

    shard_paths = [shard_dir / f"group-{g:05d}.npz" for g in range(len(groups))]
    todo = [g for g in range(len(groups)) if not shard_paths[g].exists()]
    # longest groups first (training steps grow with the train fraction, tanh costs more), so
    # that the workers finish together; the shards and the zoo do not depend on this order
    todo.sort(key=lambda g: -_group_cost([configs[i] for i in groups[g]]))
    single = workers > 1
    cores = _pinning_cores(workers, backend) if (todo and pin_workers) else None
    pin_dir = tempfile.mkdtemp(prefix="skweights-cores-") if cores else None
    tasks = (
        joblib.delayed(_train_shard)(
            str(shard_paths[g]),
            [configs[i] for i in groups[g]],
            dataset,
            None if data_home is None else str(data_home),
            epochs,
            ckpts,
            batch_size,
            single,
            max(len(g) for g in groups),
            None if pin_dir is None else (pin_dir, cores),
        )
        for g in todo
    )
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=n_networks,
            initial=n_networks - sum(len(groups[g]) for g in todo),
            unit="net",
            desc=f"zoo {dataset}",
        )
    try:
        if todo:
            kw = {"n_jobs": workers, "return_as": "generator_unordered"}
            if backend is not None:
                kw["backend"] = backend
            for done in joblib.Parallel(**kw)(tasks):
                if bar is not None:
                    bar.update(done)
    finally:
        if bar is not None:
            bar.close()
        if pin_dir is not None:
            shutil.rmtree(pin_dir, ignore_errors=True)

    # assemble: rows by run index then step
    weights, frames = [], []
    for g, members in enumerate(groups):
        with np.load(shard_paths[g], allow_pickle=False) as z:
            shard = {k: z[k] for k in z.files}
        run = np.asarray(members)[shard["network"]]
        frame = pd.DataFrame(
            {
                k: shard[k]
                for k in ("step", "test_accuracy", "test_loss", "train_accuracy", "train_loss")
            }
        )
        frame.insert(0, "run", run)
        weights.append(shard["weights"])
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    w = np.concatenate(weights)
    order = np.lexsort((frame["step"].to_numpy(), frame["run"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    w = w[order]
    cfg = pd.DataFrame(configs).iloc[frame["run"].to_numpy()].reset_index(drop=True)
    metrics = pd.DataFrame(
        {
            "config.activation": cfg["activation"],
            "config.b_init": cfg["b_init"],
            "config.dataset": dataset,
            "config.dnn_architecture": "cnn",
            "config.dropout": cfg["dropout"],
            "config.epochs": epochs,
            "config.epochs_between_checkpoints": ebc,
            "config.init_std": cfg["init_std"],
            "config.l2reg": cfg["l2reg"],
            "config.learning_rate": cfg["learning_rate"],
            "config.num_layers": n_layers,
            "config.num_units": n_units,
            "config.optimizer": cfg["optimizer"],
            "config.random_seed": cfg["random_seed"],
            "config.train_fraction": cfg["train_fraction"],
            "config.w_init": cfg["w_init"],
            "modeldir": [f"{dataset}/run-{r:06d}" for r in frame["run"]],
            "step": frame["step"].astype(int),
            "test_accuracy": frame["test_accuracy"],
            "test_loss": frame["test_loss"],
            "train_accuracy": frame["train_accuracy"],
            "train_loss": frame["train_loss"],
        }
    )
    assert w.shape[1] == sum(int(np.prod(s)) for _, s in shapes)
    return write_zoo(out, w, metrics, layout)
