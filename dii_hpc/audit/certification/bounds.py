"""Bound propagation through a torch classifier: interval bounds (IBP) and CROWN.

Why our own: ART 1.20's certification estimators (`interval`, `deep_z`) convert only the
direct children of a module and only Conv2d, Linear and ReLU (no Flatten, BatchNorm or
pooling, nothing nested), infer the reshape between them, print to stdout, leave forward
hooks on the user's module and bound Linf boxes only; auto_LiRPA 0.3 (the last on PyPI,
2022) pins torch<1.13 and does not import under torch 2.13 / numpy 2 (`numpy.lib.arraysetops`,
then `torch.onnx.symbolic_helper._set_opset_version`). Neither serves a user's plain model.

How: `network` traces the module with torch.fx into a chain of affine layers (Linear, Conv2d,
BatchNorm in eval, AvgPool2d, Flatten, Identity, Dropout in eval) and ReLUs, refusing any
other operation by name, and turns each run of affine layers into one explicit matrix
(forwarding the input basis once per model), so that IBP and CROWN are matrix products on
flat vectors. Everything is float64, so a margin certified positive is not a rounding
artefact. The input set is the norm ball intersected with the model's box
(``clip_values``); for L2 a linear bound is minimised over the ball (dual norm) and over the
enclosing box, and the larger of the two lower bounds is kept (both are sound).

``method="ibp"``: intervals block by block (each affine block bounded exactly over the box of
its input); ``"crown"``: linear relaxation of every ReLU, back-substituted to the input for
every layer (Zhang et al., 2018), intersected with IBP.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dii_hpc.errors import BadInput

METHODS = ("ibp", "crown")
#: Entries an affine block's matrix may have (a network past it is not "small").
MAX_MATRIX = 50_000_000
#: Floats one back-substitution may hold at once (samples x rows x inputs): samples chunked.
BUDGET = 20_000_000
_AFFINE = ("Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "AvgPool2d", "Flatten",
           "Identity", "Dropout")


class Unsupported(BadInput):
    """A layer bound propagation does not handle (its ``layer`` named)."""

    def __init__(self, layer: str, why: str = "") -> None:
        self.layer = layer
        super().__init__(f"interval_bounds: layer {layer} is not supported{why} (supported: "
                         "Linear, Conv2d, ReLU, Flatten, BatchNorm in eval, AvgPool2d, "
                         "Identity, Dropout)")


@dataclass(frozen=True)
class Step:
    """One traced operation: ``relu``, or ``affine`` with its function on batched tensors."""

    kind: str
    name: str
    fn: Callable[[Any], Any]
    in_shape: tuple[int, ...]


@dataclass
class Network:
    """The classifier as affine blocks ``z_i = W_i h_{i-1} + b_i`` on flat vectors with
    ``h_i = relu(z_i)`` between them (``h_{-1}`` the input); the last ``z`` the logits."""

    weights: list[Any]
    biases: list[Any]

    def logits(self, x: Any) -> Any:
        h = x.flatten(1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < len(self.weights) - 1:
                h = h.clamp(min=0)
        return h

    def widest(self) -> int:
        return max(max(w.shape) for w in self.weights)


# ---- tracing ---------------------------------------------------------------------------------
def network(module: Any, input_shape: tuple[int, ...]) -> Network:
    """The `Network` of ``module`` (a float64 copy in eval mode, on the module's device)."""
    steps, device = trace(module, input_shape)
    blocks: list[list[Step]] = [[]]
    for step in steps:
        if step.kind == "relu":
            blocks.append([])
        else:
            blocks[-1].append(step)
    weights: list[Any] = []
    biases: list[Any] = []
    for block in blocks:  # an empty block (ReLU first, last or twice) is the identity
        shape = (block[0].in_shape if block else input_shape if not weights
                 else (int(weights[-1].shape[0]),))
        w, b = _matrix(block, shape, device)
        weights.append(w)
        biases.append(b)
    return Network(weights, biases)


def _matrix(block: list[Step], shape: tuple[int, ...], device: Any) -> tuple[Any, Any]:
    """(W, b) of a run of affine steps on inputs of ``shape``, by forwarding the basis."""
    import torch

    d = math.prod(shape)
    if block and math.prod(_out(block, shape, device)) * d > MAX_MATRIX:
        raise Unsupported(block[0].name, f" here: its affine block maps {d} inputs to "
                          f"{math.prod(_out(block, shape, device))} outputs, past "
                          f"{MAX_MATRIX:,} weights (bound propagation is for small networks)")
    with torch.no_grad():
        z = torch.cat([torch.zeros((1, d), dtype=torch.float64, device=device),
                       torch.eye(d, dtype=torch.float64, device=device)]).reshape((d + 1, *shape))
        for step in block:
            z = step.fn(z)
        z = z.flatten(1)
    return (z[1:] - z[:1]).T.contiguous(), z[0].clone()


def _out(block: list[Step], shape: tuple[int, ...], device: Any) -> tuple[int, ...]:
    import torch

    with torch.no_grad():
        z = torch.zeros((1, *shape), dtype=torch.float64, device=device)
        for step in block:
            z = step.fn(z)
    return tuple(z.shape[1:])


def trace(module: Any, input_shape: tuple[int, ...]) -> tuple[list[Step], Any]:
    """The chain of `Step`s of ``module`` and its device, or `Unsupported` naming a layer."""
    import copy

    import torch
    from torch import fx
    from torch.fx.passes.shape_prop import ShapeProp

    model = copy.deepcopy(module).double().eval()
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    try:
        graph = fx.symbolic_trace(model)
    except Exception as err:  # torch.fx raises whatever a forward does on a Proxy
        raise Unsupported(type(model).__name__,
                          f" (torch.fx cannot trace its forward: {str(err).splitlines()[0]})"
                          ) from err
    ShapeProp(graph).propagate(torch.zeros((2, *input_shape), dtype=torch.float64,
                                           device=device))
    mods = dict(graph.named_modules())
    out: list[Step] = []
    last: Any = None
    for node in graph.graph.nodes:
        if node.op == "placeholder":
            last = node
        elif node.op == "output":
            if node.args[0] is not last:
                raise Unsupported("output", " (the model must return its logits alone)")
        elif not _is_size(node):
            out.append(_step(node, mods, last))
            last = node
    return out, device


def _is_size(node: Any) -> bool:
    """``x.size(0)`` / ``x.shape[0]``: what only feeds a flattening ``view``/``reshape``."""
    import operator

    return (node.op == "call_method" and node.target == "size") or (
        node.op == "call_function" and node.target in (operator.getitem, getattr))


def _shape(node: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in node.meta["tensor_meta"].shape[1:])


def _step(node: Any, mods: dict[str, Any], last: Any) -> Step:
    """The `Step` of one traced node that continues the chain from ``last``."""
    import torch
    import torch.nn.functional as F

    name = _name(node, mods)
    if [a for a in node.all_input_nodes if not _is_size(a)] != [last]:
        raise Unsupported(name, " (only a chain of layers, each on the previous output)")
    ins = _shape(last)
    if node.op == "call_module":
        m = mods[node.target]
        if isinstance(m, torch.nn.ReLU):
            return Step("relu", name, m, ins)
        _check_module(m, name)
        return Step("affine", name, m, ins)
    if node.target in (F.relu, torch.relu) or (node.op == "call_method"
                                               and node.target == "relu"):
        return Step("relu", name, torch.relu, ins)
    if _flattens(node, ins, _shape(node)):
        return Step("affine", name, lambda x: x.flatten(1), ins)
    raise Unsupported(name)


def _check_module(m: Any, name: str) -> None:
    """An affine module in eval mode (BatchNorm with running statistics, Flatten of all but
    the batch dimension)."""
    import torch

    kind = type(m).__name__
    if kind not in _AFFINE or not isinstance(m, getattr(torch.nn, kind)):
        raise Unsupported(name)
    if kind.startswith("BatchNorm") and m.running_var is None:
        raise Unsupported(name, " (no running statistics: not affine in eval)")
    if kind == "Flatten" and (m.start_dim, m.end_dim) != (1, -1):
        raise Unsupported(name, " (flattening other than all but the batch dimension)")


def _name(node: Any, mods: dict[str, Any]) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(mods[node.target]).__name__})"
    target = node.target if isinstance(node.target, str) else getattr(
        node.target, "__name__", str(node.target))
    return f"{node.name} ({target})"


