"""The PyTorch engine: arrays in and out, grad modes, the user's tensors untouched, torch.func, compile=True, CUDA."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support import A, V, W, X, assert_close, f, g, grad_f, hess_f, jac_g

import abstractad as ad
from abstractad._backend import COMPILED
from abstractad.testing import scenarios

torch = pytest.importorskip("torch")
Torch = ad.backends.Torch
EAGER = [Torch(), Torch(mode="forward"), Torch(mode="reverse")]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def tol(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def numpy_of(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def all_operators(backend, x, a, v, w) -> dict:
    """Every operator on f and g at `x` (any library), with the float64 NumPy reference of each."""
    return {
        "gradient": (ad.gradient(f, x, backend=backend), grad_f(X)),
        "hessian": (ad.hessian(f, x, backend=backend), hess_f(X)),
        "hvp": (ad.hvp(f, x, v, backend=backend), hess_f(X) @ V),
        "jacobian": (ad.jacobian(g, x, a, backend=backend), jac_g(X, A)),
        "jvp": (ad.jvp(g, x, v, a, backend=backend), jac_g(X, A) @ V),
        "vjp": (ad.vjp(g, x, w, a, backend=backend), W @ jac_g(X, A)),
    }


def grad_state() -> tuple[bool, bool]:
    return torch.is_grad_enabled(), torch.is_inference_mode_enabled()


# ---------------------------------------------------------------------------- NumPy in, NumPy out


def _scenario_checks(s, backend) -> list:
    v, w = s.seeds()
    checks = [
        ("jvp", lambda: ad.jvp(s.f, s.x, v, *s.args, backend=backend), s.jvp(v)),
        ("vjp", lambda: ad.vjp(s.f, s.x, w, *s.args, backend=backend), s.vjp(w)),
        ("jacobian", lambda: ad.jacobian(s.f, s.x, *s.args, backend=backend), s.jacobian),
    ]
    if s.scalar_out and not s.scalar_in:
        checks += [
            ("gradient", lambda: ad.gradient(s.f, s.x, *s.args, backend=backend), s.gradient),
            ("hessian", lambda: ad.hessian(s.f, s.x, *s.args, backend=backend), s.hessian),
            ("hvp", lambda: ad.hvp(s.f, s.x, v, *s.args, backend=backend), s.hvp(v)),
        ]
    if s.scalar_in:
        checks += [
            ("derivative", lambda: ad.derivative(s.f, s.x, *s.args, backend=backend), s.jacobian),
            ("second_derivative", lambda: ad.second_derivative(s.f, s.x, *s.args, backend=backend), s.second),
        ]
    return checks


@pytest.mark.parametrize("backend", EAGER, ids=repr)
@pytest.mark.parametrize("s", scenarios(), ids=lambda s: s.name)
def test_numpy_in_numpy_out(backend, s) -> None:
    dtype = np.asarray(s.x).dtype
    for name, run, want in _scenario_checks(s, backend):
        got = run()
        assert isinstance(got, (np.ndarray, np.generic)) and not isinstance(got, torch.Tensor), (name, type(got))
        assert got.dtype == dtype, (name, got.dtype)
        assert_close(got, want, tol(dtype))
        assert_close(run(), want, tol(dtype))  # a second call gives the same answer


def _compiled(call):
    """`call()` with no fallback to eager: a compile failure shows as a warning, turned into a failure here."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = call()
    fallbacks = [str(w.message) for w in record if "torch.compile failed" in str(w.message)]
    assert not fallbacks, fallbacks
    return out


def test_numpy_in_numpy_out_compiled() -> None:
    # torch.compile takes seconds per operator: few compiled calls in this file.
    x = X.astype(np.float32)
    got = _compiled(lambda: ad.gradient(f, x, backend=Torch(compile=True)))
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    assert_close(got, grad_f(X), tol(np.float32))


def test_compiled_reverse_jacobian_does_not_fall_back() -> None:
    x, a = X.astype(np.float32), A.astype(np.float32)
    got = _compiled(lambda: ad.jacobian(g, x, a, backend=Torch(compile=True)))
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    assert_close(got, jac_g(X, A), tol(np.float32))


