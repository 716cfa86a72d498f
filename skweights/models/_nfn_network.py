"""The JAX network behind `NeuralFunctionalRegressor`: HNP-equivariant layers, pooling, head, Adam.

This module imports JAX at the top; `skweights.models._nfn` imports it only inside ``fit`` and
``predict``, so ``import skweights.models`` stays free of JAX.

A network of ``L`` layers is seen as a set of *objects*, each a tensor whose leading axes are
indexed by hidden neurons (permutable) and whose last axis holds everything that is not
permutable: channels, kernel positions and the input/output neurons. With layer ``i``'s kernel
``W_i`` of shape ``(n_i, n_{i-1}, s_i)`` (out, in, spatial) and bias ``b_i`` of shape ``(n_i,)``:

============================  ======================  ===================================
tensor                        kind                    shape of the object
============================  ======================  ===================================
``W_1`` (``L > 1``)           vector over layer 1     ``(n_1, n_0 * s_1 * C)``
``W_i``, ``1 < i < L``        matrix over (i, i - 1)  ``(n_i, n_{i-1}, s_i * C)``
``W_L`` (``L > 1``)           vector over layer L-1   ``(n_{L-1}, n_L * s_L * C)``
``b_i``, ``i < L``            vector over layer i     ``(n_i, C)``
``b_L``, and ``W_1`` if L==1  global                  ``(n_L * C,)`` / ``(n_1 * n_0 * s_1 * C,)``
============================  ======================  ===================================

One equivariant layer (the HNP construction of Zhou et al. 2023, written in these terms) maps
every object to an object of the same kind with ``C_out`` channels. With ``V_l`` the per-neuron
summary of hidden layer ``l`` (every vector over ``l``, and every matrix touching ``l`` averaged
over its other axis, concatenated on the last axis) and ``G`` the global summary (every object
averaged over all its neuron axes):

- global: ``Dense(G)``
- vector over ``l``: ``Dense(V_l) + Dense(G)`` (broadcast over the neurons)
- matrix over ``(l, l-1)``: ``Dense(M) + Dense(V_l)[:, None] + Dense(V_{l-1})[None, :] + Dense(G)``

Every ``Dense`` acts on the last axis only and is shared across neurons, so permuting the
neurons of a hidden layer permutes the outputs the same way; the pooled ``G`` of the last layer
is invariant. The layer is NFN's ``HNPLinear`` with one more input (the bias of the previous
layer in the last weight's update).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

#: Object kinds.
GLOBAL, VECTOR, MATRIX = "global", "vector", "matrix"


# ------------------------------------------------------------------------------- structure
def n_hidden_axes(kind: str) -> int:
    return {GLOBAL: 0, VECTOR: 1, MATRIX: 2}[kind]


def summary_widths(spec, widths):
    """Widths of each hidden layer's summary ``V_l`` and of the global summary ``G``."""
    v, g = {}, 0
    for (_, axes), width in zip(spec, widths):
        g += width
        for axis in axes:
            v[axis] = v.get(axis, 0) + width
    return v, g


def init_params(rng, spec, fold, channels, head_units, n_extra=0):
    """Initial parameters: one dict per object per equivariant layer, then the head.

    ``fold[k]`` is object ``k``'s number of non-permutable entries per channel; its width in a
    layer with ``C`` channels is ``fold[k] * C``. The head also reads ``n_extra`` invariant
    features per network besides the pooled ones. Kernels are He-normal over the total fan-in of
    all terms that add up to one output; biases start at zero. Drawn with numpy's ``rng`` (a
    ``RandomState``): eager ``jax.random`` calls would compile one small program per shape.
    """

    def normal(shape, fan_in):
        return (rng.standard_normal(shape) * math.sqrt(2 / fan_in)).astype(np.float32)

    layers, c_in = [], 1
    for c_out in channels:
        widths = [f * c_in for f in fold]
        v_width, g_width = summary_widths(spec, widths)
        layer = []
        for (kind, axes), f, width in zip(spec, fold, widths):
            terms = {"g": g_width}
            if kind == VECTOR:
                terms["v"] = v_width[axes[0]]
            elif kind == MATRIX:
                terms.update(m=width, r=v_width[axes[0]], c=v_width[axes[1]])
            fan_in = sum(terms.values())
            params = {}
            for name, n_in in terms.items():
                params[name] = normal((n_in, f * c_out), fan_in)
            params["b"] = np.zeros(f * c_out, np.float32)
            layer.append(params)
        layers.append(layer)
        c_in = c_out
    _, g_width = summary_widths(spec, [f * c_in for f in fold])
    head, n_in = [], g_width + n_extra
    for n_out in (*head_units, 1):
        head.append({"w": normal((n_in, n_out), n_in), "b": np.zeros(n_out, np.float32)})
        n_in = n_out
    return {"layers": layers, "head": head}


