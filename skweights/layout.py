"""Where each tensor of a network lives in a flattened weight vector.

A :class:`Layout` is an immutable sequence of :class:`LayoutEntry` objects, one per tensor, in
column order. It is the contract between a zoo's ``weights.npy`` (one flattened network per row)
and everything that interprets its columns: the feature transformers in :mod:`skweights.features`,
the zoo generator and the command line (which flattens a user's Keras model with
:meth:`Layout.flatten_keras`).

Naming follows the released Small CNN Zoo: ``sequential/conv2d_1/kernel:0`` is the tensor of kind
``kernel`` in layer ``conv2d_1``; its ``short_name`` is ``conv2d_1/kernel``.
"""

from __future__ import annotations

import ast
import codecs
import csv
import io
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from numbers import Integral, Real
from typing import Any

import numpy as np

__all__ = ["Layout", "LayoutEntry"]

#: Column names of ``layout.csv`` in the released Small CNN Zoo.
CSV_COLUMNS = ("varname", "start_idx", "end_idx", "shape")

_SUFFIX = re.compile(r":\d+$")


@dataclass(frozen=True)
class LayoutEntry:
    """One tensor of a flattened network: columns ``start:stop`` hold a tensor of ``shape``.

    Parameters
    ----------
    name : str
        Full variable name, e.g. ``"sequential/conv2d_1/kernel:0"``.
    start, stop : int
        Half-open column range of the tensor in the flattened vector.
    shape : tuple of int
        Shape of the tensor; its elements are stored in C order (for Keras kernels: HWIO).

    Examples
    --------
    >>> e = LayoutEntry("sequential/conv2d_1/kernel:0", 176, 2480, (3, 3, 16, 16))
    >>> e.layer, e.kind, e.short_name, e.size
    ('conv2d_1', 'kernel', 'conv2d_1/kernel', 2304)
    """

    name: str
    start: int
    stop: int
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        label = f"layout entry {self.name!r}"
        object.__setattr__(self, "start", _as_index(self.start, f"{label} start"))
        object.__setattr__(self, "stop", _as_index(self.stop, f"{label} stop"))
        object.__setattr__(self, "shape", _as_shape(self.shape, label))

    @property
    def size(self) -> int:
        """Number of parameters (``stop - start``)."""
        return self.stop - self.start

    @property
    def _parts(self) -> list[str]:
        return _SUFFIX.sub("", self.name).split("/")

    @property
    def kind(self) -> str:
        """Last path component without the ``:0`` suffix (``"kernel"``, ``"bias"``, ...)."""
        return self._parts[-1]

    @property
    def layer(self) -> str:
        """Path component before the kind; a name without ``/`` is its own layer."""
        parts = self._parts
        return parts[-2] if len(parts) > 1 else parts[-1]

    @property
    def short_name(self) -> str:
        """``f"{layer}/{kind}"``, or just the name (without suffix) if it has no ``/``."""
        parts = self._parts
        return "/".join(parts[-2:])

    @property
    def slice(self) -> slice:
        """``slice(start, stop)``, to index the tensor's columns."""
        return slice(self.start, self.stop)


def _as_index(value: Any, what: str) -> int:
    """``value`` as a non-negative int; floats only when whole (4.0, never 4.7), no bools."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if isinstance(value, Integral):
        number = int(value)
    elif isinstance(value, Real) and float(value).is_integer():
        number = int(value)
    else:
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if number < 0:
        raise ValueError(f"{what} must be >= 0, got {number}")
    return number


def _as_shape(shape: Any, what: str) -> tuple[int, ...]:
    """``shape`` as a tuple of dimensions >= 0: a sequence of ints, or one int for ``(n,)``.

    A string is refused (``"22"`` is not ``(2, 2)``); parse a written shape with
    :func:`_parse_shape`.
    """
    if isinstance(shape, Integral) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise ValueError(f"{what} shape must be a tuple of ints such as (3, 3), got {shape!r}")
    return tuple(_as_index(d, f"{what} shape {tuple(shape)!r} dimension") for d in shape)


def _decode_text(data: bytes, source: str) -> str:
    """Text of UTF-8 (with or without a byte order mark) or UTF-16 with one; else name the file."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise ValueError(
            f"{source} holds NUL bytes; expected UTF-8 text (UTF-16 needs a byte order mark)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source} is not UTF-8 text ({exc}); save it as UTF-8") from None