# ------------------------------------------------------------------ torch in, torch out; other libraries


@pytest.mark.parametrize("backend", [*EAGER, Torch(device="cpu")], ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_torch_in_torch_out(backend, dtype) -> None:
    x, a, v, w = (torch.tensor(z, dtype=dtype) for z in (X, A, V, W))
    for name, (got, want) in all_operators(backend, x, a, v, w).items():
        assert isinstance(got, torch.Tensor), name
        assert got.dtype == dtype and got.device == x.device, (name, got.dtype, got.device)
        assert_close(numpy_of(got), want, 1e-5 if dtype == torch.float32 else 1e-12)


def test_zero_dim_tensor_and_mixed_seed_library() -> None:
    t = torch.tensor(0.3, dtype=torch.float64)
    d = ad.derivative(lambda z: torch.exp(z) * z, t, backend="torch")
    assert isinstance(d, torch.Tensor) and d.shape == () and d.dtype == torch.float64
    assert_close(numpy_of(d), 1.3 * np.exp(0.3), 1e-12)
    # NumPy seeds with a float32 tensor x: the result follows x.
    x = torch.tensor(X, dtype=torch.float32)
    out = ad.jvp(g, x, V, torch.tensor(A, dtype=torch.float32), backend="torch")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert_close(numpy_of(out), jac_g(X, A) @ V, 1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jax_in_jax_out(dtype) -> None:
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        x, a, v, w = (jax.numpy.asarray(z, dtype=dtype) for z in (X, A, V, W))
    for name, (got, want) in all_operators(Torch(), x, a, v, w).items():
        assert isinstance(got, jax.Array), (name, type(got))
        assert got.dtype == dtype, (name, got.dtype)
        assert_close(np.asarray(got), want, tol(dtype))
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("backend", EAGER, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensorflow_in_tensorflow_out(backend, dtype) -> None:
    tf = pytest.importorskip("tensorflow")
    x, v, w = (tf.constant(z.astype(dtype)) for z in (X, V, W))
    results = {
        "gradient": (ad.gradient(f, x, backend=backend), grad_f(X)),
        "hvp": (ad.hvp(f, x, v, backend=backend), hess_f(X) @ V),
        "jvp": (ad.jvp(g, x, v, A.astype(dtype), backend=backend), jac_g(X, A) @ V),
        "vjp": (ad.vjp(g, x, w, A.astype(dtype), backend=backend), W @ jac_g(X, A)),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, tf.Tensor), (name, type(got))
        assert got.dtype.as_numpy_dtype == dtype, (name, got.dtype)
        assert_close(got.numpy(), want, tol(dtype))


@pytest.mark.parametrize("operator", ["jacobian", "hessian"])
def test_tensorflow_in_tensorflow_out_matrices(operator) -> None:
    tf = pytest.importorskip("tensorflow")
    if operator == "jacobian":
        got, want = ad.jacobian(g, tf.constant(X), tf.constant(A), backend=Torch()), jac_g(X, A)
    else:
        got, want = ad.hessian(f, tf.constant(X), backend=Torch()), hess_f(X)
    assert isinstance(got, tf.Tensor) and got.dtype == tf.float64
    assert_close(got.numpy(), want, 1e-12)


# ------------------------------------------------------------------------------- grad modes and errors

CONTEXTS = {
    "grad": torch.enable_grad,
    "no_grad": torch.no_grad,
    "grad_disabled": lambda: torch.set_grad_enabled(False),
    "inference_mode": torch.inference_mode,
}


@pytest.mark.parametrize("backend", EAGER, ids=repr)
@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_grad_mode_respected_and_restored(backend, context) -> None:
    outside = grad_state()
    with CONTEXTS[context]():
        inside = grad_state()
        x, a, v, w = (torch.tensor(z) for z in (X, A, V, W))  # inference tensors under inference_mode
        for name, (got, want) in all_operators(backend, x, a, v, w).items():
            assert grad_state() == inside, name
            assert not got.requires_grad, name
            assert_close(numpy_of(got), want, 1e-12)
        for name, (got, want) in all_operators(backend, X, A, V, W).items():
            assert isinstance(got, np.ndarray), name
            assert_close(got, want, 1e-12)
        assert grad_state() == inside
    assert grad_state() == outside
    # Tensors made under the context work outside it too (inference tensors included).
    assert_close(numpy_of(ad.hessian(f, x, backend=backend)), hess_f(X), 1e-12)


def test_inference_mode_tensor_with_requires_grad_constant() -> None:
    with torch.inference_mode():
        x = torch.tensor(X)
    a = torch.tensor(A, requires_grad=True)
    for backend in EAGER:
        got = ad.jacobian(g, x, a, backend=backend)
        assert_close(numpy_of(got), jac_g(X, A), 1e-12)
    assert a.requires_grad and a.grad is None


class Boom(Exception):
    pass


def _raising(err: Exception, after_work: bool):
    def h(x):
        if after_work:
            _ = torch.sin(x) * x  # an error in the middle of a traced computation
        raise err

    return h


@pytest.mark.parametrize("backend", EAGER, ids=repr)
@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_user_exception_propagates_and_state_is_restored(backend, context) -> None:
    outside = grad_state()
    with CONTEXTS[context]():
        inside = grad_state()
        for after_work in (False, True):
            err = Boom("from f")
            h = _raising(err, after_work)
            calls = {
                "gradient": lambda h=h: ad.gradient(h, X, backend=backend),
                "hessian": lambda h=h: ad.hessian(h, torch.tensor(X), backend=backend),
                "hvp": lambda h=h: ad.hvp(h, X, V, backend=backend),
                "jacobian": lambda h=h: ad.jacobian(h, X, backend=backend),
                "jvp": lambda h=h: ad.jvp(h, X, V, backend=backend),
                "vjp": lambda h=h: ad.vjp(h, X, W, backend=backend),
            }
            for name, call in calls.items():
                with pytest.raises(Boom) as info:
                    call()
                assert info.value is err, name  # the user's exception object itself, unwrapped
                assert grad_state() == inside, name
        # Still usable, forward mode included (no dual level left open).
        assert_close(ad.jvp(g, X, V, A, backend=backend), jac_g(X, A) @ V, 1e-12)
        assert_close(ad.hessian(f, X, backend=backend), hess_f(X), 1e-12)
    assert grad_state() == outside


def test_user_exception_propagates_when_compiled() -> None:
    err = Boom("from f")
    before = grad_state()
    with pytest.raises(Boom) as info:
        ad.gradient(_raising(err, after_work=True), X, backend=Torch(compile=True))
    assert info.value is err
    assert grad_state() == before


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
def test_non_tensor_output_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"Python float.*not an array"):
        ad.gradient(lambda x: float(x.sum()), X, backend=Torch(mode="reverse"))
    with pytest.raises(TypeError, match=r"Python float.*not an array"):
        ad.jvp(lambda x: float(x.sum()), X, V, backend=Torch(mode="forward"))


# ------------------------------------------------------------------------------- the user's tensors


@pytest.mark.parametrize("backend", EAGER, ids=repr)
def test_user_tensors_untouched(backend) -> None:
    x, a, v, w = (torch.tensor(z, requires_grad=True) for z in (X, A, V, W))
    loss = (x**2).sum()  # the user's own graph through x, built before our calls
    versions = [t._version for t in (x, a, v, w)]
    for name, (got, want) in all_operators(backend, x, a, v, w).items():
        # Inputs that require grad: results carry the graph to them (create-graph semantics, see
        # tests/test_double_backward.py), while the user's tensors themselves are left alone.
        assert got.requires_grad and got.grad_fn is not None, name
        assert_close(numpy_of(got), want, 1e-12)
    nonleaf = x * 1.0  # a non-leaf tensor of the user's graph as x
    assert_close(numpy_of(ad.gradient(f, nonleaf, backend=backend)), grad_f(X), 1e-12)
    assert nonleaf.requires_grad and nonleaf.grad_fn is not None
    for name, t, ref in (("x", x, X), ("a", a, A), ("v", v, V), ("w", w, W)):
        assert t.requires_grad and t.is_leaf, name
        assert t.grad is None, name  # nothing accumulated into the user's .grad
        np.testing.assert_array_equal(t.detach().numpy(), ref)
    assert [t._version for t in (x, a, v, w)] == versions
    loss.backward()  # the user's graph is intact, and .grad gets only what the user asked for
    np.testing.assert_array_equal(x.grad.numpy(), 2 * X)
    assert a.grad is None


def test_numpy_input_untouched() -> None:
    x, a = X.copy(), A.copy()
    x.flags.writeable = False  # read-only input: converted without pretending to be writable
    for backend in EAGER:
        assert_close(ad.jacobian(g, x, a, backend=backend), jac_g(X, A), 1e-12)
        assert_close(ad.hessian(f, x, backend=backend), hess_f(X), 1e-12)
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(a, A)


# ------------------------------------------------------------------------ inside the user's torch.func


@pytest.mark.parametrize("backend", EAGER, ids=repr)
def test_inside_user_torch_func(backend) -> None:
    func = torch.func
    x, a = torch.tensor(X), torch.tensor(A)
    xs = torch.tensor(np.stack([X, 2 * X]))
    vs = torch.tensor(np.stack([V, -V, np.ones(3)]))
    ws = torch.tensor(np.stack([W, np.ones(2)]))
    J, H = jac_g(X, A), hess_f(X)
    # d/dt J(x + t v) for g: a * (-2 tanh sech²)(x) v, column by column.
    dJ = A * (-2 * np.tanh(X) * (1 - np.tanh(X) ** 2) * V)[None, :]
    results = {
        "grad of gradient": (func.grad(lambda z: ad.gradient(f, z, backend=backend).sum())(x), H.sum(axis=1)),
        "jacrev of gradient": (func.jacrev(lambda z: ad.gradient(f, z, backend=backend))(x), H),
        "jacfwd of gradient": (func.jacfwd(lambda z: ad.gradient(f, z, backend=backend))(x), H),
        "jvp of jacobian": (func.jvp(lambda z: ad.jacobian(g, z, a, backend=backend), (x,), (torch.tensor(V),))[1], dJ),
        "grad of hvp": (  # f is separable: the gradient of sum(H 1) is f''' elementwise
            func.grad(lambda z: ad.hvp(f, z, torch.ones_like(z), backend=backend).sum())(x),
            (6 - X**2) * np.cos(X) - 6 * X * np.sin(X),
        ),
        "vmap of jvp": (func.vmap(lambda v: ad.jvp(g, x, v, a, backend=backend))(vs), vs.numpy() @ J.T),
        "vmap of vjp": (func.vmap(lambda w: ad.vjp(g, x, w, a, backend=backend))(ws), ws.numpy() @ J),
        "vmap of gradient": (func.vmap(lambda z: ad.gradient(f, z, backend=backend))(xs), [grad_f(X), grad_f(2 * X)]),
        "vmap of jacobian": (func.vmap(lambda z: ad.jacobian(g, z, a, backend=backend))(xs), [J, jac_g(2 * X, A)]),
        "vmap of hessian": (func.vmap(lambda z: ad.hessian(f, z, backend=backend))(xs), [H, hess_f(2 * X)]),
        "vmap of hvp": (func.vmap(lambda z: ad.hvp(f, z, z, backend=backend))(xs), [H @ X, hess_f(2 * X) @ (2 * X)]),
    }
    for name, (got, want) in results.items():
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64, name
        try:
            assert_close(numpy_of(got), np.asarray(want), 1e-10)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from None


def test_nested_by_hand_forward_over_forward() -> None:
    fwd = Torch(mode="forward")
    got = ad.jvp(lambda z: ad.gradient(f, z, backend=fwd), X, V, backend=fwd)
    assert_close(got, hess_f(X) @ V, 1e-12)
    got = ad.jacobian(lambda z: ad.jvp(g, z, torch.ones_like(z), torch.tensor(A), backend=fwd), X, backend=fwd)
    want = A * (-2 * np.tanh(X) * (1 - np.tanh(X) ** 2))[None, :]  # d/dx of J(x) 1
    assert_close(got, want, 1e-12)


# --------------------------------------------------------------------------- modes, options, compile


def test_options_are_validated() -> None:
    """Torch's own options (modes are tested for every engine in tests/test_conformance.py)."""
    with pytest.raises(ValueError, match="nope"):
        Torch(device="nope")
    with pytest.raises(TypeError, match="compile"):
        Torch(compile=1.5)
    assert repr(Torch(mode="forward", device="cpu")) == "Torch(mode='forward', device='cpu')"


def test_compiled_calls_reuse_the_cache() -> None:
    counters = torch._dynamo.utils.counters  # frames dynamo converted: a retrace adds to it

    def h(x, a):
        return torch.sum((a @ torch.sin(x)) ** 2)

    def want(x, a):
        return 2 * (a.T @ (a @ np.sin(x))) * np.cos(x)

    rng = np.random.default_rng(0)
    first = [rng.standard_normal(3), rng.standard_normal((2, 3))]
    COMPILED.clear()  # a full cache (earlier tests) would evict as it adds
    size = len(COMPILED)
    assert_close(ad.gradient(h, *first, backend=Torch(compile=True)), want(*first), 1e-12)
    assert len(COMPILED) == size + 1
    built, frames = len(COMPILED), counters["frames"]["total"]
    assert frames >= 1
    for backend in (Torch(compile=True), Torch(compile=True)):  # an equal backend object shares the cache
        new = [rng.standard_normal(3), rng.standard_normal((2, 3))]  # new data for x and for the constant a
        got = ad.gradient(h, *new, backend=backend)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        assert_close(got, want(*new), 1e-12)
        assert len(COMPILED) == built  # no new operator built
        assert counters["frames"]["total"] == frames  # and no retrace


# ------------------------------------------------------------------------------------------ CUDA


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_cuda_device_results_come_back_to_x(dtype) -> None:
    gpu = Torch(device="cuda")
    seen = []

    def h(x):
        seen.append(x.device.type)
        return f(x)

    # A CPU tensor computed on the GPU comes back to the CPU.
    x, a, v, w = (torch.tensor(z, dtype=dtype) for z in (X, A, V, W))
    for name, (got, want) in all_operators(gpu, x, a, v, w).items():
        assert got.device.type == "cpu" and got.dtype == dtype, (name, got.device)
        assert_close(numpy_of(got), want, tol(np.float32 if dtype == torch.float32 else np.float64))
    ad.gradient(h, x, backend=gpu)
    assert seen == ["cuda"]
    # NumPy in, NumPy out.
    got = ad.hessian(f, X, backend=gpu)
    assert isinstance(got, np.ndarray)
    assert_close(got, hess_f(X), 1e-12)
    # A CUDA tensor stays there, with the default device or device="cuda".
    xc, ac, vc, wc = (t.cuda() for t in (x, a, v, w))
    for backend in (Torch(), gpu):
        for name, (got, want) in all_operators(backend, xc, ac, vc, wc).items():
            assert got.is_cuda and got.dtype == dtype, (name, got.device)
            assert_close(numpy_of(got), want, tol(np.float32 if dtype == torch.float32 else np.float64))


@cuda
def test_cuda_tensor_with_cpu_constant_and_untouched() -> None:
    x = torch.tensor(X, device="cuda", requires_grad=True)
    got = ad.jacobian(g, x, torch.tensor(A, device="cuda"), backend=Torch(device="cuda"))
    assert got.is_cuda and got.requires_grad  # x requires grad: the Jacobian carries its graph
    assert_close(numpy_of(got), jac_g(X, A), 1e-12)
    assert x.requires_grad and x.grad is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_gpu_is_a_clear_error() -> None:
    gpu = Torch(device="cuda")  # constructing is fine; using it is not
    for x in (X, torch.tensor(X)):
        with pytest.raises(RuntimeError, match=r"needs a CUDA GPU.*Torch\(\)"):
            ad.gradient(f, x, backend=gpu)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        ad.jvp(g, X, V, A, backend=gpu)
    assert grad_state() == (True, False)
