"""The DLR losses with a hand-written gradient (torch_engine/dlr.py) give the bits of the
autograd formulation AutoAttack and ART write (sort, index, divide), for one graph node.

Exact equality is the promise here, not a float accident: both sides run on the same CPU
in this process, the gradient entries are the same correctly rounded IEEE operations
(divide, multiply, negate, at most two terms summed per entry) and the top logits are
selections, so no tolerance is needed on any machine."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dii_hpc.audit.evasion.torch_engine.dlr import dlr, dlr_targeted  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def autoattack_dlr(z, y):
    zs, order = z.sort(dim=1)
    top_is_y = (order[:, -1] == y).float()
    u = torch.arange(len(z))
    return -(z[u, y] - zs[:, -2] * top_is_y - zs[:, -1] * (1.0 - top_is_y)) / (
        zs[:, -1] - zs[:, -3] + 1e-12)


def autoattack_dlr_targeted(z, y, y_target):
    zs = z.sort(dim=1)[0]
    u = torch.arange(len(z))
    return -(z[u, y] - z[u, y_target]) / (zs[:, -1] - 0.5 * (zs[:, -3] + zs[:, -4]) + 1e-12)


def art_dlr(z, y):
    order = torch.argsort(z, dim=1)
    top = order[:, -1]
    other = torch.where(top != y, top, order[:, -2])
    u = torch.arange(len(z))
    return -(z[u, y] - z[u, other]) / (z[u, top] - z[u, order[:, -3]])


def value_and_grad(fn, z, *args, reduce=lambda v: v.sum()):
    leaf = z.clone().requires_grad_(True)
    loss = fn(leaf, *args)
    (g,) = torch.autograd.grad(reduce(loss), [leaf])
    return loss.detach(), g


def cases(dtype):
    """Logits over six orders of magnitude, with y on top (a right prediction), y second,
    third and anywhere, and targets anywhere but y."""
    gen = torch.Generator().manual_seed(7)
    for k in range(40):
        n, c = 64, (10, 4, 100)[k % 3]
        z = (torch.randn(n, c, generator=gen) * 10.0 ** (k % 7 - 3)).to(dtype)
        y = torch.randint(0, c, (n,), generator=gen)
        y[:8] = z[:8].argmax(1)
        y[8:16] = z[8:16].argsort(1)[:, -2]
        y[16:24] = z[16:24].argsort(1)[:, -3]
        y_target = (y + torch.randint(1, c, (n,), generator=gen)) % c
        yield z, y, y_target


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_the_losses_and_their_gradients_are_the_autograd_bits(dtype, reduce):
    red = {"sum": lambda v: v.sum(), "mean": lambda v: v.mean()}[reduce]
    for z, y, t in cases(getattr(torch, dtype)):
        pairs = [(autoattack_dlr, dlr, (y,)),
                 (autoattack_dlr_targeted, dlr_targeted, (y, t)),
                 (art_dlr, lambda a, b: dlr(a, b, eps=0.0), (y,))]
        for ref, ours, args in pairs:
            lr, gr = value_and_grad(ref, z, *args, reduce=red)
            lo, go = value_and_grad(ours, z, *args, reduce=red)
            assert torch.equal(lr, lo)
            assert torch.equal(gr, go)


def test_a_tie_at_the_top_keeps_the_loss_and_the_gradient_total():
    """Tied top logits: the loss is the same and the gradient may go to either tied class
    (as another sort would route it), so each row's gradient sums to the same."""
    z = torch.tensor([[2.0, 2.0, 1.0, 0.0], [3.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, -1.0]])
    y = torch.tensor([0, 1, 2])
    lr, gr = value_and_grad(autoattack_dlr, z, y)
    lo, go = value_and_grad(dlr, z, y)
    assert torch.equal(lr, lo)
    assert torch.allclose(gr.sum(1), go.sum(1), atol=1e-6)


def test_the_loss_is_one_node_of_the_graph_and_runs_without_one():
    z = torch.randn(5, 10, requires_grad=True)
    y = torch.arange(5)
    loss = dlr(z, y)
    nodes = [type(f).__name__ for f, _ in loss.grad_fn.next_functions if f is not None]
    assert nodes == ["AccumulateGrad"]
    with torch.no_grad():
        assert torch.equal(dlr(z, y), loss.detach())
        assert dlr(z, y).grad_fn is None
