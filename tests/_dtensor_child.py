"""One rank of tests/test_dtensor.py: torch DTensors on a 1-D CPU mesh over two gloo processes
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK set by the parent, torchrun style, on loopback).

Reverse mode (gradient, value_and_gradient, vjp; hvp as reverse-over-reverse) must take a dict of
DTensors leaf by leaf and give back DTensors with each input leaf's placements and the values of
the same computation on full tensors. What torch cannot do with DTensors (forward mode, matrices
over all leaves, conversion to another library) must be a TypeError that says what to pass instead.

Both ranks run the same checks in the same order (the collectives inside must match) and each
prints ``DTENSOR-RESULT {json}`` at the end; ``DTENSOR-CASE name`` lines on stderr tell the parent
how far a rank got if it crashes or hangs, and each failure is printed at once as
``DTENSOR-FAIL "text"`` (a DTensor handed to JAX through DLPack crashes the process today).
"""

from __future__ import annotations

import datetime
import faulthandler
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

MARK = "DTENSOR-RESULT "
FAIL = "DTENSOR-FAIL "


class Failures(list):
    """The failures so far, each also printed at once: a rank that crashes later still reports them."""

    def append(self, failure: str) -> None:
        super().append(failure)
        print(FAIL + json.dumps(failure), flush=True)


def main() -> dict:
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=40))
    try:
        return checks(rank, world)
    finally:
        dist.destroy_process_group()