def _flattens(node: Any, ins: tuple[int, ...], outs: tuple[int, ...]) -> bool:
    """``torch.flatten(x, 1)``, ``x.flatten(1)``, ``x.view(x.size(0), -1)``, ...: a
    per-sample reshape to one dimension (the traced shapes say so)."""
    import torch

    is_call = (node.op == "call_method" and node.target in ("flatten", "view", "reshape")) or (
        node.op == "call_function" and node.target in (torch.flatten, torch.reshape))
    return is_call and outs == (math.prod(ins),)


# ---- propagation -----------------------------------------------------------------------------
@dataclass
class Region:
    """The input set per sample: the ``norm`` ball of radius ``eps`` (B,) around ``x``
    (B, d flat) intersected with the box [lo, hi]."""

    x: Any
    eps: Any
    norm: float
    lo: float
    hi: float

    def box(self) -> tuple[Any, Any]:
        e = self.eps.unsqueeze(1)
        return (self.x - e).clamp(self.lo, self.hi), (self.x + e).clamp(self.lo, self.hi)


def lower_bounds(net: Network, region: Region, spec: Any, method: str) -> Any:
    """Lower bounds (B, S) of ``spec @ logits`` over ``region``; ``spec`` is (B, S, K)."""
    pre: list[tuple[Any, Any]] = []
    last = len(net.weights) - 1
    for i in range(last):
        pre.append(_pre_bounds(net, region, pre, i, method))
    if method == "crown" or not pre:
        a, c = backward(net, spec, pre, last)
        return concretize(a, c, region)
    h_lo, h_hi = pre[-1][0].clamp(min=0), pre[-1][1].clamp(min=0)
    a, c = spec @ net.weights[last], spec @ net.biases[last]
    return _over_box(a, c, h_lo, h_hi)


