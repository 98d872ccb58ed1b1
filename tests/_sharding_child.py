"""The child process of tests/test_sharding.py: JAX with 4 host devices (XLA_FLAGS, set by the parent
before JAX is imported). Runs every first- and second-order operator on a sharded params pytree, in
every way of calling it, and prints one line ``SHARDING-RESULT {json}``: what was checked and, leaf by
leaf, what failed. Usage: ``python tests/_sharding_child.py auto|explicit``.

"auto": a mesh of Auto axes (plain ``NamedSharding`` + ``device_put``): JAX itself does not always
keep a gradient's sharding here (eager ``jax.grad`` gathers W1), so called eagerly, compiled or
prepared, results must be put back on their input leaf's sharding by the library; inside the user's
own ``jax.jit`` tracers carry no sharding, and results must be sharded as the same pure-JAX program's.
"explicit": a mesh of Explicit axes (sharding in the types): JAX keeps every sharding itself, and so
must we, in every way of calling.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _support import raised
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import abstractad as ad

MARK = "SHARDING-RESULT "
SPECS = {  # leaf -> (PartitionSpec, shape): sharded on either axis, replicated, a sharded vector
    "W1": (P("d", None), (8, 16)),
    "b1": (P(), (16,)),
    "W2": (P(None, "d"), (16, 4)),
    "b2": (P("d"), (4,)),
}


def loss(p: dict, X: Any, y: Any) -> Any:
    h = jnp.tanh(X @ p["W1"] + p["b1"])
    return jnp.mean((h @ p["W2"] + p["b2"] - y) ** 2)


def act(p: dict, X: Any, y: Any) -> dict:
    """Elementwise in each leaf: f(x) has x's structure, and each output leaf its input leaf's sharding."""
    return {k: jnp.tanh(v) * 2.0 + v**2 for k, v in p.items()}


def hvp_ref(p: dict, t: dict, X: Any, y: Any) -> dict:
    return jax.jvp(lambda q: jax.grad(loss)(q, X, y), (p,), (t,))[1]


# name -> (ad operator, f, seed names, reference(p, *seeds, X, y), which results are in x's structure)
# A result "in" x's structure is compared leaf by leaf with x's shardings; a "value" only in value.
OPERATORS: dict[str, tuple[str, Callable, tuple[str, ...], Callable, tuple[str, ...]]] = {
    "gradient": ("gradient", loss, (), lambda p, X, y: jax.grad(loss)(p, X, y), ("in",)),
    "value_and_gradient": (
        "value_and_gradient",
        loss,
        (),
        lambda p, X, y: jax.value_and_grad(loss)(p, X, y),
        ("value", "in"),
    ),
    "vjp(scalar w)": ("vjp", loss, ("w",), lambda p, w, X, y: jax.vjp(lambda q: loss(q, X, y), p)[1](w)[0], ("in",)),
    "vjp(pytree w)": ("vjp", act, ("wt",), lambda p, w, X, y: jax.vjp(lambda q: act(q, X, y), p)[1](w)[0], ("in",)),
    "jvp(pytree v)": ("jvp", act, ("t",), lambda p, t, X, y: jax.jvp(lambda q: act(q, X, y), (p,), (t,))[1], ("in",)),
    "jvp(scalar f)": (
        "jvp",
        loss,
        ("t",),
        lambda p, t, X, y: jax.jvp(lambda q: loss(q, X, y), (p,), (t,))[1],
        ("value",),
    ),
    "hvp": ("hvp", loss, ("t",), hvp_ref, ("in",)),
}
WAYS = ("eager", "compiled", "prepared", "user_jit")


def spec_of(s: Any) -> str:
    return str(getattr(s, "spec", s))


def main(mode: str) -> dict:
    summary: dict[str, Any] = {"mode": mode, "jax": jax.__version__, "devices": jax.device_count(), "checked": 0}
    failures: list[str] = []
    summary["failures"] = failures
    if jax.device_count() != 4:
        failures.append(f"setup: {jax.device_count()} devices, not 4: XLA_FLAGS did not reach the child")
        return summary
    if mode == "explicit":
        AxisType = getattr(jax.sharding, "AxisType", None)
        if AxisType is None or not hasattr(jax, "set_mesh"):
            summary["skip"] = f"JAX {jax.__version__} has no Explicit mesh axes"
            return summary
        mesh = jax.make_mesh((4,), ("d",), axis_types=(AxisType.Explicit,))
        jax.set_mesh(mesh)
    else:
        mesh = jax.sharding.Mesh(np.array(jax.devices()).reshape(4), ("d",))

    rng = np.random.default_rng(0)

    def sharded(scale: float = 1.0) -> dict:
        return {
            k: jax.device_put((scale * rng.standard_normal(shape)).astype(np.float32), NamedSharding(mesh, spec))
            for k, (spec, shape) in SPECS.items()
        }

    params, tangent, cotangent = sharded(0.5), sharded(), sharded()
    X = jnp.asarray(rng.standard_normal((32, 8)), dtype=jnp.float32)
    y = jnp.asarray(rng.standard_normal((32, 4)), dtype=jnp.float32)
    seeds_by_name = {"w": jnp.asarray(0.7, dtype=jnp.float32), "t": tangent, "wt": cotangent}
    for k, a in params.items():  # the test's own premise
        assert a.sharding.is_equivalent_to(NamedSharding(mesh, SPECS[k][0]), a.ndim), (k, a.sharding)

    compiled = ad.backends.Jax(compile=True)
    for name, (op_name, f, seed_names, ref, kinds) in OPERATORS.items():
        op = getattr(ad, op_name)
        seeds = tuple(seeds_by_name[s] for s in seed_names)
        want = ref(params, *seeds, X, y)
        want_jit = jax.jit(ref)(params, *seeds, X, y)  # pure JAX inside jit: the sharding bar there
        for way in WAYS:
            where = f"{mode}/{name}/{way}"
            try:
                if way == "eager":
                    got = op(f, params, *seeds, X, y, backend="jax")
                elif way == "compiled":
                    got = op(f, params, *seeds, X, y, backend=compiled)
                elif way == "prepared":
                    got = ad.prepare(op_name, f, params, *seeds, X, y, backend=compiled)(params, *seeds, X, y)
                else:

                    def user(p: Any, s: tuple, X: Any, y: Any, op: Callable = op, f: Callable = f) -> Any:
                        return op(f, p, *s, X, y, backend="jax")

                    got = jax.jit(user)(params, seeds, X, y)
            except Exception as e:
                failures.append(f"{where}: {raised(e)}")
                continue
            results, refs, refs_jit = (got, want, want_jit) if len(kinds) > 1 else ((got,), (want,), (want_jit,))
            for kind, r, w, wj in zip(kinds, results, refs, refs_jit):
                failures.extend(check(where, kind, r, w, wj, params, mode == "auto" and way == "user_jit"))
            summary["checked"] += 1
    return summary


def check(where: str, kind: str, got: Any, want: Any, want_jit: Any, params: dict, as_jax: bool) -> list[str]:
    """Failures of one result: structure, type, dtype, values and (for results in x's structure)
    sharding, leaf by leaf. `as_jax`: the sharding bar is pure JAX's own under jit, not the input's."""
    out: list[str] = []
    if kind == "value":
        leaves = [("", got, want, want_jit)]
    else:
        got_leaves, got_def = jax.tree_util.tree_flatten_with_path(got)
        want_leaves, want_def = jax.tree_util.tree_flatten(want)
        if got_def != want_def:
            return [f"{where}: structure {got_def} != {want_def}"]
        leaves = [
            (jax.tree_util.keystr(path), g, w, wj)
            for (path, g), w, wj in zip(got_leaves, want_leaves, jax.tree_util.tree_leaves(want_jit))
        ]
    for path, g, w, wj in leaves:
        at = f"{where}: {kind}{path}"
        if not isinstance(g, jax.Array):
            out.append(f"{at}: a {type(g).__module__}.{type(g).__name__}, not a jax.Array")
            continue
        if g.dtype != w.dtype:
            out.append(f"{at}: dtype {g.dtype} != {w.dtype}")
        if g.shape != w.shape:
            out.append(f"{at}: shape {g.shape} != {w.shape}")
            continue
        err = float(np.max(np.abs(np.asarray(g, np.float64) - np.asarray(w, np.float64)), initial=0.0))
        scale = max(1.0, float(np.max(np.abs(np.asarray(w, np.float64)), initial=0.0)))
        if err > 1e-5 * scale:
            out.append(f"{at}: max error {err:.3g} against the JAX reference (scale {scale:.3g})")
        if kind != "in":
            continue
        leaf = params[path.strip("[]'\"")]
        bar = wj.sharding if as_jax else leaf.sharding
        if not g.sharding.is_equivalent_to(bar, g.ndim):
            what = "pure JAX's under jit" if as_jax else "its input leaf's"
            out.append(f"{at}: sharding {spec_of(g.sharding)} is not {what} {spec_of(bar)}")
    return out


if __name__ == "__main__":
    try:
        result = main(sys.argv[1] if len(sys.argv) > 1 else "auto")
    except Exception:  # set-up itself failed: the parent shows this
        result = {"failures": ["setup raised:\n" + traceback.format_exc()[-3000:]], "checked": 0}
    print(MARK + json.dumps(result), flush=True)
