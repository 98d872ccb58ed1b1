"""Pytrees on every backend: x, f(x), seeds and constants as nested dicts, lists, tuples and
namedtuples; every operator keeps the structure (Jacobians and Hessians in JAX's convention: the
output's structure of the input's structure). References are analytic."""

from __future__ import annotations

import collections
import math
import warnings

import numpy as np
import optree
import pytest
from _support import BACKENDS, assert_close, installed, tolerance

import abstractad as ad

Params = collections.namedtuple("Params", ["c", "D"])

A = np.array([0.5, -1.0, 2.0])
C = np.array(1.3)
D = np.array([[0.1, -0.7], [0.3, 1.4]])


def point(dtype=np.float64) -> dict:
    return {"a": A.astype(dtype), "b": Params(C.astype(dtype), D.astype(dtype))}


def scalar(p):
    """c sum(a³) + c sum(sin D)."""
    xp = ad.array_namespace(p["a"])
    c, d = p["b"]
    return c * xp.sum(p["a"] ** 3) + c * xp.sum(xp.sin(d))


def vector(p):
    """{"y": c a, "z": [sin(D) a[:2]]}."""
    xp = ad.array_namespace(p["a"])
    c, d = p["b"]
    return {"y": p["a"] * c, "z": [xp.matmul(xp.sin(d), p["a"][:2])]}


def grad_scalar(a, c, d) -> dict:
    return {"a": 3 * c * a**2, "b": Params(np.sum(a**3) + np.sum(np.sin(d)), c * np.cos(d))}


def hess_scalar(a, c, d) -> dict:
    """Blocks H[i][j] of shape leaf_i.shape + leaf_j.shape, in JAX's nesting."""
    dd = np.zeros((2, 2, 2, 2))
    for i, j in np.ndindex(2, 2):
        dd[i, j, i, j] = -c * np.sin(d[i, j])
    row_a = {"a": np.diag(6 * c * a), "b": Params(3 * a**2, np.zeros((3, 2, 2)))}
    row_c = {"a": 3 * a**2, "b": Params(np.array(0.0), np.cos(d))}
    row_d = {"a": np.zeros((2, 2, 3)), "b": Params(np.cos(d), dd)}
    return {"a": row_a, "b": Params(row_c, row_d)}


def jac_vector(a, c, d) -> dict:
    dz_dd = np.zeros((2, 2, 2))
    for i, k in np.ndindex(2, 2):
        dz_dd[i, i, k] = np.cos(d[i, k]) * a[k]
    dz_da = np.concatenate([np.sin(d), np.zeros((2, 1))], axis=1)
    return {
        "y": {"a": c * np.eye(3), "b": Params(a.copy(), np.zeros((3, 2, 2)))},
        "z": [{"a": dz_da, "b": Params(np.zeros(2), dz_dd)}],
    }


def contract(jac, v, out_tree, in_tree):
    """``J v`` from the JAX-nested blocks of J: for each output leaf, sum over input leaves."""
    blocks = optree.tree_leaves(jac)
    vs = optree.tree_leaves(v)
    outs = optree.tree_leaves(out_tree)
    k = len(vs)
    got = []
    for i, out in enumerate(outs):
        row = blocks[i * k : (i + 1) * k]
        got.append(sum(np.tensordot(b, x, axes=np.ndim(x)) for b, x in zip(row, vs)).reshape(np.shape(out)))
    return optree.tree_unflatten(optree.tree_structure(out_tree), got)


def assert_tree_close(got, want, rtol) -> None:
    """Same structure (container types and keys) and close leaves."""
    got_leaves, got_spec = optree.tree_flatten(got)
    want_leaves, want_spec = optree.tree_flatten(want)
    assert got_spec == want_spec, f"structure {got_spec} != {want_spec}"
    for g, w in zip(got_leaves, want_leaves):
        assert_close(np.asarray(g), w, rtol)


def second_order(backend_id: str):
    if backend_id == "complex-step":
        pytest.skip("a bare complex-step backend cannot nest itself for second order")
    return BACKENDS[backend_id]()


def _ref(p):
    return (np.asarray(p["a"], np.float64), np.asarray(p["b"].c, np.float64), np.asarray(p["b"].D, np.float64))


# ---------------------------------------------------------------------------- every operator