def _pre_bounds(net: Network, region: Region, pre: list[tuple[Any, Any]], i: int,
                method: str) -> tuple[Any, Any]:
    """Bounds of ``z_i``: exact for the first block, IBP from ``z_{i-1}``'s, and under CROWN
    back-substituted to the input (kept where tighter than IBP)."""
    import torch

    w, b = net.weights[i], net.biases[i]
    n = w.shape[0]
    if i == 0 or method == "crown":
        low = concretize(*backward(net, None, pre, i, len(region.x)), region)
        lo, hi = low[:, :n], -low[:, n:]
        if i == 0:
            return lo, hi
    h_lo, h_hi = pre[i - 1][0].clamp(min=0), pre[i - 1][1].clamp(min=0)
    mid, rad = (h_hi + h_lo) / 2 @ w.T + b, (h_hi - h_lo) / 2 @ w.abs().T
    if method == "ibp":
        return mid - rad, mid + rad
    return torch.maximum(lo, mid - rad), torch.minimum(hi, mid + rad)


def backward(net: Network, spec: Any, pre: list[tuple[Any, Any]], i: int, samples: int = 0
             ) -> tuple[Any, Any]:
    """(A, c) with ``spec @ z_i >= A x + c`` for every input whose ReLU inputs lie in
    ``pre``; ``spec`` (B, S, n_i), None for [I; -I] (both bounds of every z_i, for
    ``samples`` samples); A (B, S, d)."""
    import torch

    w, b = net.weights[i], net.biases[i]
    if spec is None:
        a = torch.cat([w, -w]).expand(samples, -1, -1)
        c = torch.cat([b, -b]).expand(samples, -1)
    else:
        a, c = spec @ w, spec @ b
    for j in range(i - 1, -1, -1):
        a, c = _relu_back(a, c, *pre[j])
        c = c + a @ net.biases[j]
        a = a @ net.weights[j]
    return a, c


def _relu_back(a: Any, c: Any, lo: Any, hi: Any) -> tuple[Any, Any]:
    """A lower bound of A relu(z), z in [lo, hi] (B, n): the chord above unstable neurons,
    slope 0 or 1 below (CROWN's choice: 1 when hi > -lo)."""
    import torch

    unstable = (lo < 0) & (hi > 0)
    active = (lo >= 0).to(hi.dtype)
    width = torch.where(unstable, hi - lo, torch.ones_like(hi))
    up_slope = torch.where(unstable, hi / width, active).unsqueeze(1)
    up_bias = torch.where(unstable, -lo * hi / width, torch.zeros_like(hi)).unsqueeze(1)
    low_slope = torch.where(unstable, (hi > -lo).to(hi.dtype), active).unsqueeze(1)
    neg = a.clamp(max=0)
    c = c + (neg * up_bias).sum(2)
    return a.clamp(min=0) * low_slope + neg * up_slope, c


def _over_box(a: Any, c: Any, lo: Any, hi: Any) -> Any:
    """min of A x + c over the box [lo, hi] (B, d)."""
    mid, rad = ((hi + lo) / 2).unsqueeze(2), ((hi - lo) / 2).unsqueeze(2)
    return (a @ mid).squeeze(2) - (a.abs() @ rad).squeeze(2) + c


def concretize(a: Any, c: Any, region: Region) -> Any:
    """min of A x + c over the region: over its box, and for L2 also over the ball; the
    larger of the two lower bounds."""
    out = _over_box(a, c, *region.box())
    if region.norm == 2:
        ball = (a @ region.x.unsqueeze(2)).squeeze(2) - region.eps.unsqueeze(1) * a.norm(dim=2)
        out = out.maximum(ball + c)
    return out
