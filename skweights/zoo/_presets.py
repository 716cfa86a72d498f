"""Named training schedules for `generate_zoo`: the paper's and the released zoo's.

A schedule is the ``epochs`` and ``checkpoints`` arguments of `generate_zoo`. The paper trains
for 18 epochs; the released Small CNN Zoo (and thereby every loader written for it, such as
NFN's ``ZooDataset``, which keeps only rows with ``step == 86``) has 86 epochs and checkpoints
0, 1, 2, 3, 20, 40, 60, 80, 86.
"""

from __future__ import annotations

from typing import Any

from skweights.zoo._generate import default_checkpoints

__all__ = ["RELEASED_SCHEDULE", "SCHEDULE_PRESETS", "schedule_preset"]

#: The released Small CNN Zoo's schedule: 86 epochs, a checkpoint every 20 epochs after 0-3.
RELEASED_SCHEDULE: dict[str, Any] = {
    "epochs": 86,
    "checkpoints": tuple(default_checkpoints(86, 20)),
}

#: Schedules by name: ``"paper"`` (18 epochs, `default_checkpoints(18)`) and ``"released"``.
SCHEDULE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"epochs": 18, "checkpoints": tuple(default_checkpoints(18))},
    "released": RELEASED_SCHEDULE,
}


def schedule_preset(name: str) -> dict[str, Any]:
    """The ``epochs`` and ``checkpoints`` arguments of `generate_zoo` for a named schedule.

    Parameters
    ----------
    name : {"paper", "released"}
        ``"released"`` reproduces the released Small CNN Zoo (86 epochs), so that code written
        for it (NFN's loader keeps ``step == 86``) runs unchanged on the generated zoo.

    Returns
    -------
    dict
        ``{"epochs": int, "checkpoints": list of int}``, to pass as ``**kwargs``.

    Examples
    --------
    >>> schedule_preset("released")
    {'epochs': 86, 'checkpoints': [0, 1, 2, 3, 20, 40, 60, 80, 86]}
    >>> from skweights.zoo import generate_zoo
    >>> generate_zoo("zoo-released", **schedule_preset("released"))  # doctest: +SKIP
    """
    if name not in SCHEDULE_PRESETS:
        raise ValueError(
            f"unknown schedule preset {name!r}; expected one of {sorted(SCHEDULE_PRESETS)}"
        )
    preset = SCHEDULE_PRESETS[name]
    return {"epochs": preset["epochs"], "checkpoints": list(preset["checkpoints"])}
