"""`generate_zoo`: resumable, locked, deterministic generation of a zoo (Small CNN Zoo format).

Three stages, each a function a reader can hold in their head:

1. **plan** (`plan_zoo`): validate the arguments, sample the hyperparameters, cut the networks
   into groups (`plan_groups`) and write down the manifest: everything a zoo's bytes depend on
   (its arguments and the `skweights.zoo._worker.environment`).
2. **dispatch** (`skweights.zoo._dispatch`): train the groups not yet finished, on local worker
   processes or on a dask cluster; each finished group comes back to this process and is written
   as a checksummed shard ``OUT/.shards/group-<g>-<sha>.npz`` (`skweights.zoo._store`).
3. **assemble** (`assemble_zoo`): rows ordered by run index then step, written with
   `skweights._format.write_zoo` as ``weights.npy``, ``metrics.csv.gz`` and ``layout.csv``.

The output directory is locked for the whole run; a killed generation restarted with the same
arguments continues where it stopped and gives the same bytes as an uninterrupted one, whatever
the number of workers, the pinning or the backend.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skweights.zoo._architecture import min_image_size, param_shapes
from skweights.zoo._dispatch import GroupTask, check_dispatch, dispatch
from skweights.zoo._hyperparameters import resolve_ranges, sample_hyperparameters
from skweights.zoo._store import ShardStore, check_output_dir


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


def remaining_text(cost_done: float, cost_left: float, seconds: float, cost_total: float) -> str:
    """Share of the zoo's work done and the time left, for the progress bar.

    ``cost_done`` is the work (`_group_cost`) this run finished in ``seconds``, ``cost_left``
    what remains, ``cost_total`` the whole zoo's (a resumed run started with less to do).
    Groups differ in cost (train fraction, activation) and the dearest go first, so counting
    networks would overestimate the time left; counting work does not.

    Examples
    --------
    >>> remaining_text(30.0, 70.0, 600.0, 100.0)
    '30% of the work, ~0:23:20 left'
    >>> remaining_text(10.0, 40.0, 60.0, 100.0)  # resumed at half the zoo
    '60% of the work, ~0:04:00 left'
    >>> remaining_text(0.0, 50.0, 5.0, 100.0)
    '50% of the work, ~? left'
    >>> remaining_text(99.6, 0.4, 60.0, 100.0)  # never "100%" before the last group
    '99% of the work, ~0:00:00 left'
    """
    share = 1.0 - cost_left / cost_total if cost_total > 0 else 1.0
    percent = f"{math.floor(100 * share + 1e-9)}%"  # 100% only when nothing is left
    if cost_done <= 0:
        return f"{percent} of the work, ~? left"
    left = datetime.timedelta(seconds=round(seconds * cost_left / cost_done))
    return f"{percent} of the work, ~{left} left"


@dataclass
class ZooPlan:
    """What a generation will produce, fixed by its arguments (stage 1)."""

    dataset: str
    epochs: int
    epochs_between_checkpoints: int
    n_layers: int
    n_units: int
    configs: list[dict]
    groups: list[list[int]]
    layout: Any
    n_params: int
    manifest: dict

    def tasks(self, groups: Sequence[int], data_home, batch_size: int) -> list[GroupTask]:
        """The group tasks of ``groups``, longest first (so that workers finish together)."""
        order = sorted(
            groups, key=lambda g: -_group_cost([self.configs[i] for i in self.groups[g]])
        )
        pad_to = max(len(g) for g in self.groups)
        return [
            GroupTask(
                group=g,
                configs=[self.configs[i] for i in self.groups[g]],
                dataset=self.dataset,
                data_home=None if data_home is None else str(data_home),
                epochs=self.epochs,
                checkpoints=list(self.manifest["checkpoints"]),
                batch_size=batch_size,
                pad_to=pad_to,
            )
            for g in order
        ]


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


def plan_zoo(
    dataset: str,
    n_networks: int,
    epochs: int,
    seed: int,
    group_size: int,
    checkpoints: Sequence[int] | None,
    epochs_between_checkpoints: int | None,
    n_layers: int,
    n_units: int,
    batch_size: int,
    hyperparameter_ranges: Mapping[str, Any] | None,
    data_home=None,
) -> ZooPlan:
    """Validate the arguments and plan the generation (no training, no files written)."""
    from skweights.zoo._architecture import cnn_layout
    from skweights.zoo._images import load_images
    from skweights.zoo._worker import environment

    for name, value, low in (
        ("n_networks", n_networks, 1),
        ("epochs", epochs, 1),
        ("group_size", group_size, 1),
        ("batch_size", batch_size, 1),
        ("n_layers", n_layers, 1),
        ("n_units", n_units, 1),
        ("seed", seed, 0),
    ):
        _check_int(name, value, low)
    if epochs_between_checkpoints is not None:
        _check_int("epochs_between_checkpoints", epochs_between_checkpoints, 1)
    for c in checkpoints if checkpoints is not None else ():
        if not isinstance(c, (int, np.integer)) or isinstance(c, bool):
            raise ValueError(f"checkpoints must be whole epochs (int), got {c!r} in {checkpoints}")
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
    images = load_images(dataset, data_home=data_home)
    side = min(images.x_train.shape[1:3])
    if side < min_image_size(n_layers):
        raise ValueError(
            f"{n_layers} conv layers need images of at least {min_image_size(n_layers)} pixels, "
            f"dataset {dataset!r} has {images.x_train.shape[1:3]}."
        )
    channels, n_classes = images.x_train.shape[-1], int(images.n_classes)
    shapes = param_shapes(n_layers, n_units, channels, n_classes)
    configs = sample_hyperparameters(n_networks, seed, ranges)
    for c in configs:
        c["num_layers"], c["num_units"] = n_layers, n_units
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
        "environment": environment(),
    }
    return ZooPlan(
        dataset=dataset,
        epochs=epochs,
        epochs_between_checkpoints=ebc,
        n_layers=n_layers,
        n_units=n_units,
        configs=configs,
        groups=plan_groups(configs, group_size),
        layout=cnn_layout(n_layers, n_units, channels, n_classes),
        n_params=sum(int(np.prod(s)) for _, s in shapes),
        manifest=json.loads(json.dumps(manifest)),
    )


def _differences(old: Mapping, new: Mapping) -> str:
    keys = sorted(set(old) | set(new))
    return "; ".join(
        f"{k}: {old.get(k, '(none)')!r} there, {new.get(k, '(none)')!r} now"
        for k in keys
        if old.get(k) != new.get(k)
    )


def _check_manifest(store: ShardStore, plan: ZooPlan) -> bool:
    """Compare the directory's manifest with the plan; True when a finished zoo is reusable.

    A finished zoo of an older generator version holds the same networks when the arguments
    are the same, and is reused as it is; unfinished shards of another version, another
    environment or other arguments are refused with what differs.
    """
    old, new = store.read_manifest(), plan.manifest
    if old is None:
        store.write_manifest(new)
        return False
    args = ("grouping", "environment")
    same_args = {k: v for k, v in old.items() if k not in args} == {
        k: v for k, v in new.items() if k not in args
    }
    if not same_args:
        raise ValueError(
            f"{store.out} holds shards of a different generation ("
            + _differences(
                {k: v for k, v in old.items() if k not in args},
                {k: v for k, v in new.items() if k not in args},
            )
            + "). "
            "Use another output directory or delete it."
        )
    older = old.get("grouping", 1) != GROUPING_VERSION or "environment" not in old
    if older:
        if store.zoo_complete():
            return True
        raise ValueError(
            f"{store.dir} holds unfinished shards of an older generator version (grouping "
            f"{old.get('grouping', 1)}, this version {GROUPING_VERSION}); they cannot be "
            f"completed. Delete {store.dir} to generate the zoo again."
        )
    if old["environment"] != new["environment"]:
        raise ValueError(
            f"the shards in {store.dir} were computed under another environment "
            f"({_differences(old['environment'], new['environment'])}); the networks would "
            f"differ. Resume under the same one, or delete {store.dir} to start again."
        )
    if not store.zoo_complete():
        return False
    shape = (plan.manifest["n_networks"] * len(plan.manifest["checkpoints"]), plan.n_params)
    problem = store.zoo_problem(shape)
    if problem is not None:
        warnings.warn(
            f"the finished zoo in {store.out} is damaged ({problem}); writing it again from "
            "its shards",
            RuntimeWarning,
            stacklevel=3,
        )
    return problem is None


def _check_environment(plan: ZooPlan, group: int, env: Mapping) -> None:
    expected = plan.manifest["environment"]
    if dict(env) != expected:
        from skweights.zoo._worker import EnvironmentMismatchError

        raise EnvironmentMismatchError(
            f"group {group} was trained under another environment than this zoo's "
            f"({_differences(expected, env)}); its networks would differ from the others'. "
            "Use workers with the same jax/jaxlib versions and CPU kind."
        )


def assemble_zoo(store: ShardStore, plan: ZooPlan) -> Path:
    """Stage 3: merge the verified shards into the zoo files (rows by run, then step)."""
    import pandas as pd

    from skweights._format import write_zoo

    weights, frames = [], []
    for g, members in enumerate(plan.groups):
        shard = store.read_shard(g, members)
        if shard is None:
            raise RuntimeError(f"shard of group {g} vanished or broke during the run; rerun")
        frame = pd.DataFrame(
            {
                k: shard[k]
                for k in ("step", "test_accuracy", "test_loss", "train_accuracy", "train_loss")
            }
        )
        frame.insert(0, "run", np.asarray(members)[shard["network"]])
        weights.append(shard["weights"])
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    order = np.lexsort((frame["step"].to_numpy(), frame["run"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    w = np.concatenate(weights)[order]
    if w.shape[1] != plan.n_params:
        raise RuntimeError(f"shards hold {w.shape[1]} parameters, expected {plan.n_params}")
    cfg = pd.DataFrame(plan.configs).iloc[frame["run"].to_numpy()].reset_index(drop=True)
    metrics = pd.DataFrame(
        {
            "config.activation": cfg["activation"],
            "config.b_init": cfg["b_init"],
            "config.dataset": plan.dataset,
            "config.dnn_architecture": "cnn",
            "config.dropout": cfg["dropout"],
            "config.epochs": plan.epochs,
            "config.epochs_between_checkpoints": plan.epochs_between_checkpoints,
            "config.init_std": cfg["init_std"],
            "config.l2reg": cfg["l2reg"],
            "config.learning_rate": cfg["learning_rate"],
            "config.num_layers": plan.n_layers,
            "config.num_units": plan.n_units,
            "config.optimizer": cfg["optimizer"],
            "config.random_seed": cfg["random_seed"],
            "config.train_fraction": cfg["train_fraction"],
            "config.w_init": cfg["w_init"],
            "modeldir": [f"{plan.dataset}/run-{r:06d}" for r in frame["run"]],
            "step": frame["step"].astype(int),
            "test_accuracy": frame["test_accuracy"],
            "test_loss": frame["test_loss"],
            "train_accuracy": frame["train_accuracy"],
            "train_loss": frame["train_loss"],
        }
    )
    return write_zoo(store.out, w, metrics, plan.layout)


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
    scheduler: Any = None,
) -> Path:
    """Train a zoo of CNNs and write it in the Small CNN Zoo format.

    Hyperparameters are sampled from paper A.2 (`sample_hyperparameters`), one seed per network.
    Networks are trained in vectorised groups (`group_size` at a time) in worker processes;
    each finished group is written atomically, with a checksum, to ``out/.shards/``. The
    guarantees (see the docs' "Guarantees" page):

    - **determined by its arguments**: the same arguments give the same bytes with any
      ``workers``, pinned or not, locally or on a dask cluster (on one kind of CPU, with one
      jax version; the manifest records both and a resume under others is refused);
    - **resumable**: a killed generation restarted with the same arguments continues where it
      stopped; a corrupt shard is reported and trained again;
    - **locked**: a second generation into the same ``out`` is refused, naming the first;
    - **never overwrites** zoo files it did not write (e.g. a downloaded Small CNN Zoo).

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
        Local worker processes (each runs one XLA thread); ignored with a dask scheduler.
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
    backend : {None, "loky", "dask"}, default=None
        Local worker processes (None, "loky") or a dask cluster ("dask": the ``scheduler``, or
        the current ``distributed.Client``).
    data_home : path-like or None, default=None
        Passed to `load_images` (on every worker).
    pin_workers : bool, default=True
        Pin each local worker to a core of its own when there is one per worker (19-27 %
        faster on 2 cores; the zoo is the same either way).
    scheduler : str, distributed.Client or None, default=None
        A dask scheduler address (``"tcp://HOST:8786"``) or client: train the groups on the
        cluster's workers. Results come back to this process, which writes them, so workers
        need no shared file system; a lost worker's group is rescheduled.

    Returns
    -------
    out : Path
        The zoo directory.

    Examples
    --------
    >>> import tempfile
    >>> path = generate_zoo(tempfile.mkdtemp(), n_networks=4, epochs=1, progress=False)
    >>> sorted(p.name for p in path.iterdir() if not p.name.startswith("."))
    ['layout.csv', 'metrics.csv.gz', 'weights.npy']
    """
    _check_int("workers", workers, 1)
    check_dispatch(backend, scheduler)
    out = check_output_dir(out)
    plan = plan_zoo(
        dataset, n_networks, epochs, seed, group_size, checkpoints,
        epochs_between_checkpoints, n_layers, n_units, batch_size, hyperparameter_ranges,
        data_home,
    )  # fmt: skip
    owner = {"dataset": dataset, "n_networks": n_networks, "epochs": epochs, "seed": seed}
    with ShardStore(out, owner) as store:
        if _check_manifest(store, plan):
            return out
        done = store.verify_shards(plan.groups)
        todo = [g for g in range(len(plan.groups)) if g not in done]
        _train_groups(store, plan, todo, workers, backend, scheduler, pin_workers, data_home,
                      batch_size, progress)  # fmt: skip
        return assemble_zoo(store, plan)


def _train_groups(store, plan, todo, workers, backend, scheduler, pin, data_home, batch_size,
                  progress) -> None:  # fmt: skip
    """Stage 2: train the unfinished groups and write each one's shard as it comes back."""
    bar = None
    cost = [_group_cost([plan.configs[i] for i in members]) for members in plan.groups]
    left, done_now, start = sum(cost[g] for g in todo), 0.0, time.monotonic()
    if progress:
        from tqdm.auto import tqdm

        n = plan.manifest["n_networks"]
        bar = tqdm(
            total=n,
            initial=n - sum(len(plan.groups[g]) for g in todo),
            unit="net",
            desc=f"zoo {plan.dataset}",
            # tqdm's own estimate assumes equal networks; the dearest groups go first
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]",
            # one update per finished group: draw each (tqdm's 0.1 s default drops a group that
            # finishes right after another, and its share of the work with it)
            mininterval=0,
        )
    try:
        tasks = plan.tasks(todo, data_home, batch_size)
        for group, result, env in dispatch(tasks, workers, backend, scheduler, pin):
            _check_environment(plan, group, env)
            runs = np.asarray(plan.groups[group])
            store.write_shard(group, {**result, "group": np.asarray(group), "runs": runs})
            done_now, left = done_now + cost[group], left - cost[group]
            if bar is not None:
                seconds = time.monotonic() - start
                text = remaining_text(done_now, left, seconds, sum(cost))
                bar.set_postfix_str(text, refresh=False)  # drawn with the new count
                bar.update(len(plan.groups[group]))
    finally:
        if bar is not None:
            bar.close()
