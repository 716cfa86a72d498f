"""Named tensors (``.safetensors``, ``.npz``, a dict) flattened into a `Layout`'s columns.

Two naming conventions are understood:

- **ours**: every name is a layout entry's name or short name (``sequential/conv2d/kernel:0``
  or ``conv2d/kernel``), tensors in our storage order (conv kernels HWIO, dense ``(in, out)``);
- **PyTorch** (a ``state_dict``): names ``<module>.weight`` / ``<module>.bias``. Modules are
  taken in natural order of their names (``features.2`` before ``features.10``) and matched one
  by one with the layout's layers (each layer takes the first module whose weight has the rank
  of its kernel: 4-D conv, 2-D linear, so ``classifier`` after ``features.6`` is the dense
  layer); conv kernels are converted from OIHW to HWIO and linear weights from ``(out, in)`` to
  ``(in, out)``.

``.safetensors`` files are read with ``safetensors.numpy`` (no torch needed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

_PYTORCH_KIND = {"weight": "kernel", "bias": "bias"}


def read_tensors(path) -> dict[str, np.ndarray]:
    """The named tensors of a ``.safetensors`` or ``.npz`` file (never unpickled)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own SafetensorError
            raise ValueError(
                f"{path} is not a readable safetensors file ({exc}); expected tensors written "
                "by safetensors' save_file"
            ) from None
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}; expected an .npz of numeric tensors") from None
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path} is not a readable .npz archive ({exc})") from None
    raise ValueError(f"cannot read tensors from {path}: expected a .safetensors or .npz file")


def _natural_key(name: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _pytorch_to_ours(value: np.ndarray) -> np.ndarray:
    if value.ndim == 4:  # conv kernel OIHW -> HWIO
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:  # linear weight (out, in) -> (in, out)
        return value.T
    return value


def _ours_to_pytorch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    if len(shape) == 2:
        return (shape[1], shape[0])
    return shape


def _match_ours(layout, tensors: Mapping[str, np.ndarray]):
    pairs = []
    for e in layout:
        name = e.name if e.name in tensors else e.short_name
        pairs.append((e, name, np.asarray(tensors[name])))
    return pairs


def _assign_modules(layout, tensors, modules: dict[str, dict[str, str]]) -> list[str]:
    """Modules for the layout's layers, in order: the first (in natural name order) module
    whose weight has the rank of the layer's kernel (4: conv, 2: linear), so that ``fc`` after
    ``features.conv3`` or ``classifier`` after ``features.6`` land in the dense layer."""
    free = list(modules)
    order = []
    for layer in layout.layers:
        kernel = [e for e in layout.groups()[layer] if e.kind == "kernel"]
        rank = len(kernel[0].shape) if kernel else None
        pick = next(
            (
                m
                for m in free
                if rank is None
                or "kernel" not in modules[m]
                or np.ndim(tensors[modules[m]["kernel"]]) == rank
            ),
            free[0],
        )
        free.remove(pick)
        order.append(pick)
    return order


def _match_pytorch(layout, tensors: Mapping[str, np.ndarray], source: str):
    modules: dict[str, dict[str, str]] = {}
    for name in sorted(tensors, key=_natural_key):
        module, _, kind = name.rpartition(".")
        if kind not in _PYTORCH_KIND or not module:
            raise ValueError(
                f"{source}: tensor {name!r} is not a layout entry nor a PyTorch "
                "'<module>.weight' / '<module>.bias'; expected tensors of the layers "
                f"{layout.layers}"
            )
        modules.setdefault(module, {})[_PYTORCH_KIND[kind]] = name
    layers = layout.layers
    if len(modules) != len(layers):
        raise ValueError(
            f"{source} has {len(modules)} modules with weights ({list(modules)}) but the layout "
            f"has {len(layers)} layers ({layers})"
        )
    order = _assign_modules(layout, tensors, modules)
    pairs = []
    for layer, module in zip(layers, order):
        kinds = modules[module]
        for e in layout.groups()[layer]:
            if e.kind not in kinds:
                raise ValueError(
                    f"{source}: module {module!r} has no {e.kind} tensor "
                    f"('{module}.{'weight' if e.kind == 'kernel' else e.kind}'); the layout "
                    f"expects {e.short_name} of shape {e.shape}"
                )
            name = kinds.pop(e.kind)
            value = np.asarray(tensors[name])
            expected = _ours_to_pytorch_shape(e.shape)
            if value.shape != expected:
                raise ValueError(
                    f"{source}: tensor {name!r} has shape {value.shape} but {e.short_name} "
                    f"expects {expected} in PyTorch layout ({e.shape} in ours)"
                )
            pairs.append((e, name, _pytorch_to_ours(value)))
        if kinds:
            extra = next(iter(kinds.values()))
            raise ValueError(f"{source}: tensor {extra!r} has no place in layer {layer!r}")
    return pairs


def flatten_tensors(layout, tensors: Mapping[str, np.ndarray], source: str = "tensors"):
    """1-D float32 weights in ``layout``'s column order from named tensors (see module doc).

    Raises
    ------
    ValueError
        Naming the first tensor that does not fit (name, expected shape vs got).
    """
    if not isinstance(tensors, Mapping) or not tensors:
        raise ValueError(f"{source} holds no tensors; expected named tensors of {layout.layers}")
    known = {e.name for e in layout} | {e.short_name for e in layout}
    if set(tensors) <= known:
        covered = {e.name for e in layout if e.name in tensors or e.short_name in tensors}
        missing = [e.short_name for e in layout if e.name not in covered]
        if missing:
            shape = layout[missing[0]].shape
            raise ValueError(f"{source} has no tensor {missing[0]!r} (expected shape {shape})")
        pairs = _match_ours(layout, tensors)
    else:
        pairs = _match_pytorch(layout, tensors, source)
    out = np.empty(layout.n_params, dtype=np.float32)
    for e, name, value in pairs:
        if value.shape != e.shape:
            raise ValueError(
                f"{source}: tensor {name!r} has shape {value.shape} but {e.short_name} "
                f"expects {e.shape}"
            )
        if not np.issubdtype(value.dtype, np.number) or np.iscomplexobj(value):
            raise ValueError(f"{source}: tensor {name!r} has dtype {value.dtype}; expected floats")
        out[e.slice] = np.asarray(value, dtype=np.float32).ravel(order="C")
    return out