def test_gradient_and_value(backend_id: str) -> None:
    x = point()
    b = BACKENDS[backend_id]()
    tol = tolerance(backend_id, np.float64, 1)
    value, grad = ad.value_and_gradient(scalar, x, backend=b)
    assert_close(value, scalar(x), tol)
    assert_tree_close(grad, grad_scalar(*_ref(x)), tol)
    assert_tree_close(ad.gradient(scalar, x, backend=b), grad_scalar(*_ref(x)), tol)
    assert isinstance(grad["b"], Params)


def test_jvp_and_vjp_with_pytree_seeds(backend_id: str) -> None:
    x = point()
    b = BACKENDS[backend_id]()
    tol = tolerance(backend_id, np.float64, 1)
    rng = np.random.default_rng(1)
    v = optree.tree_map(lambda a: rng.standard_normal(np.shape(a)), x)
    y = vector(x)
    w = optree.tree_map(lambda a: rng.standard_normal(np.shape(a)), y)
    jac = jac_vector(*_ref(x))

    value, tangent = ad.value_and_jvp(vector, x, v, backend=b)
    assert_tree_close(value, y, tol)
    assert_tree_close(tangent, contract(jac, v, y, x), tol)
    assert_tree_close(ad.jvp(vector, x, v, backend=b), contract(jac, v, y, x), tol)

    # wᵀ J, leaf by leaf of x: sum over output leaves of the blocks contracted with w.
    blocks = optree.tree_leaves(jac)
    ws, xs = optree.tree_leaves(w), optree.tree_leaves(x)
    want = [
        sum(np.tensordot(wi, blocks[i * len(xs) + j], axes=np.ndim(wi)) for i, wi in enumerate(ws))
        for j in range(len(xs))
    ]
    want = optree.tree_unflatten(optree.tree_structure(x), [np.reshape(a, np.shape(leaf)) for a, leaf in zip(want, xs)])
    value, cotangent = ad.value_and_vjp(vector, x, w, backend=b)
    assert_tree_close(value, y, tol)
    assert_tree_close(cotangent, want, tol)
    assert_tree_close(ad.vjp(vector, x, w, backend=b), want, tol)


def test_jacobian_is_output_structure_of_input_structure(backend_id: str) -> None:
    x = point()
    b = BACKENDS[backend_id]()
    tol = tolerance(backend_id, np.float64, 1)
    value, jac = ad.value_and_jacobian(vector, x, backend=b)
    assert_tree_close(value, vector(x), tol)
    assert_tree_close(jac, jac_vector(*_ref(x)), tol)
    assert_tree_close(ad.jacobian(vector, x, backend=b, chunk_size=2), jac_vector(*_ref(x)), tol)


def test_hessian_hvp_and_value_gradient_and_hessian(backend_id: str) -> None:
    x = point()
    b = second_order(backend_id)
    tol = tolerance(backend_id, np.float64, 2)
    hess = hess_scalar(*_ref(x))
    assert_tree_close(ad.hessian(scalar, x, backend=b), hess, tol)
    value, grad, h = ad.value_gradient_and_hessian(scalar, x, backend=b)
    assert_close(value, scalar(x), tolerance(backend_id, np.float64, 1))
    assert_tree_close(grad, grad_scalar(*_ref(x)), tol)  # finite differences take it at the second-order step
    assert_tree_close(h, hess, tol)
    v = optree.tree_map(lambda a: np.full(np.shape(a), 0.5), x)
    assert_tree_close(ad.hvp(scalar, x, v, backend=b), contract(hess, v, x, x), tol)