# --------------------------------------------------------------------------------- forward
def _summaries(spec, objects):
    """``V_l`` per hidden layer ``l`` and the global summary ``G`` of a list of objects."""
    per_layer, pooled = {}, []
    for (kind, axes), x in zip(spec, objects):
        if kind == GLOBAL:
            pooled.append(x)
        elif kind == VECTOR:
            per_layer.setdefault(axes[0], []).append(x)
            pooled.append(x.mean(axis=1))
        else:  # matrix (batch, rows = axes[0], cols = axes[1], features)
            per_layer.setdefault(axes[0], []).append(x.mean(axis=2))
            per_layer.setdefault(axes[1], []).append(x.mean(axis=1))
            pooled.append(x.mean(axis=(1, 2)))
    v = {axis: jnp.concatenate(parts, axis=-1) for axis, parts in per_layer.items()}
    return v, jnp.concatenate(pooled, axis=-1)


def _dense(x, w):
    """``x @ w`` on the last axis, as one 2-D product (XLA's CPU dot is ~2x faster so)."""
    return (x.reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[-1])


def _readers(spec) -> dict[int, list[tuple[int, str]]]:
    """Per hidden layer ``l``: the ``(object, term)`` pairs whose ``Dense`` reads ``V_l``."""
    readers = {}
    for k, (kind, axes) in enumerate(spec):
        if kind == VECTOR:
            readers.setdefault(axes[0], []).append((k, "v"))
        elif kind == MATRIX:
            readers.setdefault(axes[0], []).append((k, "r"))
            readers.setdefault(axes[1], []).append((k, "c"))
    return readers


def _stacked_dense(x, weights, biases=None):
    """``[x @ w + b for w, b in zip(weights, biases)]`` computed as one matrix product.

    One product of the summary with the stacked kernels instead of one per reader: fewer,
    larger products, and the gradient of ``x`` is one product too instead of a sum of many
    (XLA on CPU fuses such sums into every element of the large tensors they flow into).
    """
    y = _dense(x, jnp.concatenate(weights, axis=1))
    if biases is not None:
        y = y + jnp.concatenate(biases)
    return jnp.split(y, np.cumsum([w.shape[1] for w in weights])[:-1].tolist(), axis=-1)


def equivariant_layer(spec, layer, objects):
    """One HNP-equivariant linear layer (see the module docstring)."""
    v, g = _summaries(spec, objects)
    terms = dict(enumerate(_stacked_dense(g, [p["g"] for p in layer], [p["b"] for p in layer])))
    for axis, readers in _readers(spec).items():
        kernels = [layer[k][term] for k, term in readers]
        terms.update(zip(readers, _stacked_dense(v[axis], kernels)))
    out = []
    for k, ((kind, _), params, x) in enumerate(zip(spec, layer, objects)):
        y = terms[k]
        if kind == VECTOR:
            y = terms[k, "v"] + y[:, None]
        elif kind == MATRIX:
            rows, cols = terms[k, "r"][:, :, None], terms[k, "c"][:, None, :]
            y = _dense(x, params["m"]) + rows + cols + y[:, None, None]
        out.append(y)
    return out


def gather(Z, indices) -> list[np.ndarray]:
    """The objects of the flat rows ``Z`` (one channel), as numpy arrays ``(n, *axes, fold)``.

    Done once per array of rows, before training or prediction: a step then takes its batch
    from each object by contiguous row gathers, instead of indexing every column of ``Z``.
    """
    Z = np.asarray(Z, dtype=np.float32)
    return [Z[:, idx] for idx in indices]


