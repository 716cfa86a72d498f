"""Vectorised trainer: N zoo CNNs trained at once in JAX.

The parameters of N networks are stacked on a leading axis; convolutions are patch extraction
(strided slices) plus a batched matrix product (a convolution with network-batched weights would
be a grouped convolution, ~9x slower on XLA CPU); a whole epoch runs in one jitted `lax.scan`.
Learning rate, L2, dropout rate, activation and data subset are per network. Dropout masks come
from a counter-based integer hash (JAX's generator dominated the step time). Adam follows Keras 3
``Adam.update_step`` exactly (beta_1=0.9, beta_2=0.999, epsilon=1e-7), pinned by a test against
Keras. A network whose loss or weights become non-finite is frozen from that step on.

Where XLA CPU's defaults were slow (measured per network and training step of 128 MNIST
images on one Zen 4 core, 2.8 ms → 2.0 ms ReLU, 3.1 ms → 2.1 ms tanh): the first layer's
9-wide patches are multiplied as broadcast multiply-adds (`_narrow_matmul`), weight gradients
use a transposed dZ (`_matmul`), each layer's activations are computed once before the next
layer's 9 patch slices read them (`_materialize`), ReLU + dropout take their derivative from
the output (`_relu_dropout`), and tanh is a vectorisable copy of XLA's own approximation
(`tanh`, bitwise equal). Chunks of 1 network (28x28) and evaluation batches of 64 images keep
the working set in cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from skweights.zoo._architecture import KERNEL_SIZE, STRIDE
from skweights.zoo._init import init_group

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def _patches(x, n_out_h, n_out_w):
    """(..., H, W, C) -> (..., Ho, Wo, 9 C) in (kh, kw, c) order (matches HWIO kernels)."""
    cols = [
        x[
            ...,
            i : i + STRIDE * (n_out_h - 1) + 1 : STRIDE,
            j : j + STRIDE * (n_out_w - 1) + 1 : STRIDE,
            :,
        ]
        for i in range(KERNEL_SIZE)
        for j in range(KERNEL_SIZE)
    ]
    return jnp.concatenate(cols, axis=-1)


def _hash_uniform(shape, seeds):
    """Uniform [0, 1) numbers of `shape` = (N, ...) from a counter hash seeded per network."""
    n = shape[0]
    size = int(np.prod(shape[1:]))
    counter = lax.broadcasted_iota(jnp.uint32, (n, size), 1)
    h = counter * jnp.uint32(0x9E3779B1) + seeds.astype(jnp.uint32)[:, None]
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    h = h ^ (h >> 16)
    return ((h >> 8).astype(jnp.float32) * (1.0 / (1 << 24))).reshape(shape)


def _mix(a, b):
    a = a.astype(jnp.uint32) * jnp.uint32(0x27D4EB2F) + b.astype(jnp.uint32) * jnp.uint32(
        0x165667B1
    )
    return a ^ (a >> 15)


# XLA CPU's float32 tanh: odd rational approximation, x itself below 4e-4, sign(x) above 7.9988
_TANH_P = (
    -2.76076847742355e-16,
    2.00018790482477e-13,
    -8.60467152213735e-11,
    5.12229709037114e-08,
    1.48572235717979e-05,
    6.37261928875436e-04,
    4.89352455891786e-03,
)
_TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


@jax.custom_jvp
def tanh(x):
    """Bitwise the same float32 values as `jnp.tanh` on XLA CPU, ~2x faster inside a fusion.

    XLA's own tanh is a rational approximation behind branches that its loop emitter did not
    vectorise (0.55 ms vs 0.25 ms for a layer's 700k activations); this writes the same
    approximation with selects. The derivative is JAX's rule for tanh, so gradients are the
    same bits too. Pinned against `jnp.tanh` by a test.
    """
    ax = jnp.abs(x)
    x2 = x * x
    p = x2 * _TANH_P[0] + _TANH_P[1]
    for c in _TANH_P[2:]:
        p = x2 * p + c
    q = x2 * _TANH_Q[0] + _TANH_Q[1]
    for c in _TANH_Q[2:]:
        q = x2 * q + c
    return jnp.where(ax < 0.0004, x, jnp.where(ax > 7.99881172180175781, jnp.sign(x), x * p / q))


@tanh.defjvp
def _tanh_jvp(primals, tangents):
    (x,), (g,) = primals, tangents
    ans = tanh(x)
    return ans, (g + g * ans) * (1.0 - ans)


def _activate(z, relu, act):
    if act == "relu":
        return jax.nn.relu(z)
    if act == "tanh":
        return tanh(z)
    return jnp.where(relu.reshape((-1,) + (1,) * (z.ndim - 1)), jax.nn.relu(z), tanh(z))


def activation_mode(activations) -> str:
    """ "relu" / "tanh" when a group is homogeneous (one branch compiled), else "mixed"."""
    kinds = set(activations)
    return kinds.pop() if len(kinds) == 1 else "mixed"


def first_layer_patches(x):
    """Patches (..., Ho, Wo, 9 C) of the first convolution for images ``x`` (..., H, W, C).

    The images are fixed, so the trainer extracts them once per dataset and gathers rows of
    patches per step (`forward` with ``patched=True``); extracting them on every step cost
    ~15 % of a training step.
    """
    ho = (x.shape[-3] - KERNEL_SIZE) // STRIDE + 1
    wo = (x.shape[-2] - KERNEL_SIZE) // STRIDE + 1
    return _patches(x, ho, wo)


_first_layer_patches = jax.jit(first_layer_patches)


@jax.custom_vjp
def _matmul(p, w):
    """(N, M, K) @ (N, K, U) whose weight gradient is computed as (dZ^T P)^T.

    XLA's default weight gradient contracts the long M axis of P^T dZ with a transposed
    left operand (~48 GFLOP/s on Zen 4); transposing the small dZ first and running the plain
    (U, M) @ (M, K) product reaches ~95 GFLOP/s.
    """
    return jnp.matmul(p, w)


def _matmul_fwd(p, w):
    return jnp.matmul(p, w), (p, w)


def _matmul_bwd(res, dz):
    p, w = res
    dzt = lax.optimization_barrier(jnp.swapaxes(dz, -1, -2))
    dwt = _materialize(jnp.matmul(dzt, p))  # else XLA folds the transpose back into the dot
    return jnp.matmul(dz, jnp.swapaxes(w, -1, -2)), jnp.swapaxes(dwt, -1, -2)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


@jax.custom_vjp
def _narrow_matmul(p, w):
    """(N, M, K) @ (N, K, U) for a small K (the first layer's 9 taps) as K broadcast FMAs.

    A GEMM with K = 9 runs at ~20 GFLOP/s; the unrolled multiply-adds are a loop fusion that
    also absorbs the patch gather, bias and activation (4x faster). ``p`` is data (no
    gradient); the weight gradient is the usual P^T dZ.
    """
    return _fma(p, w)


def _fma(p, w):
    z = p[..., 0:1] * w[:, None, 0, :]
    for k in range(1, p.shape[-1]):
        z = z + p[..., k : k + 1] * w[:, None, k, :]
    return z


def _narrow_matmul_fwd(p, w):
    return _fma(p, w), p


def _narrow_matmul_bwd(p, dz):
    if p.ndim == 2:  # shared patches (M, K)
        return jnp.zeros_like(p), jnp.einsum("mk,nmu->nku", p, dz)
    return jnp.zeros_like(p), jnp.einsum("nmk,nmu->nku", p, dz)


_narrow_matmul.defvjp(_narrow_matmul_fwd, _narrow_matmul_bwd)


@jax.custom_vjp
def _materialize(h):
    """`h` computed once into a buffer (a conditional on data is not fused into consumers).

    Forward only: the gradient passes straight through, so the backward pass stays free to
    fuse (e.g. the next layer's col2im with this layer's activation derivative).
    """
    flat = h.reshape(-1)
    return lax.cond(flat[0] == flat[0], lambda a: a, lambda a: a * 1.0, h)


_materialize.defvjp(lambda h: (_materialize(h), None), lambda _, g: (g,))


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _relu_dropout(z, keep, r, once):
    """``where(keep, relu(z) / (1 - r), 0)``, materialised when ``once``.

    The derivative is read off the output (``h > 0`` exactly when kept and ``z > 0``), so the
    backward pass neither recomputes the dropout hash nor the layer's pre-activation (XLA's
    autodiff did both inside the col2im fusion: a ReLU step cost ~10 % more). Same bits as the
    plain expression and its autodiff.
    """
    h = jnp.where(keep, jax.nn.relu(z) / (1.0 - r), 0.0)
    return _materialize(h) if once else h


def _relu_dropout_fwd(z, keep, r, once):
    h = _relu_dropout(z, keep, r, once)
    return h, (h, r)


def _relu_dropout_bwd(once, res, g):
    h, r = res
    return jnp.where(h > 0, g / (1.0 - r), 0.0), None, None


_relu_dropout.defvjp(_relu_dropout_fwd, _relu_dropout_bwd)


#: Largest first-layer patch width computed as broadcast multiply-adds instead of a GEMM.
_NARROW_K = 27


def forward(params, x, relu, rates=None, seeds=None, act="mixed", patched=False):
    """Logits (N, B, K) of N networks. `x` is (B, H, W, C) shared or (N, B, H, W, C).

    With ``patched=True``, `x` holds `first_layer_patches` of the images instead.
    `relu` (N,) bool selects ReLU (else tanh) per network when ``act="mixed"``; ``act="relu"`` or
    ``"tanh"`` applies that activation to every network (both branches are not computed).
    Dropout is applied when `rates` (N,) and `seeds` (N,) uint32 are given.
    """
    n_layers = len(params) // 2 - 1
    h = x
    for i in range(n_layers):
        b, w = params[2 * i], params[2 * i + 1]
        n, u = w.shape[0], w.shape[-1]
        p = h if (patched and i == 0) else first_layer_patches(h)
        ho, wo, k = p.shape[-3:]
        wm = w.reshape(n, k, u)
        shared = p.ndim == 4  # shared images: one (B Ho Wo, 9C) matrix for all networks
        pm = p.reshape(-1, k) if shared else p.reshape(n, -1, k)
        if k <= _NARROW_K:
            z = _narrow_matmul(pm, wm)
            if act != "relu":  # tanh does not vectorise inside the multiply-add fusion
                z = _materialize(z)
        elif shared:
            z = jnp.einsum("mk,nku->nmu", pm, wm)
        else:  # (N, B Ho Wo, 9C) @ (N, 9C, U): plain 3-D operands give XLA its fast dot
            z = _matmul(pm, wm)
        # bias, activation and dropout on the 3-D (N, B Ho Wo, U) product: with the 5-D
        # image layout XLA did not vectorise tanh (the tanh layer cost 1.8x the ReLU one)
        z = z + b[:, None, :]
        keep = None
        if rates is not None:
            r = rates[:, None, None]
            keep = _hash_uniform(z.shape, _mix(seeds, jnp.uint32(i + 1))) >= r
        # computed once (`_materialize`) before the last layer: otherwise each of the next
        # layer's 9 patch slices recomputes the activation and dropout hash of what it reads
        once = i + 1 < n_layers
        if act == "relu" and keep is not None:
            h = _relu_dropout(z, keep, r, once)
        else:
            h = _activate(z, relu, act)
            if keep is not None:
                h = jnp.where(keep, h / (1.0 - r), 0.0)
            if once:
                h = _materialize(h)
        h = h.reshape((n, -1, ho, wo, u))
    pooled = h.mean(axis=(2, 3))
    return jnp.einsum("nbu,nuk->nbk", pooled, params[-1]) + params[-2][:, None, :]


def _l2(params):
    return sum(jnp.sum(jnp.square(w), axis=tuple(range(1, w.ndim))) for w in params[1::2])


def _ce_sum_correct(logits, y):
    logz = jax.nn.log_softmax(logits, axis=-1)
    ce = -jnp.take_along_axis(logz, y[..., None], axis=-1)[..., 0]
    correct = (jnp.argmax(logits, axis=-1) == y).astype(jnp.float32)
    return ce, correct


@dataclass
class TrainState:
    params: list
    m: list
    v: list
    t: jax.Array  # (N,) float32 Adam step counters
    alive: jax.Array  # (N,) bool


def init_state(params_np):
    params = [jnp.asarray(p) for p in params_np]
    zeros = [jnp.zeros_like(p) for p in params]
    n = params[0].shape[0]
    return TrainState(
        params,
        zeros,
        [jnp.zeros_like(p) for p in params],
        jnp.zeros((n,), jnp.float32),
        jnp.ones((n,), bool),
    )


jax.tree_util.register_dataclass(
    TrainState, data_fields=["params", "m", "v", "t", "alive"], meta_fields=[]
)


def _bcast(a, like):
    return a.reshape(a.shape + (1,) * (like.ndim - a.ndim))


def train_step(state, xb, yb, mb, lr, l2, rates, seeds, relu, dropout, act="mixed", patched=False):
    """One Adam step of every alive network on its batch ``xb`` (N, B, H, W, C).

    With ``patched=True``, ``xb`` holds the batch's `first_layer_patches`.

    ``mb`` (N, B) masks padded examples; a network without any real example skips the step.
    """

    def loss_fn(params):
        logits = forward(params, xb, relu, rates if dropout else None, seeds, act, patched)
        ce, _ = _ce_sum_correct(logits, yb)
        per_net = (ce * mb).sum(axis=1) / jnp.maximum(mb.sum(axis=1), 1.0) + l2 * _l2(params)
        return per_net.sum(), per_net

    grads, loss = jax.grad(loss_fn, has_aux=True)(state.params)
    t = state.t + 1.0
    alpha = lr * jnp.sqrt(1.0 - BETA_2**t) / (1.0 - BETA_1**t)
    new_p, new_m, new_v = [], [], []
    finite = jnp.isfinite(loss)
    for p, g, m, v in zip(state.params, grads, state.m, state.v):
        m2 = m + (g - m) * (1.0 - BETA_1)
        v2 = v + (jnp.square(g) - v) * (1.0 - BETA_2)
        p2 = p - (m2 * _bcast(alpha, m2)) / (jnp.sqrt(v2) + EPSILON)
        finite = finite & jnp.all(jnp.isfinite(p2).reshape(p2.shape[0], -1), axis=1)
        new_p.append(p2)
        new_m.append(m2)
        new_v.append(v2)
    go = state.alive & (mb.sum(axis=1) > 0)

    def pick(new, old):
        return jnp.where(_bcast(go, new), new, old)

    return TrainState(
        [pick(a, b) for a, b in zip(new_p, state.params)],
        [pick(a, b) for a, b in zip(new_m, state.m)],
        [pick(a, b) for a, b in zip(new_v, state.v)],
        jnp.where(go, t, state.t),
        state.alive & (finite | ~go),
    ), loss


def chunk_size_for(image_shape) -> int:
    """Networks trained side by side inside one compiled step.

    The group is processed ``c`` networks at a time so that one step's activations and patches
    stay in the CPU caches; with all N networks at once they spill to memory and the (memory-
    bound) patch extraction dominates. Measured on 2-core Zen 4: 1.5-1.6x faster per network
    than N = 64 at once; since the first layer became multiply-adds, c = 1 for 28x28 inputs
    (5 % faster training steps and 15 % faster evaluation than c = 2) and c = 2 for 16x16 (on
    par with 4). Rule: the largest power of two with ``c * H * W <= 800``; groups are padded
    to whole chunks.
    """
    pixels = int(np.prod(image_shape[:2]))
    c = 1
    while c * 2 * pixels <= 800:
        c *= 2
    return c


def eval_batch_for(image_shape, chunk) -> int:
    """Images per evaluation batch when ``chunk`` networks are evaluated side by side.

    Like training, evaluation is fastest when a batch's activations stay in the core's cache:
    measured on Zen 4, 64 images per network-batch for 28x28 and for 16x16 inputs (two
    networks) evaluated 12-20 % faster than 256. Rule: the largest power of two (at least 8)
    with ``chunk * batch * H * W <= 51200``.
    """
    pixels = int(np.prod(image_shape[:2]))
    b = 8
    while chunk * b * 2 * pixels <= 51200:
        b *= 2
    return b


def _split(a, k, axis=0):
    """(..., N, ...) -> (k, N // k, ...) with the network axis first."""
    a = jnp.moveaxis(a, axis, 0)
    return a.reshape((k, a.shape[0] // k) + a.shape[1:])


def _merge(a):
    return a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])


@partial(jax.jit, static_argnames=("dropout", "act", "chunk"))
def train_epoch(
    state,
    x_train,
    y_train,
    idx,
    mask,
    n_steps,
    lr,
    l2,
    rates,
    seeds,
    epoch,
    relu,
    dropout,
    act="mixed",
    chunk=None,
):
    """One epoch: network j takes the first ``n_steps[j]`` steps of ``idx`` (S, N, B) (indices
    into ``x_train``, the `first_layer_patches` of the training images).

    With ``chunk`` = c, the N networks are trained c at a time (all steps of one chunk, then
    the next; see `chunk_size_for`), and a chunk runs only as many steps as its networks need
    (a network with fewer steps than its chunk skips the padded ones: their ``mask`` is 0).
    The step counts are dynamic, so groups of any mix of train fractions share one compilation.
    """
    n = lr.shape[0]
    k = n // (chunk or n)
    per_net = (idx, mask, n_steps, lr, l2, rates, seeds, relu)
    axes = (1, 1, 0, 0, 0, 0, 0, 0)
    chunks = tuple(_split(a, k, ax) for a, ax in zip(per_net, axes))

    def run(args):
        st, (idx_c, mask_c, steps_c, lr_c, l2_c, rates_c, seeds_c, relu_c) = args

        def body(s, st):
            step_seeds = _mix(_mix(seeds_c, epoch), s.astype(jnp.uint32))
            step_idx = idx_c[:, s]
            st, _ = train_step(
                st,
                x_train[step_idx],
                y_train[step_idx],
                mask_c[:, s],
                lr_c,
                l2_c,
                rates_c,
                step_seeds,
                relu_c,
                dropout,
                act,
                patched=True,
            )
            return st

        return lax.fori_loop(0, steps_c.max(), body, st)

    split_state = jax.tree_util.tree_map(lambda a: _split(a, k), state)
    return jax.tree_util.tree_map(_merge, lax.map(run, (split_state, chunks)))


def _eval_shared_impl(params, x, y, mask, l2, relu, act="mixed"):
    """Loss/accuracy of N networks on one shared set, chunked: x (C, B, ...) first-layer
    patches, mask (C, B)."""

    def body(acc, inp):
        xb, yb, mb = inp
        ce, correct = _ce_sum_correct(forward(params, xb, relu, act=act, patched=True), yb[None])
        return (acc[0] + (ce * mb).sum(1), acc[1] + (correct * mb).sum(1)), None

    n = params[0].shape[0]
    (ce, corr), _ = lax.scan(body, (jnp.zeros(n), jnp.zeros(n)), (x, y, mask))
    total = mask.sum()
    return ce / total + l2 * _l2(params), corr / total


def _eval_own_impl(params, x_all, y_all, idx, mask, n_chunks, l2, relu, act="mixed"):
    """Loss/accuracy of N networks on their own subsets of ``x_all`` (first-layer patches);
    idx, mask (C, N, B), first n_chunks."""

    def body(c, acc):
        ib, mb = idx[c], mask[c]
        logits = forward(params, x_all[ib], relu, act=act, patched=True)
        ce, correct = _ce_sum_correct(logits, y_all[ib])
        return (acc[0] + (ce * mb).sum(1), acc[1] + (correct * mb).sum(1))

    n = params[0].shape[0]
    ce, corr = lax.fori_loop(0, n_chunks, body, (jnp.zeros(n), jnp.zeros(n)))
    total = jnp.maximum(mask.sum(axis=(0, 2)), 1.0)
    return ce / total + l2 * _l2(params), corr / total


def _map_networks(fn, chunk, params, l2, relu, per_net=(), axes=()):
    """``fn(params, l2, relu, *per_net)`` evaluated ``chunk`` networks at a time (cache-sized).

    ``per_net`` arrays have their network axis at ``axes``; ``fn`` receives them with the
    network axis first. Outputs are tuples of (N,) arrays.
    """
    n = l2.shape[0]
    k = n // (chunk or n)
    args = (
        [_split(p, k) for p in params],
        _split(l2, k),
        _split(relu, k),
        tuple(_split(a, k, ax) for a, ax in zip(per_net, axes)),
    )
    out = lax.map(lambda a: fn(a[0], a[1], a[2], *a[3]), args)
    return tuple(_merge(o) for o in out)


@partial(jax.jit, static_argnames=("act", "chunk"))
def _eval_shared(params, x, y, mask, l2, relu, act="mixed", chunk=None, active=None):
    """`_eval_shared_impl` ``chunk`` networks at a time; chunks without an ``active`` network
    (padding) are skipped (their results are 0)."""
    if active is None:
        active = jnp.ones(l2.shape, bool)

    def fn(p, l2_c, relu_c, active_c):
        def run():
            return _eval_shared_impl(p, x, y, mask, l2_c, relu_c, act)

        def skip():
            return jnp.zeros(l2_c.shape), jnp.zeros(l2_c.shape)

        return lax.cond(active_c.any(), run, skip)

    return _map_networks(fn, chunk, params, l2, relu, (active,), (0,))


@partial(jax.jit, static_argnames=("act", "chunk"))
def _eval_own(params, x_all, y_all, idx, mask, n_chunks, l2, relu, act="mixed", chunk=None):
    """`_eval_own_impl` ``chunk`` networks at a time; network j needs ``n_chunks[j]`` chunks."""

    def fn(p, l2_c, relu_c, idx_c, mask_c, n_c):
        idx_c, mask_c = jnp.moveaxis(idx_c, 0, 1), jnp.moveaxis(mask_c, 0, 1)  # (C, c, B)
        return _eval_own_impl(p, x_all, y_all, idx_c, mask_c, n_c.max(), l2_c, relu_c, act)

    return _map_networks(fn, chunk, params, l2, relu, (idx, mask, n_chunks), (1, 1, 0))


def _chunk(n_items, chunk):
    size = min(chunk, n_items)
    n_chunks = -(-n_items // size)
    pad = n_chunks * size - n_items
    mask = np.concatenate([np.ones(n_items, np.float32), np.zeros(pad, np.float32)])
    return size, n_chunks, pad, mask.reshape(n_chunks, size)


def subset_indices(n_train: int, train_fraction: float, random_seed: int) -> np.ndarray:
    """The network's training subset: a seeded shuffle of the training set, first fraction kept."""
    n_sub = max(1, int(n_train * float(train_fraction)))
    if n_sub >= n_train:
        return np.arange(n_train)
    return np.random.default_rng([int(random_seed), 1]).permutation(n_train)[:n_sub]


def epoch_batches(subset: np.ndarray, batch_size: int, random_seed: int, epoch: int) -> np.ndarray:
    """(steps, batch) indices of one epoch: seeded shuffle, last partial batch dropped."""
    steps = len(subset) // batch_size
    order = np.random.default_rng([int(random_seed), 2, int(epoch)]).permutation(len(subset))
    return subset[order[: steps * batch_size]].reshape(steps, batch_size)


def enable_compilation_cache(path=None) -> None:
    """Turn on JAX's persistent compilation cache (unless the user configured one already).

    Compiled training/evaluation/initialisation programs are then reused by later worker
    processes and later generations. ``path`` defaults to ``$SKWEIGHTS_JAX_CACHE`` or
    ``~/.cache/skweights/jax``; set ``SKWEIGHTS_JAX_CACHE=""`` to disable.
    """
    if jax.config.jax_compilation_cache_dir:
        return
    if path is None:
        path = os.environ.get(
            "SKWEIGHTS_JAX_CACHE",
            os.path.join(os.path.expanduser("~"), ".cache", "skweights", "jax"),
        )
    if not path:
        return
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def train_group(configs, images, epochs, checkpoints, batch_size=128, pad_to=None):
    """Train a group of networks at once; return their checkpoints.

    All compiled shapes depend only on the dataset, ``batch_size`` and the group size, so groups
    with any mix of train fractions and activations share one compilation. Networks with fewer
    steps per epoch (smaller fraction) skip the padded steps entirely.

    Parameters
    ----------
    configs : list of dict
        From `sample_hyperparameters` (plus optional ``num_layers``, ``num_units``).
    images : object with x_train, y_train, x_test, y_test, n_classes
    epochs : int
    checkpoints : sequence of int
        Epochs (0 = initialisation) at which to record weights and metrics.
    batch_size : int, default=128
        A network uses ``min(batch_size, size of its subset)``, last partial batch dropped.
    pad_to : int or None
        Pad the group with idle copies of its first network up to this size (same compiled
        shapes for every group).

    Returns
    -------
    result : dict
        ``weights`` (R, n_params) float32, ``network`` (R,) index into `configs`, ``step`` (R,),
        ``test_accuracy``, ``test_loss``, ``train_accuracy``, ``train_loss`` (R,); rows ordered
        by network then step. A network that diverged during epoch d has its rows up to d and a
        last row at step d + 1 holding its non-finite state (as in the released zoo).
    """
    from skweights.zoo._architecture import param_shapes

    for c in configs:
        if c["activation"] not in ("relu", "tanh"):
            raise ValueError(f"activation must be 'relu' or 'tanh', got {c['activation']!r}.")
    n_real = len(configs)
    chunk = chunk_size_for(np.shape(images.x_train)[1:])
    n = max(n_real, int(pad_to or 0))
    n = -(-n // chunk) * chunk  # whole chunks
    configs = list(configs) + [configs[0]] * (n - n_real)
    x_train = np.asarray(images.x_train, np.float32)
    y_train = np.asarray(images.y_train, np.int32)
    x_test = np.asarray(images.x_test, np.float32)
    y_test = np.asarray(images.y_test, np.int32)
    n_train = len(x_train)
    shapes = param_shapes(
        configs[0].get("num_layers", 3),
        configs[0].get("num_units", 16),
        x_train.shape[-1],
        int(images.n_classes),
    )
    enable_compilation_cache()
    state = init_state(init_group(configs, shapes))
    act = activation_mode(c["activation"] for c in configs)
    real = np.arange(n) < n_real

    def arr(key, dtype=jnp.float32):
        return jnp.asarray([c[key] for c in configs], dtype)

    lr, l2, rates = arr("learning_rate"), arr("l2reg"), arr("dropout")
    seeds = jnp.asarray([c["random_seed"] % (2**32) for c in configs], jnp.uint32)
    relu = jnp.asarray([c["activation"] == "relu" for c in configs])
    use_dropout = bool(np.any(np.asarray(rates) > 0))

    subsets = [subset_indices(n_train, c["train_fraction"], c["random_seed"]) for c in configs]
    bs = min(int(batch_size), n_train)
    s_max = n_train // bs
    xtr, ytr = _first_layer_patches(jnp.asarray(x_train)), jnp.asarray(y_train)
    # own training subsets, chunked (C, N, B) with a mask, C fixed by the full training set
    eval_batch = eval_batch_for(x_train.shape[1:], chunk)
    size_s, c_max, _, _ = _chunk(n_train, eval_batch)
    # evaluation chunks each network needs on its own subset (none for padding)
    own_chunks = jnp.asarray(
        [-(-len(sub) // size_s) if real[k] else 0 for k, sub in enumerate(subsets)], jnp.int32
    )
    # test set, shared by all networks, chunked (C, B, ...)
    size, n_chunks, pad, tmask = _chunk(len(x_test), eval_batch)
    xte = np.concatenate([x_test, np.zeros((pad,) + x_test.shape[1:], np.float32)])
    yte = np.concatenate([y_test, np.zeros(pad, np.int32)])
    xte = _first_layer_patches(jnp.asarray(xte.reshape((n_chunks, size) + x_test.shape[1:])))
    yte = jnp.asarray(yte.reshape(n_chunks, size))
    tmask = jnp.asarray(tmask)
    sidx = np.zeros((c_max * size_s, n), np.int32)
    smask = np.zeros((c_max * size_s, n), np.float32)
    for k, sub in enumerate(subsets):
        sidx[: len(sub), k] = sub
        smask[: len(sub), k] = 1.0
    sidx = jnp.asarray(sidx.reshape(c_max, size_s, n).transpose(0, 2, 1))
    smask = jnp.asarray(smask.reshape(c_max, size_s, n).transpose(0, 2, 1))

    ckpts = sorted({int(c) for c in checkpoints if 0 <= int(c) <= epochs})
    died = np.full(n, -1)  # epoch during which the network diverged
    keys = ("network", "step", "test_accuracy", "test_loss", "train_accuracy", "train_loss")
    rows: dict[str, list] = {k: [] for k in keys + ("weights",)}

    def record(epoch, which):
        te_loss, te_acc = _eval_shared(
            state.params, xte, yte, tmask, l2, relu, act=act, chunk=chunk
        )
        tr_loss, tr_acc = _eval_own(
            state.params, xtr, ytr, sidx, smask, own_chunks, l2, relu, act=act, chunk=chunk
        )
        flat = np.concatenate([np.asarray(p).reshape(n, -1) for p in state.params], axis=1)
        values = [np.asarray(v) for v in (te_acc, te_loss, tr_acc, tr_loss)]
        for k in np.flatnonzero(which):
            rows["weights"].append(flat[k])
            rows["network"].append(k)
            rows["step"].append(epoch)
            for key, v in zip(keys[2:], values):
                rows[key].append(float(v[k]))

    for epoch in range(epochs + 1):
        alive = np.asarray(state.alive)
        newly_dead = (died == epoch - 1) & (epoch > 0)
        which = real & (newly_dead | (alive & (epoch in ckpts)))
        if which.any():
            record(epoch, which)
        if epoch == epochs or not (alive & real).any():
            break
        idx = np.zeros((s_max, n, bs), np.int32)
        mask = np.zeros((s_max, n, bs), np.float32)
        n_steps = np.zeros(n, np.int32)  # padding networks take no step
        for k, (sub, c) in enumerate(zip(subsets, configs)):
            if not real[k] or not alive[k]:
                continue
            batches = epoch_batches(sub, min(bs, len(sub)), c["random_seed"], epoch)
            idx[: len(batches), k, : batches.shape[1]] = batches
            mask[: len(batches), k, : batches.shape[1]] = 1.0
            n_steps[k] = len(batches)
        state = train_epoch(
            state,
            xtr,
            ytr,
            jnp.asarray(idx),
            jnp.asarray(mask),
            jnp.asarray(n_steps),
            lr,
            l2,
            rates,
            seeds,
            jnp.uint32(epoch),
            relu,
            dropout=use_dropout,
            act=act,
            chunk=chunk,
        )
        now_alive = np.asarray(state.alive)
        died[alive & ~now_alive] = epoch
    order = np.lexsort((np.asarray(rows["step"]), np.asarray(rows["network"])))
    out = {k: np.asarray(rows[k])[order] for k in keys}
    n_params = sum(int(np.prod(s)) for _, s in shapes)
    out["weights"] = np.asarray(rows["weights"], np.float32).reshape(-1, n_params)[order]
    return out