def test_array_in_pytree_out_and_pytree_in_array_out(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    tol = tolerance(backend_id, np.float64, 1)
    a = A.copy()

    def split(z):  # one array in, a pytree out
        return {"sq": z**2, "pair": (z[0] * z[1], z[2:])}

    want = {"sq": np.diag(2 * a), "pair": (np.array([a[1], a[0], 0.0]), np.array([[0.0, 0.0, 1.0]]))}
    assert_tree_close(ad.jacobian(split, a, backend=b), want, tol)
    assert_tree_close(ad.jvp(split, a, np.ones(3), backend=b), optree.tree_map(lambda j: j @ np.ones(3), want), tol)
    w = {"sq": np.ones(3), "pair": (np.array(2.0), np.array([3.0]))}
    want_vjp = np.ones(3) @ want["sq"] + 2 * want["pair"][0] + 3 * want["pair"][1][0]
    assert_close(ad.vjp(split, a, w, backend=b), want_vjp, tol)

    def join(p):  # a pytree in, one array out
        return p[0] * p[1][0]

    x = [np.array([1.0, 2.0]), (np.array([3.0, 4.0]),)]
    assert_tree_close(ad.jacobian(join, x, backend=b), [np.diag([3.0, 4.0]), (np.diag([1.0, 2.0]),)], tol)


def test_derivative_of_a_pytree_valued_function(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    tol = tolerance(backend_id, np.float64, 1)

    def f(t):
        xp = ad.array_namespace(t)
        return {"s": xp.sin(t), "p": [t**3]}

    value, d = ad.value_and_derivative(f, 0.4, backend=b)
    assert_tree_close(value, {"s": math.sin(0.4), "p": [0.4**3]}, tol)
    assert_tree_close(d, {"s": math.cos(0.4), "p": [3 * 0.4**2]}, tol)


@pytest.mark.parametrize(
    "make",
    [
        lambda: [A.copy(), (C.copy(), D.copy())],  # list and tuple
        lambda: Params(C.copy(), D.copy()),  # namedtuple at the top
        lambda: collections.OrderedDict([("z", D.copy()), ("a", A.copy())]),  # insertion order kept
        lambda: {"a": A.copy(), "skip": None, "n": {"D": D.copy()}},  # None: an empty subtree, as in JAX
    ],
    ids=["list-tuple", "namedtuple", "ordereddict", "none"],
)
def test_containers(backend_id: str, make) -> None:
    x = make()
    b = BACKENDS[backend_id]()

    def f(p):
        leaves = [leaf for leaf in optree.tree_leaves(p)]
        xp = ad.array_namespace(leaves[0])
        return sum(xp.sum(leaf**2) for leaf in leaves)

    got = ad.gradient(f, x, backend=b)
    assert_tree_close(got, optree.tree_map(lambda a: 2 * a, x), tolerance(backend_id, np.float64, 1))
    assert type(got) is type(x)
    if isinstance(x, collections.OrderedDict):
        assert list(got) == ["z", "a"]


def test_pytree_constants(backend_id: str) -> None:
    b = BACKENDS[backend_id]()
    tol = tolerance(backend_id, np.float64, 1)
    consts = {"scale": np.array([1.0, 2.0, 3.0]), "order": 3, "name": "cube"}

    def f(x, k):
        xp = ad.array_namespace(x)
        assert k["name"] == "cube" and k["order"] == 3  # non-array leaves arrive unchanged
        return xp.sum(k["scale"] * x ** k["order"])

    assert_close(ad.gradient(f, A, consts, backend=b), 3 * consts["scale"] * A**2, tol)


# --------------------------------------------------------------- dtypes, libraries, errors


def test_mixed_dtypes_come_back_in_their_own(backend_id: str) -> None:
    if backend_id.startswith("finitediff-forward"):
        pytest.skip("one-sided differences in float32 are too coarse to compare")
    b = BACKENDS[backend_id]()
    x = {"single": A.astype(np.float32), "double": D.copy()}

    def f(p):
        xp = ad.array_namespace(p["double"])
        single, double = xp.sum(p["single"] ** 2), xp.sum(p["double"] ** 2)
        if ad._arrays.library_of(single) != "autograd":  # autograd promotes, and has no forward rule for astype
            single = xp.astype(single, double.dtype)
        return single + double

    got = ad.gradient(f, x, backend=b)
    assert got["single"].dtype == np.float32 and got["double"].dtype == np.float64
    assert_tree_close(got, {"single": 2 * A, "double": 2 * D}, tolerance(backend_id, np.float32, 1))


@pytest.mark.parametrize("library", ["torch", "jax", "tensorflow"])
def test_leaves_of_other_libraries_come_back_as_they_came(backend_id: str, library: str) -> None:
    if not installed(library):
        pytest.skip(f"{library} is not installed")
    b = BACKENDS[backend_id]()
    to = {
        "torch": lambda a: __import__("torch").tensor(a),
        "jax": lambda a: __import__("jax.numpy").numpy.asarray(a),
        "tensorflow": lambda a: __import__("tensorflow").constant(a),
    }[library]
    if library == "jax":
        import jax

        with jax.enable_x64(True):
            x = {"a": to(A), "b": Params(to(C), to(D))}
    else:
        x = {"a": to(A), "b": Params(to(C), to(D))}
    grad = ad.gradient(scalar, x, backend=b)
    for leaf in optree.tree_leaves(grad):
        assert ad._arrays.library_of(leaf) == library
        assert ad._arrays.dtype_name(leaf) == "float64"
    numpy_grad = optree.tree_map(lambda a: np.asarray(a), grad)
    assert_tree_close(numpy_grad, grad_scalar(A, C, D), tolerance(backend_id, np.float64, 1))


def test_bad_pytrees_raise_clear_errors_before_engine_work() -> None:
    x = point()
    calls = []

    def f(p):
        calls.append(1)
        return scalar(p)

    with pytest.raises(ValueError, match="structure of x"):
        ad.jvp(f, x, {"a": A}, backend="autograd")
    with pytest.raises(ValueError, match="shape"):
        ad.hvp(f, x, {"a": np.ones(2), "b": Params(np.ones(()), np.ones((2, 2)))}, backend="autograd")
    with pytest.raises(ValueError, match="not one array"):
        ad.jvp(f, x, np.ones(8), backend="autograd")
    with pytest.raises(TypeError, match=r"x\['b'\]\[0\].*int64"):
        ad.gradient(f, {"a": A, "b": (np.array(3), D)}, backend="autograd")
    with pytest.raises(ValueError, match="scalar x"):
        ad.derivative(f, x, backend="autograd")
    with pytest.raises(ValueError, match="without arrays"):
        ad.gradient(f, {"a": None}, backend="autograd")
    assert calls == []
    with pytest.raises(ValueError, match="cotangent w must have the structure"):
        ad.vjp(vector, x, {"y": np.ones(3)}, backend="autograd")
    with pytest.raises(ValueError, match="pytree"):
        ad.vjp(vector, x, np.ones(5), backend="autograd")
    with pytest.raises(ValueError, match="scalar"):
        ad.gradient(vector, x, backend="autograd")


def test_user_pytrees_are_not_mutated(backend_id: str) -> None:
    x = point()
    before = optree.tree_map(np.copy, x)
    ad.gradient(scalar, x, backend=BACKENDS[backend_id]())
    ad.hessian(scalar, x, backend=second_order(backend_id))
    assert_tree_close(x, before, 0.0)


@pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
@pytest.mark.parametrize("backend", ["jax", "torch", "autograd"])
def test_same_structure_as_jax(backend: str) -> None:
    """Our Jacobian and Hessian of pytrees have exactly the structure jax.jacobian/jax.hessian give."""
    if not installed(backend):
        pytest.skip(f"{backend} is not installed")
    import jax

    x = point()
    with jax.enable_x64(True):
        jx = optree.tree_map(jax.numpy.asarray, x, namespace="")
        want_jac = jax.jacobian(vector)(jx)
        want_hess = jax.hessian(scalar)(jx)
    got_jac = ad.jacobian(vector, x, backend=backend)
    got_hess = ad.hessian(scalar, x, backend=backend)
    assert jax.tree_util.tree_structure(got_jac) == jax.tree_util.tree_structure(want_jac)
    assert jax.tree_util.tree_structure(got_hess) == jax.tree_util.tree_structure(want_hess)
    for g, w in zip(jax.tree_util.tree_leaves(got_jac), jax.tree_util.tree_leaves(want_jac)):
        assert_close(g, np.asarray(w), 1e-10)
    for g, w in zip(jax.tree_util.tree_leaves(got_hess), jax.tree_util.tree_leaves(want_hess)):
        assert_close(g, np.asarray(w), 1e-10)


@pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
def test_jax_registered_dataclass_is_a_pytree() -> None:
    """A container only JAX knows (a registered dataclass) is flattened through jax.tree_util."""
    import dataclasses

    import jax

    @jax.tree_util.register_dataclass
    @dataclasses.dataclass
    class Layer:
        w: np.ndarray
        b: np.ndarray

    x = Layer(w=D.copy(), b=A[:2].copy())

    def f(p):
        xp = ad.array_namespace(p.w)
        return xp.sum(xp.matmul(p.w, p.b) ** 2)

    got = ad.gradient(f, x, backend="jax")
    assert isinstance(got, Layer)
    r = D @ x.b
    assert_close(got.w, 2 * np.outer(r, x.b), 1e-10)
    assert_close(got.b, 2 * D.T @ r, 1e-10)


@pytest.mark.parametrize("engine", ["jax", "torch", "tensorflow"])
def test_compiled_pytrees_do_not_retrace(engine: str) -> None:
    if not installed(engine):
        pytest.skip(f"{engine} is not installed")
    b = BACKENDS[f"{engine}-compiled"]()
    traces = []

    def traced() -> int:
        if engine == "torch":  # dynamo guards on a Python side effect, so count the frames it converts
            import torch

            return torch._dynamo.utils.counters["frames"]["total"]
        return len(traces)

    def f(p, k):
        if engine != "torch":
            traces.append(1)  # runs only while the engine traces
        return scalar(p) * k["scale"]

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback to eager
        for i in range(3):
            x = {"a": rng.standard_normal(3), "b": Params(rng.standard_normal(()), rng.standard_normal((2, 2)))}
            k = {"scale": np.array(1.0 + i)}
            got = ad.gradient(f, x, k, backend=b)
            want = optree.tree_map(lambda g, s=1.0 + i: g * s, grad_scalar(*_ref(x)))
            assert_tree_close(got, want, 1e-10)
            if i == 0:
                first = traced()
                assert first >= 1
    assert traced() == first, "new values of the same structure retraced"


# ---------------------------------------------------------------------------- lazy operators


def test_lazy_operators_act_on_flat_vectors_and_unflatten(backend_id: str) -> None:
    x = point()
    b = second_order(backend_id)
    tol = tolerance(backend_id, np.float64, 1)
    flat_x = np.concatenate([np.ravel(a) for a in optree.tree_leaves(x)])
    jac = jac_vector(*_ref(x))
    blocks = optree.tree_leaves(jac)
    dense = np.block([[np.reshape(blocks[i * 3 + j], (-1, [3, 1, 4][j])) for j in range(3)] for i in range(2)])

    J = ad.lazy_jacobian(vector, x, backend=b)
    assert J.shape == (5, 8)
    v = np.linspace(-1.0, 1.0, 8)
    assert_close(J @ v, dense @ v, tol)
    assert_close(J.T @ np.ones(5), dense.T @ np.ones(5), tol)
    assert_close(J.to_dense(), dense, tol)
    assert_close(J.flatten(x), flat_x, 0.0)
    assert_tree_close(J.unflatten(flat_x), x, 0.0)
    assert_tree_close(J.value, vector(x), tol)
    assert_tree_close(J @ J.unflatten(v), J.unflatten_output(dense @ v), tol)  # a pytree in, a pytree out
    w = J.unflatten_output(np.arange(5.0))
    assert_close(J.flatten_output(w), np.arange(5.0), 0.0)
    assert_tree_close(J.T @ w, J.unflatten(dense.T @ np.arange(5.0)), tol)
    with pytest.raises(ValueError, match="structure"):
        J @ {"a": A}

    H = ad.lazy_hessian(scalar, x, backend=b)
    hess = hess_scalar(*_ref(x))
    assert H.shape == (8, 8)
    assert_close(H @ v, ad.jacobian(lambda z: J.flatten(_grad_tree(z, x)), flat_x, backend="finitediff") @ v, 1e-5)
    assert_tree_close(H @ H.unflatten(v), contract(hess, H.unflatten(v), x, x), tolerance(backend_id, np.float64, 2))
    assert_tree_close(H.gradient(), grad_scalar(*_ref(x)), tol)


def _grad_tree(flat, like):
    leaves = optree.tree_leaves(like)
    cut = np.cumsum([0] + [np.size(a) for a in leaves])
    tree = optree.tree_unflatten(
        optree.tree_structure(like), [np.reshape(flat[s:e], np.shape(a)) for s, e, a in zip(cut[:-1], cut[1:], leaves)]
    )
    return grad_scalar(*_ref(tree))


def test_newton_step_on_a_pytree_with_cg(backend_id: str) -> None:
    """SciPy's cg on a lazy Hessian of a pytree: the solution, unflattened, is the Newton step."""
    scipy_linalg = pytest.importorskip("scipy.sparse.linalg")
    if backend_id.startswith("finitediff-forward"):
        pytest.skip("one-sided second differences are too coarse for a Newton step")
    b = second_order(backend_id)
    target = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "u": [np.array([0.5, -0.5, 1.0])]}
    weights = {"w": np.array([[1.0, 2.0], [3.0, 1.0]]), "u": [np.array([2.0, 1.0, 4.0])]}

    def f(p, t, k):
        xp = ad.array_namespace(p["w"])
        return xp.sum(k["w"] * (p["w"] - t["w"]) ** 2) + xp.sum(k["u"][0] * (p["u"][0] - t["u"][0]) ** 2)

    x = optree.tree_map(np.zeros_like, target)
    H = ad.lazy_hessian(f, x, target, weights, backend=b)
    g = H.flatten(H.gradient())
    step, info = scipy_linalg.cg(H, -g, rtol=1e-12, atol=0.0)
    assert info == 0
    new = optree.tree_map(lambda a, s: a + s, x, H.unflatten(step))
    assert_tree_close(new, target, tolerance(backend_id, np.float64, 2))


def test_check_cross_checks_pytrees_on_every_installed_engine() -> None:
    x = point()
    report = ad.check(scalar, x, operators=("gradient", "hessian", "hvp", "jvp", "vjp"))
    assert report.ok, str(report)
    assert {r.backend for r in report.rows} == set(ad.installed_backends())
    grad = np.concatenate([np.ravel(a) for a in optree.tree_leaves(grad_scalar(*_ref(x)))])
    wrong = ad.check(scalar, x, backends=["finitediff"], operators=("gradient",), reference={"gradient": grad + 1e-3})
    assert not wrong.ok  # the check can fail
    right = ad.check(vector, x, backends=["finitediff"], operators=("jacobian", "jvp", "vjp"))
    assert right.ok, str(right)
    assert next(r.note for r in ad.check(vector, x, backends=["finitediff"], operators=("gradient",)).rows).startswith(
        "skipped"
    )


@pytest.mark.skipif(not installed("torch"), reason="torch is not installed")
@pytest.mark.parametrize("mode", [None, "forward", "reverse"])
def test_torch_module_parameters_through_functional_call(mode) -> None:
    """The gradient of a module's loss w.r.t. dict(model.named_parameters()) equals loss.backward()'s,
    and the module, its parameters' values, requires_grad and .grad are left alone."""
    import torch
    from torch.func import functional_call

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)).double()
    X, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, dtype=torch.float64)

    def loss(params, X, y):
        return torch.mean((functional_call(model, params, (X,))[:, 0] - y) ** 2)

    reference = torch.mean((model(X)[:, 0] - y) ** 2)
    reference.backward()  # torch's own autograd: the independent reference
    want = {name: p.grad.clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = None
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    params = dict(model.named_parameters())
    value, grad = ad.value_and_gradient(loss, params, X, y, backend=ad.backends.Torch(mode=mode))
    assert list(grad) == list(params)
    assert_close(value.detach().numpy(), reference.detach().numpy(), 1e-12)
    for name in want:
        assert isinstance(grad[name], torch.Tensor) and grad[name].shape == params[name].shape
        assert_close(grad[name].detach().numpy(), want[name].numpy(), 1e-10)
    for name, p in model.named_parameters():
        assert p.requires_grad and p.grad is None
        assert torch.equal(p.detach(), before[name])
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("pair", [("jax", "torch"), ("torch", "tensorflow"), ("finitediff", "autograd")])
def test_second_order_across_engines_on_pytrees(pair) -> None:
    if not all(installed(e) for e in pair if e != "finitediff"):
        pytest.skip(f"needs {pair}")
    x = point()
    b = ad.backends.SecondOrder(*pair)
    tol = 1e-5 if "finitediff" in pair else 1e-10
    hess = hess_scalar(*_ref(x))
    assert_tree_close(ad.hessian(scalar, x, backend=b), hess, tol)
    v = optree.tree_map(lambda a: np.full(np.shape(a), 0.5), x)
    assert_tree_close(ad.hvp(scalar, x, v, backend=b), contract(hess, v, x, x), tol)