@partial(jax.jit, static_argnames=("spec",))
def forward(params, objects, S, spec):
    """Logits for a batch of networks given as ``objects`` with extra head inputs ``S``."""
    for layer in params["layers"]:
        objects = [jax.nn.relu(y) for y in equivariant_layer(spec, layer, objects)]
    _, h = _summaries(spec, objects)
    h = jnp.concatenate([h, S], axis=-1)
    for dense in params["head"][:-1]:
        h = jax.nn.relu(h @ dense["w"] + dense["b"])
    return (h @ params["head"][-1]["w"] + params["head"][-1]["b"])[:, 0]


def predict_logits(params, objects, S, spec, batch=256):
    """`forward` over all networks in batches of ``batch`` rows (the last padded), as float64.

    ``objects`` are `gather`'s numpy arrays. Always the same batch shape: compiled once, and a
    row's prediction never depends on how many rows are predicted with it.
    """
    n = S.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, batch):
        parts = [o[start : start + batch] for o in (*objects, S)]
        k = parts[-1].shape[0]
        if k < batch:
            pad = [np.zeros((batch - k, *a.shape[1:]), a.dtype) for a in parts]
            parts = [np.concatenate([a, z]) for a, z in zip(parts, pad)]
        logits = forward(params, parts[:-1], parts[-1], spec)
        out[start : start + k] = np.asarray(logits)[:k]
    return out


# -------------------------------------------------------------------------------- training
def _loss(params, objects, S, t, spec, loss):
    logits = forward(params, objects, S, spec)
    if loss == "binary_crossentropy":
        return -jnp.mean(t * jax.nn.log_sigmoid(logits) + (1 - t) * jax.nn.log_sigmoid(-logits))
    return jnp.mean((jax.nn.sigmoid(logits) - t) ** 2)


def adam_init(params):
    """Adam's moments (zeros, like ``params``) and step count, as numpy arrays."""
    zeros = jax.tree.map(np.zeros_like, params)
    return {"m": zeros, "v": jax.tree.map(np.zeros_like, params), "step": np.int32(0)}


def _adam_step(params, opt, objects, S, t, rows, learning_rate, spec, loss):
    """One Adam step on the networks ``rows`` of the device arrays ``objects``, ``S``, ``t``."""
    batch = [o[rows] for o in objects]
    value, grads = jax.value_and_grad(_loss)(params, batch, S[rows], t[rows], spec, loss)
    b1, b2, eps = 0.9, 0.999, 1e-8
    step = opt["step"] + 1
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, opt["m"], grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, opt["v"], grads)
    lr = learning_rate * jnp.sqrt(1 - b2**step) / (1 - b1**step)
    params = jax.tree.map(lambda p, m, v: p - lr * m / (jnp.sqrt(v) + eps), params, m, v)
    return params, {"m": m, "v": v, "step": step}, value


#: One Adam step per call (a Python loop over the batches; the reference for `train_epoch`).
train_step = partial(jax.jit, static_argnames=("spec", "loss"))(_adam_step)


@partial(jax.jit, static_argnames=("spec", "loss"), donate_argnames=("params", "opt"))
def train_epoch(params, opt, objects, S, t, batches, learning_rate, spec, loss):
    """Adam steps on the batches ``batches[0], batches[1], ...`` in one compiled program.

    ``batches`` is an int array ``(n_batches, batch_size)`` of row numbers; the steps run in a
    ``lax.scan``, so an epoch costs one call instead of one per batch. ``params`` and ``opt``
    are donated (their buffers are reused for the result). Returns the new params, optimiser
    state and the loss of every batch.
    """

    def step(state, rows):
        params, opt, value = _adam_step(*state, objects, S, t, rows, learning_rate, spec, loss)
        return (params, opt), value

    (params, opt), losses = jax.lax.scan(step, (params, opt), batches)
    return params, opt, losses


def to_numpy(tree):
    return jax.tree.map(lambda a: np.array(a), tree)


def to_jax(tree):
    return jax.tree.map(jnp.asarray, tree)