def checks(rank: int, world: int) -> dict:
    from _support import raised
    from torch.distributed.device_mesh import DeviceMesh
    from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor

    import abstractad as ad

    failures = Failures()
    summary: dict[str, Any] = {"rank": rank, "torch": torch.__version__, "checked": [], "failures": failures}
    mesh = DeviceMesh("cpu", list(range(world)))
    torch.manual_seed(0)  # the same full tensors on every rank
    dt = torch.float64
    full = {
        "W1": torch.randn(8, 6, dtype=dt),
        "b1": torch.randn(6, dtype=dt),
        "W2": torch.randn(6, 4, dtype=dt),
        "b2": torch.randn(4, dtype=dt),
    }
    placements = {"W1": [Shard(0)], "b1": [Replicate()], "W2": [Shard(1)], "b2": [Shard(0)]}
    X, y = torch.randn(5, 8, dtype=dt), torch.randn(5, 4, dtype=dt)
    params = {k: distribute_tensor(v, mesh, placements[k]) for k, v in full.items()}
    # Constants are replicated DTensors: torch refuses to mix plain tensors with DTensors in one op.
    Xd, yd = (distribute_tensor(a, mesh, [Replicate()]) for a in (X, y))
    tangent_full = {k: torch.randn(v.shape, dtype=dt) for k, v in full.items()}
    tangent = {k: distribute_tensor(v, mesh, placements[k]) for k, v in tangent_full.items()}
    w_hidden_full = torch.randn(5, 6, dtype=dt)
    w_hidden = distribute_tensor(w_hidden_full, mesh, [Replicate()])

    def loss(p: dict, X: Any, y: Any) -> Any:
        h = torch.tanh(X @ p["W1"] + p["b1"])
        return ((h @ p["W2"] + p["b2"] - y) ** 2).mean()

    def hidden(p: dict, X: Any) -> Any:
        return torch.tanh(X @ p["W1"] + p["b1"])

    # References on full tensors, with torch.autograd.grad.
    def full_grads(fn: Callable, *consts: Any, w: Any = None, create_graph: bool = False) -> dict:
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in full.items()}
        out = fn(leaves, *consts)
        gs = torch.autograd.grad(out, list(leaves.values()), w, create_graph=create_graph, allow_unused=True)
        return {k: torch.zeros_like(full[k]) if g is None else g for k, g in zip(leaves, gs)}

    grad_ref = full_grads(loss, X, y)
    value_ref = loss(full, X, y)
    vjp_hidden_ref = full_grads(hidden, X, w=w_hidden_full)

    def hvp_full() -> dict:
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in full.items()}
        gs = torch.autograd.grad(loss(leaves, X, y), list(leaves.values()), create_graph=True)
        dot = sum((g * tangent_full[k]).sum() for g, k in zip(gs, leaves))
        return dict(zip(leaves, torch.autograd.grad(dot, list(leaves.values()))))

    hvp_ref = hvp_full()

    # torch.autograd.grad on the same DTensors: the values must agree with it too (its placements
    # need not: torch gives W1's gradient back replicated, and we must give it back Shard(0)).
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    native = dict(zip(leaves, torch.autograd.grad(loss(leaves, Xd, yd), list(leaves.values()))))
    summary["torch_autograd_placements"] = {k: str(tuple(g.placements)) for k, g in native.items()}

    def check_tree(name: str, got: Any, want: dict, scale: float = 1.0) -> None:
        if not isinstance(got, dict) or set(got) != set(want):
            failures.append(f"{name}: expected a dict with keys {sorted(want)}, got {type(got).__name__} {got!r:.200}")
            return
        for k in want:
            g = got[k]
            at = f"{name}: [{k!r}]"
            if not isinstance(g, DTensor):
                failures.append(f"{at}: a {type(g).__module__}.{type(g).__name__}, not a DTensor")
                continue
            if tuple(g.placements) != tuple(params[k].placements):
                failures.append(
                    f"{at}: placements {tuple(g.placements)}, not the input's {tuple(params[k].placements)}"
                )
            if g.device_mesh != mesh:
                failures.append(f"{at}: on {g.device_mesh}, not on the input's {mesh}")
            if g.dtype != dt or tuple(g.shape) != tuple(full[k].shape):
                failures.append(f"{at}: {g.dtype} {tuple(g.shape)}, not {dt} {tuple(full[k].shape)}")
                continue
            value = g.full_tensor()
            err = float((value - scale * want[k]).abs().max())
            if err > 1e-10:
                failures.append(f"{at}: max error {err:.3g} against the full-tensor reference")
            err_native = float((value - scale * native[k].full_tensor()).abs().max()) if want is grad_ref else 0.0
            if err_native > 1e-10:
                failures.append(f"{at}: max error {err_native:.3g} against torch.autograd.grad on the DTensors")

    def check_value(name: str, got: Any) -> None:
        if not isinstance(got, torch.Tensor):
            failures.append(f"{name}: value is a {type(got).__name__}, not a torch tensor")
            return
        value = got.full_tensor() if isinstance(got, DTensor) else got
        err = float((value - value_ref).abs().max())
        if err > 1e-10:
            failures.append(f"{name}: value off by {err:.3g}")

    def run(name: str, thunk: Callable[[], Any]) -> Any:
        print(f"DTENSOR-CASE {name}", file=sys.stderr, flush=True)
        summary["checked"].append(name)
        try:
            return thunk()
        except Exception as e:
            failures.append(f"{name}: {raised(e)}")
            return None

    torch_b = "torch"
    reverse = ad.backends.Torch(mode="reverse")

    # ------------------------------------------------------------------ reverse mode: must work
    got = run("gradient", lambda: ad.gradient(loss, params, Xd, yd, backend=torch_b))
    if got is not None:
        check_tree("gradient", got, grad_ref)
    got = run("gradient Torch(mode='reverse')", lambda: ad.gradient(loss, params, Xd, yd, backend=reverse))
    if got is not None:
        check_tree("gradient Torch(mode='reverse')", got, grad_ref)
    got = run("value_and_gradient", lambda: ad.value_and_gradient(loss, params, Xd, yd, backend=torch_b))
    if got is not None:
        check_value("value_and_gradient", got[0])
        check_tree("value_and_gradient", got[1], grad_ref)
    got = run("vjp(scalar f, w=0.7)", lambda: ad.vjp(loss, params, 0.7, Xd, yd, backend=torch_b))
    if got is not None:
        check_tree("vjp(scalar f, w=0.7)", got, grad_ref, 0.7)
    w_scalar = distribute_tensor(torch.tensor(0.7, dtype=dt), mesh, [Replicate()])
    got = run("vjp(scalar f, w=DTensor)", lambda: ad.vjp(loss, params, w_scalar, Xd, yd, backend=torch_b))
    if got is not None:
        check_tree("vjp(scalar f, w=DTensor)", got, grad_ref, 0.7)
    got = run("vjp(vector f, w=DTensor)", lambda: ad.vjp(hidden, params, w_hidden, Xd, backend=torch_b))
    if got is not None:
        check_tree("vjp(vector f, w=DTensor)", got, vjp_hidden_ref)
    got = run("value_and_vjp(vector f)", lambda: ad.value_and_vjp(hidden, params, w_hidden, Xd, backend=torch_b))
    if got is not None:
        check_tree("value_and_vjp(vector f)", got[1], vjp_hidden_ref)
    got = run(
        "gradient Torch(compile='aot_eager')",
        lambda: ad.gradient(loss, params, Xd, yd, backend=ad.backends.Torch(compile="aot_eager")),
    )
    if got is not None:
        check_tree("gradient Torch(compile='aot_eager')", got, grad_ref)
    got = run(
        "prepare(gradient)", lambda: ad.prepare("gradient", loss, params, Xd, yd, backend=torch_b)(params, Xd, yd)
    )
    if got is not None:
        check_tree("prepare(gradient)", got, grad_ref)
    got = run("hvp Torch(mode='reverse')", lambda: ad.hvp(loss, params, tangent, Xd, yd, backend=reverse))
    if got is not None:
        check_tree("hvp Torch(mode='reverse')", got, hvp_ref)

    # hvp in the default mode is forward-over-reverse, which torch cannot do on DTensors: either the
    # backend takes reverse-over-reverse for them, or it refuses with the TypeError below.
    print("DTENSOR-CASE hvp (default mode)", file=sys.stderr, flush=True)
    summary["checked"].append("hvp (default mode)")
    try:
        got = ad.hvp(loss, params, tangent, Xd, yd, backend=torch_b)
    except Exception as e:
        check_refusal("hvp (default mode)", e, "hvp", failures)
    else:
        check_tree("hvp (default mode)", got, hvp_ref)

    # ------------------------------------------------------------------ refused: a clear TypeError
    refused: list[tuple[str, str, Callable[[], Any]]] = [
        ("jvp", "jvp", lambda: ad.jvp(loss, params, tangent, Xd, yd, backend=torch_b)),
        ("jvp(vector f)", "jvp", lambda: ad.jvp(hidden, params, tangent, Xd, backend=torch_b)),
        (
            "gradient Torch(mode='forward')",
            "gradient",
            lambda: ad.gradient(loss, params, Xd, yd, backend=ad.backends.Torch(mode="forward")),
        ),
        ("jacobian", "jacobian", lambda: ad.jacobian(hidden, params, Xd, backend=torch_b)),
        ("hessian", "hessian", lambda: ad.hessian(loss, params, Xd, yd, backend=torch_b)),
        ("gradient backend='finitediff'", "gradient", lambda: ad.gradient(loss, params, Xd, yd, backend="finitediff")),
    ]
    if importlib.util.find_spec("jax") is not None:  # last: today DLPack hands JAX a DTensor's bogus buffer
        refused.append(("gradient backend='jax'", "gradient", lambda: ad.gradient(loss, params, Xd, yd, backend="jax")))
    for name, operator, thunk in refused:
        print(f"DTENSOR-CASE {name}", file=sys.stderr, flush=True)
        summary["checked"].append(name)
        try:
            got = thunk()
        except Exception as e:
            check_refusal(name, e, operator, failures)
        else:
            failures.append(f"{name}: returned {type(got).__name__} instead of raising the DTensor TypeError")

    # ------------------------------------------------------------------ nothing of the user's touched
    for k, v in params.items():
        if v.requires_grad or v.grad is not None or tuple(v.placements) != tuple(placements[k]):
            failures.append(f"inputs: params[{k!r}] was changed: requires_grad={v.requires_grad}, grad={v.grad}")
        if not torch.equal(v.full_tensor(), full[k]):
            failures.append(f"inputs: params[{k!r}]'s values changed")
    return summary


def check_refusal(name: str, e: Exception, operator: str, failures: list[str]) -> None:
    """The refusal we want: a TypeError naming DTensor and the operator, that says what to pass instead."""
    msg = str(e)
    first = msg.splitlines()[0][:300] if msg else ""
    if not isinstance(e, TypeError):
        failures.append(f"{name}: raised {type(e).__name__} ({first}), not the DTensor TypeError")
        return
    missing = [
        part
        for part, ok in (
            ("'DTensor'", "DTensor" in msg),
            (f"the operator {operator!r}", operator in msg),
            ("'full_tensor()'", "full_tensor()" in msg),
            ("a reverse-mode way out (gradient or vjp)", "gradient" in msg or "vjp" in msg),
        )
        if not ok
    ]
    if missing:
        failures.append(f"{name}: the TypeError does not name {', '.join(missing)}: {first}")


if __name__ == "__main__":
    faulthandler.enable()  # a crash in native code shows its Python stack in the parent's message
    try:
        result = main()
    except Exception:
        result = {"rank": os.environ.get("RANK"), "failures": []}
        Failures().append("setup raised:\n" + traceback.format_exc()[-3000:])
    print(MARK + json.dumps(result), flush=True)