def _format_shape(shape: tuple[int, ...]) -> str:
    return repr(tuple(shape))


def _parse_shape(text: str, where: str) -> tuple[int, ...]:
    s = text.strip().strip("\"'").strip()
    try:
        value = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        value = None
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise ValueError(f"{where}: shape must look like '(3, 3, 1, 16)', got {text!r}")
    return tuple(value)


class Layout(Sequence):
    """Immutable column layout of flattened network weights: tensors in column order.

    Parameters
    ----------
    entries : iterable of LayoutEntry or of (name, start, stop, shape) tuples
        Tensors in column order. They must be non-empty, start at column 0, be contiguous (no gaps
        or overlaps), have ``stop - start == prod(shape)`` and unique names and short names.

    Attributes
    ----------
    entries : tuple of LayoutEntry
    n_params : int
        Total number of columns.
    layers : list of str
        Layer names in order of first appearance.

    See Also
    --------
    skweights.features.LayerStatistics : per-tensor statistics computed through a layout.

    Examples
    --------
    >>> layout = Layout.small_cnn_zoo()
    >>> layout.n_params, len(layout), layout.layers
    (4970, 8, ['conv2d', 'conv2d_1', 'conv2d_2', 'dense'])
    >>> layout["dense/kernel"].shape
    (16, 10)
    >>> layout.columns(layers=["dense"], kinds=["bias"])
    array([4800, 4801, 4802, 4803, 4804, 4805, 4806, 4807, 4808, 4809])
    >>> Layout.from_shapes([("net/fc/kernel:0", (3, 2)), ("net/fc/bias:0", (2,))]).n_params
    8
    """

    __slots__ = ("_entries", "_by_name")

    def __init__(self, entries: Iterable[LayoutEntry | tuple], *, _source: str = "layout") -> None:
        items = tuple(e if isinstance(e, LayoutEntry) else LayoutEntry(*e) for e in entries)
        _validate(items, _source)
        object.__setattr__(self, "_entries", items)
        by_name: dict[str, LayoutEntry] = {}
        for e in items:
            by_name[e.name] = e
            by_name[e.short_name] = e
        object.__setattr__(self, "_by_name", by_name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Layout is immutable; use select() or the constructors for a new one")

    def __reduce__(self):
        return (Layout, (self._entries,))

    def __copy__(self) -> Layout:
        return self

    def __deepcopy__(self, memo: dict) -> Layout:
        return self

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_shapes(cls, shapes: Iterable[tuple[str, Sequence[int]]]) -> Layout:
        """Lay out tensors ``[(name, shape), ...]`` contiguously from column 0."""
        entries, start = [], 0
        for name, shape in shapes:
            shape = _as_shape(shape, f"layout entry {name!r}")
            stop = start + math.prod(shape)
            entries.append(LayoutEntry(name, start, stop, shape))
            start = stop
        return cls(entries)

    @classmethod
    def from_csv(cls, path_or_buffer: str | os.PathLike | io.TextIOBase) -> Layout:
        """Read a zoo's ``layout.csv`` (columns ``varname,start_idx,end_idx,shape``).

        The shape may be quoted (``"(16,)"``) or not (``(16,)`` split over several fields).
        """
        if hasattr(path_or_buffer, "read"):
            text = path_or_buffer.read()
            source = str(getattr(path_or_buffer, "name", "layout.csv"))
        else:
            with open(path_or_buffer, "rb") as f:
                text = f.read()
            source = str(path_or_buffer)
        if isinstance(text, bytes):
            text = _decode_text(text, source)
        text = text.removeprefix("\ufeff")
        source = os.path.basename(source) or "layout.csv"
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
        if not rows:
            raise ValueError(f"{source} is empty; expected a header {','.join(CSV_COLUMNS)}")
        header = [c.strip() for c in rows[0]]
        if header != list(CSV_COLUMNS):
            raise ValueError(
                f"{source} has columns {header} but expected columns {list(CSV_COLUMNS)}"
            )
        entries = []
        for lineno, row in enumerate(rows[1:], start=2):
            where = f"{source} line {lineno}"
            if len(row) < 4:
                raise ValueError(f"{where}: expected 4 fields {list(CSV_COLUMNS)}, got {row}")
            name = row[0].strip()
            try:
                start, stop = int(row[1]), int(row[2])
            except ValueError:
                raise ValueError(
                    f"{where}: start_idx and end_idx must be integers, got {row[1]!r}, {row[2]!r}"
                ) from None
            shape = _parse_shape(",".join(row[3:]), where)
            entries.append(LayoutEntry(name, start, stop, shape))
        return cls(entries, _source=source)

    @classmethod
    def small_cnn_zoo(cls) -> Layout:
        """The layout of the released Small CNN Zoo (4970 parameters, bias before kernel)."""
        ref = resources.files("skweights").joinpath("data/small_cnn_zoo_layout.csv")
        with ref.open("r", encoding="utf-8") as f:
            return cls.from_csv(f)

    @classmethod
    def from_keras(cls, model: Any) -> Layout:
        """Layout of a Keras model's weights, in the Small CNN Zoo's convention.

        Entries are named ``f"{model.name}/{layer.name}/{kind}:0"``, layers in ``model.layers``
        order, bias before kernel within a layer, other variables after (in the layer's order).
        Keras is not imported; any object with ``name`` and ``layers`` whose layers have
        ``name`` and ``weights`` (variables with ``name`` or ``path`` and ``shape``) works.
        """
        return cls.from_shapes((name, tuple(v.shape)) for name, v in _keras_variables(model))

    # ----------------------------------------------------------------- writing
    def to_csv(self, path_or_buffer: str | os.PathLike | io.TextIOBase) -> None:
        """Write ``layout.csv`` in the released format (shape quoted, e.g. ``"(16,)"``)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for e in self._entries:
            writer.writerow([e.name, e.start, e.stop, _format_shape(e.shape)])
        if hasattr(path_or_buffer, "write"):
            path_or_buffer.write(buf.getvalue())
        else:
            with open(path_or_buffer, "w", encoding="utf-8", newline="") as f:
                f.write(buf.getvalue())

    def flatten_keras(self, model: Any, match: str = "name") -> np.ndarray:
        """1-D float32 weights of a Keras model in this layout's column order.

        Each tensor is flattened in C order (Keras stores conv kernels HWIO).

        Parameters
        ----------
        model : keras.Model
            A built model (duck-typed, see :meth:`from_keras`).
        match : {"name", "position"}, default="name"
            "name": tensors are matched by short name (``conv2d_1/kernel``). "position": the
            model's tensors, in :meth:`from_keras` order, are matched one by one with the
            layout's entries (for a model whose layers got other automatic names, such as
            ``conv2d_3``); their kinds must agree.

        Raises
        ------
        ValueError
            Naming the tensor when names, kinds or shapes do not match.
        """
        variables = _keras_variables(model)
        if match == "name":
            found = {LayoutEntry(name, 0, 0, ()).short_name: v for name, v in variables}
            missing = [e.short_name for e in self._entries if e.short_name not in found]
            extra = sorted(set(found) - {e.short_name for e in self._entries})
            if missing or extra:
                raise ValueError(
                    "the Keras model's tensors do not match the layout: missing from the model "
                    f"{missing}, not in the layout {extra} (match='position' ignores layer "
                    "names)"
                )
            pairs = [(e, found[e.short_name]) for e in self._entries]
        elif match == "position":
            if len(variables) != len(self._entries):
                raise ValueError(
                    f"the Keras model has {len(variables)} tensors but the layout has "
                    f"{len(self._entries)}"
                )
            pairs = []
            for e, (name, v) in zip(self._entries, variables):
                kind = LayoutEntry(name, 0, 0, ()).kind
                if kind != e.kind:
                    raise ValueError(
                        f"the Keras model's tensor {name!r} is a {kind} but the layout "
                        f"expects {e.name!r} (a {e.kind}) at that position"
                    )
                pairs.append((e, v))
        else:
            raise ValueError(f"match must be 'name' or 'position', got {match!r}")
        out = np.empty(self.n_params, dtype=np.float32)
        for e, v in pairs:
            value = np.asarray(_to_numpy(v), dtype=np.float32)
            if tuple(value.shape) != e.shape:
                raise ValueError(
                    f"the Keras model's tensor for {e.short_name} has shape "
                    f"{tuple(value.shape)} but the layout expects {e.shape}"
                )
            out[e.slice] = value.ravel(order="C")
        return out

    def flatten_tensors(self, tensors: Any) -> np.ndarray:
        """1-D float32 weights from named tensors: a mapping, a ``.safetensors`` or ``.npz`` file.

        Names are ours (``conv2d/kernel``, tensors HWIO / ``(in, out)``) or PyTorch's
        (``<module>.weight`` / ``<module>.bias``, modules in natural order, conv kernels OIHW
        and linear weights ``(out, in)``, converted to ours). ``.safetensors`` files are read
        with ``safetensors.numpy`` (no torch needed).

        Raises
        ------
        ValueError
            Naming the first tensor that does not fit (name, expected shape vs got).

        Examples
        --------
        >>> layout = Layout.from_shapes([("net/fc/bias:0", (2,)), ("net/fc/kernel:0", (3, 2))])
        >>> w = np.arange(6, dtype=np.float32).reshape(2, 3)  # PyTorch (out, in)
        >>> layout.flatten_tensors({"fc.weight": w, "fc.bias": np.zeros(2)}).tolist()
        [0.0, 0.0, 0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        """
        from skweights._tensors import flatten_tensors, read_tensors

        if isinstance(tensors, str | os.PathLike):
            return flatten_tensors(self, read_tensors(tensors), source=str(tensors))
        return flatten_tensors(self, tensors)

    # ----------------------------------------------------------------- queries
    @property
    def entries(self) -> tuple[LayoutEntry, ...]:
        """All tensors, in column order."""
        return self._entries

    @property
    def n_params(self) -> int:
        """Total number of columns described by the layout."""
        return self._entries[-1].stop

    @property
    def layers(self) -> list[str]:
        """Layer names in order of first appearance."""
        return list(dict.fromkeys(e.layer for e in self._entries))

    @property
    def kinds(self) -> list[str]:
        """Tensor kinds in order of first appearance."""
        return list(dict.fromkeys(e.kind for e in self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LayoutEntry]:
        return iter(self._entries)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                names = [e.short_name for e in self._entries]
                raise KeyError(f"no tensor named {key!r}; the layout has {names}") from None
        if isinstance(key, slice):
            return self._entries[key]
        return self._entries[key]

    def _selected(self, layers, kinds) -> list[LayoutEntry]:
        layers = _as_list(layers, "layers")
        kinds = _as_list(kinds, "kinds")
        if layers is not None:
            unknown = [x for x in layers if x not in self.layers]
            if unknown:
                raise ValueError(f"unknown layers {unknown}; the layout has layers {self.layers}")
        if kinds is not None:
            unknown = [x for x in kinds if x not in self.kinds]
            if unknown:
                raise ValueError(f"unknown kinds {unknown}; the layout has kinds {self.kinds}")
        chosen = [
            e
            for e in self._entries
            if (layers is None or e.layer in layers) and (kinds is None or e.kind in kinds)
        ]
        if not chosen:
            raise ValueError(f"no tensor has a layer in {layers} and a kind in {kinds}")
        return chosen

    def columns(
        self, layers: Iterable[str] | str | None = None, kinds: Iterable[str] | str | None = None
    ) -> np.ndarray:
        """Column indices (in layout order) of the tensors in ``layers`` with a kind in ``kinds``.

        ``None`` means all layers / all kinds. Unknown names raise ``ValueError``.
        """
        chosen = self._selected(layers, kinds)
        return np.concatenate([np.arange(e.start, e.stop) for e in chosen])

    def select(
        self, layers: Iterable[str] | str | None = None, kinds: Iterable[str] | str | None = None
    ) -> Layout:
        """The sub-layout of the chosen tensors, renumbered contiguously from column 0.

        Its columns are ``X[:, self.columns(layers, kinds)]``.
        """
        chosen = self._selected(layers, kinds)
        return Layout.from_shapes((e.name, e.shape) for e in chosen)

    def groups(self) -> dict[str, tuple[LayoutEntry, ...]]:
        """Tensors grouped by layer, layers in order: ``{"conv2d": (bias, kernel), ...}``."""
        out: dict[str, list[LayoutEntry]] = {}
        for e in self._entries:
            out.setdefault(e.layer, []).append(e)
        return {k: tuple(v) for k, v in out.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layout):
            return NotImplemented
        return self._entries == other._entries

    def __hash__(self) -> int:
        return hash(self._entries)

    def __repr__(self) -> str:
        items = ", ".join(f"{e.short_name} {e.shape}" for e in self._entries[:8])
        more = f", ... {len(self) - 8} more" if len(self) > 8 else ""
        return f"Layout([{items}{more}], n_params={self.n_params})"


def _as_list(value, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise TypeError(f"{what} must be names (str), got {out!r}")
    return out


def _validate(entries: tuple[LayoutEntry, ...], source: str) -> None:
    if not entries:
        raise ValueError(f"{source} has no entries; a layout needs at least one tensor")
    prev_stop, prev_name = 0, None
    names: set[str] = set()
    short: dict[str, str] = {}
    for e in entries:
        label = f"{source} entry {e.name!r}"
        if not e.name:
            raise ValueError(f"{source} has an entry with an empty name")
        if e.name in names:
            raise ValueError(f"{label} appears twice; tensor names must be unique")
        names.add(e.name)
        if e.short_name in short:
            raise ValueError(
                f"{label} has the same short name {e.short_name!r} as {short[e.short_name]!r}"
            )
        short[e.short_name] = e.name
        if e.start != prev_stop:
            after = f"the previous entry {prev_name!r} ends" if prev_name else "the layout starts"
            kind = "gap" if e.start > prev_stop else "overlap"
            n = abs(e.start - prev_stop)
            raise ValueError(
                f"{label} starts at {e.start} but {after} at {prev_stop} "
                f"({kind} of {n} column{'s' if n != 1 else ''})"
            )
        if e.stop - e.start != math.prod(e.shape):
            raise ValueError(
                f"{label} spans {e.stop - e.start} columns ({e.start}:{e.stop}) but its shape "
                f"{e.shape} has {math.prod(e.shape)} elements"
            )
        if e.size == 0:
            raise ValueError(f"{label} is empty (shape {e.shape})")
        prev_stop, prev_name = e.stop, e.name


def _to_numpy(variable: Any) -> np.ndarray:
    if hasattr(variable, "numpy"):
        return variable.numpy()
    return np.asarray(variable)


def _keras_variables(model: Any) -> list[tuple[str, Any]]:
    """``[(entry name, variable), ...]`` of a Keras model in the zoo's order."""
    out = []
    for layer in model.layers:
        variables = list(getattr(layer, "weights", []))
        names = [getattr(v, "name", "") or getattr(v, "path", "") for v in variables]
        kinds = [_SUFFIX.sub("", n).split("/")[-1] for n in names]
        if len(set(kinds)) != len(kinds):  # nested model: fall back to full variable paths
            kinds = [
                _SUFFIX.sub("", getattr(v, "path", k)).replace("/", "_")
                for v, k in zip(variables, kinds)
            ]
        rank = {"bias": 0, "kernel": 1}
        order = sorted(range(len(variables)), key=lambda i: (rank.get(kinds[i], 2), i))
        for i in order:
            out.append((f"{model.name}/{layer.name}/{kinds[i]}:0", variables[i]))
    if not out:
        raise ValueError("the Keras model has no weights; build it (call it on data) first")
    return out
