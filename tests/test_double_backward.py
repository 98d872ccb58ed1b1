"""The caller's own engine differentiates through abstractad's operators (issue 18, part 4).

``torch.autograd.grad`` / ``backward()`` over ``ad.gradient(f, x, backend="torch")`` (gradient penalties,
MAML), ``autograd.grad`` over ``backend="autograd"``, a ``tf.GradientTape`` over ``backend="tensorflow"``,
``jax.grad`` over ``backend="jax"``: every operator's result is differentiated once more by the engine
that computed it, and compared with analytic derivatives and with the engine's own double backward.

f(x) = Σ sin(x) x² is separable, so every derivative is diagonal and known in closed form:
f' = cos(x) x² + 2x sin(x), f'' = (2 - x²) sin(x) + 4x cos(x), f''' = (6 - x²) cos(x) - 6x sin(x).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _support import assert_close, installed

import abstractad as ad

X = np.array([0.3, -1.2, 2.0, 0.7])
V = np.array([0.5, -1.0, 2.0, 1.5])  # a tangent (jvp, hvp) or cotangent (vjp): shape of x and of F(x)
A = np.array([1.3, -0.4, 0.8, 2.1])  # a constant passed as *args (MAML's parameters)
R = np.array([1.0, 0.3, -0.8, 2.0])  # weights that reduce a result to a scalar, to differentiate it again
R2 = np.array([-0.6, 1.1, 0.4, -1.7])
RM = np.arange(16.0).reshape(4, 4) / 7 - 1  # weights of a matrix result
C = 0.7  # the weight of a scalar result
RTOL = 1e-9


def f(x: Any) -> Any:
    xp = ad.array_namespace(x)
    return xp.sum(xp.sin(x) * x**2)


def F(x: Any) -> Any:
    """sin(x) x², elementwise: a Jacobian diag(f'(x))."""
    xp = ad.array_namespace(x)
    return xp.sin(x) * x**2


def d1(x: np.ndarray) -> np.ndarray:
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def d2(x: np.ndarray) -> np.ndarray:
    return (2 - x**2) * np.sin(x) + 4 * x * np.cos(x)


def d3(x: np.ndarray) -> np.ndarray:
    return (6 - x**2) * np.cos(x) - 6 * x * np.sin(x)


# ---------------------------------------------------------------------------- engines


@dataclasses.dataclass(frozen=True)
class Engine:
    """One engine as the caller: its arrays, its gradient of a scalar function (as NumPy), and its own
    gradient as a function that it can differentiate once more (the reference double backward)."""

    name: str
    array: Callable[[Any], Any]
    grad: Callable[[Callable, np.ndarray], np.ndarray]
    own_grad: Callable[[Callable], Callable]


def _torch() -> Engine:
    torch = pytest.importorskip("torch")

    def grad(fn: Callable, x: np.ndarray) -> np.ndarray:
        t = torch.tensor(x, requires_grad=True)
        (g,) = torch.autograd.grad(fn(t), t)  # "does not require grad" where a result is detached
        return g.numpy()

    def own_grad(fn: Callable) -> Callable:
        def g(t: Any) -> Any:
            return torch.autograd.grad(fn(t), t, create_graph=True)[0]

        return g

    return Engine("torch", lambda a: torch.tensor(np.asarray(a)), grad, own_grad)


def _autograd() -> Engine:
    autograd = pytest.importorskip("autograd")
    return Engine("autograd", np.asarray, lambda fn, x: np.asarray(autograd.grad(fn)(x)), autograd.grad)


def _tensorflow() -> Engine:
    tf = pytest.importorskip("tensorflow")

    def own_grad(fn: Callable) -> Callable:
        def g(t: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(t)
                out = fn(t)
            return tape.gradient(out, t)

        return g

    def grad(fn: Callable, x: np.ndarray) -> np.ndarray:
        g = own_grad(fn)(tf.constant(x))
        assert g is not None, "the tape saw no path from x to the result"
        return g.numpy()

    return Engine("tensorflow", lambda a: tf.constant(np.asarray(a)), grad, own_grad)


def _jax() -> Engine:
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")

    def grad(fn: Callable, x: np.ndarray) -> np.ndarray:
        with jax.enable_x64(True):  # float64 without turning x64 on for the rest of the session
            return np.asarray(jax.grad(fn)(jnp.asarray(x)))

    return Engine("jax", jnp.asarray, grad, jax.grad)


ENGINES = {"torch": _torch, "autograd": _autograd, "tensorflow": _tensorflow, "jax": _jax}
CLASSES = {"torch": "Torch", "autograd": "Autograd", "tensorflow": "TensorFlow", "jax": "Jax"}
# (engine, variant): each engine's backend as it is, in forced modes, and compiled.
VARIANTS = [
    (engine, variant)
    for engine in ENGINES
    for variant in ("default", "forward", "reverse", "compiled")
    if not (engine == "autograd" and variant == "compiled")
]


def setup(engine: str, variant: str) -> tuple[Engine, ad.Backend]:
    if not installed(engine):
        pytest.skip(f"needs {engine}")
    e = ENGINES[engine]()
    cls = getattr(ad.backends, CLASSES[engine])
    if variant == "compiled":
        # Dynamo without AOTAutograd for torch: AOTAutograd refuses to differentiate a compiled backward
        # (see test_compiled_torch_operators_carry_a_graph_for_one_backward).
        return e, cls(compile="eager" if engine == "torch" else True)
    return e, cls() if variant == "default" else cls(mode=variant)


def ids(case: tuple[str, str]) -> str:
    return "-".join(case)


def weighted(results: Any, weights: tuple, e: Engine) -> Any:
    """Σₖ ⟨results[k], weights[k]⟩, a scalar of the engine: what the engine differentiates again."""
    results = results if isinstance(results, tuple) else (results,)
    assert len(results) == len(weights)
    total = 0.0
    for r, w in zip(results, weights, strict=True):
        total = total + ad.array_namespace(r).sum(r * e.array(np.asarray(w, dtype=np.float64)))
    return total


# ---------------------------------------------------------------------------- every operator, analytic

# name: (the operator at (b, x, s), the weights of its results, d/dx of the weighted sum, d/ds or None).
OPERATORS: dict[str, tuple[Callable, tuple, Callable, Callable | None]] = {
    "gradient": (lambda b, x, s: ad.gradient(f, x, backend=b), (R,), lambda x, s: R * d2(x), None),
    "value_and_gradient": (
        lambda b, x, s: ad.value_and_gradient(f, x, backend=b),
        (C, R),
        lambda x, s: C * d1(x) + R * d2(x),
        None,
    ),
    "jvp": (lambda b, x, s: ad.jvp(F, x, s, backend=b), (R,), lambda x, s: R * s * d2(x), lambda x, s: R * d1(x)),
    "value_and_jvp": (
        lambda b, x, s: ad.value_and_jvp(F, x, s, backend=b),
        (R2, R),
        lambda x, s: R2 * d1(x) + R * s * d2(x),
        lambda x, s: R * d1(x),
    ),
    "vjp": (lambda b, x, s: ad.vjp(F, x, s, backend=b), (R,), lambda x, s: R * s * d2(x), lambda x, s: R * d1(x)),
    "value_and_vjp": (
        lambda b, x, s: ad.value_and_vjp(F, x, s, backend=b),
        (R2, R),
        lambda x, s: R2 * d1(x) + R * s * d2(x),
        lambda x, s: R * d1(x),
    ),
    "hvp": (lambda b, x, s: ad.hvp(f, x, s, backend=b), (R,), lambda x, s: R * s * d3(x), lambda x, s: R * d2(x)),
    "jacobian": (lambda b, x, s: ad.jacobian(F, x, backend=b), (RM,), lambda x, s: np.diag(RM) * d2(x), None),
    "value_and_jacobian": (
        lambda b, x, s: ad.value_and_jacobian(F, x, backend=b),
        (R2, RM),
        lambda x, s: R2 * d1(x) + np.diag(RM) * d2(x),
        None,
    ),
    "hessian": (lambda b, x, s: ad.hessian(f, x, backend=b), (RM,), lambda x, s: np.diag(RM) * d3(x), None),
    "value_gradient_and_hessian": (
        lambda b, x, s: ad.value_gradient_and_hessian(f, x, backend=b),
        (C, R, RM),
        lambda x, s: C * d1(x) + R * d2(x) + np.diag(RM) * d3(x),
        None,
    ),
}
SECOND_ORDER = ("hvp", "hessian", "value_gradient_and_hessian")


def _skip_known(engine: str, variant: str, operator: str) -> None:
    if engine == "tensorflow" and variant == "forward" and operator in SECOND_ORDER:
        # TensorFlow itself: a GradientTape over nested ForwardAccumulators raises "Recorded operation
        # '__forward___forward__jvp_exact_shapes_...' returned too few gradients" (see docs/nesting.md).
        pytest.skip("TensorFlow cannot tape forward-over-forward (its own InternalError)")


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("case", VARIANTS, ids=ids)
def test_every_operator_differentiated_again_in_x(case: tuple[str, str], operator: str) -> None:
    engine, variant = case
    _skip_known(engine, variant, operator)
    e, b = setup(engine, variant)
    call, weights, dx, _ = OPERATORS[operator]
    got = e.grad(lambda x: weighted(call(b, x, e.array(V)), weights, e), X)
    assert_close(got, dx(X, V), RTOL)


SEEDED = sorted(name for name, spec in OPERATORS.items() if spec[3] is not None)


@pytest.mark.parametrize("operator", SEEDED)
@pytest.mark.parametrize("case", VARIANTS, ids=ids)
def test_every_operator_differentiated_again_in_its_seed(case: tuple[str, str], operator: str) -> None:
    engine, variant = case
    _skip_known(engine, variant, operator)
    e, b = setup(engine, variant)
    call, weights, _, ds = OPERATORS[operator]
    got = e.grad(lambda s: weighted(call(b, e.array(X), s), weights, e), V)
    assert ds is not None
    assert_close(got, ds(X, V), RTOL)


# ---------------------------------------------------------------------------- the engine's own double backward


@pytest.mark.parametrize("case", VARIANTS, ids=ids)
def test_gradient_of_gradient_is_the_engines_own(case: tuple[str, str]) -> None:
    """d/dx ⟨∇f(x), R⟩ = ∇²f(x) R, by the engine over our gradient and by the engine over its own."""
    e, b = setup(*case)
    ours = e.grad(lambda x: weighted(ad.gradient(f, x, backend=b), (R,), e), X)
    own = e.grad(lambda x: weighted(e.own_grad(f)(x), (R,), e), X)
    assert_close(ours, own, RTOL)
    assert_close(ours, R * d2(X), RTOL)


@pytest.mark.parametrize("case", VARIANTS, ids=ids)
def test_gradient_penalty(case: tuple[str, str]) -> None:
    """P(x) = ‖∇f(x)‖², differentiated: ∇P = 2 ∇²f(x) ∇f(x) (WGAN-GP's penalty, without the norm's root)."""
    e, b = setup(*case)

    def penalty(grad: Callable) -> Callable:
        def p(x: Any) -> Any:
            g = grad(x)
            return ad.array_namespace(g).sum(g * g)

        return p

    ours = e.grad(penalty(lambda x: ad.gradient(f, x, backend=b)), X)
    assert_close(ours, 2 * d2(X) * d1(X), RTOL)
    assert_close(ours, e.grad(penalty(e.own_grad(f)), X), RTOL)


ALPHA = 0.1


def inner_loss(theta: Any, a: Any) -> Any:
    """L(θ; a) = Σ sin(a θ): ∇θ L = a cos(a θ)."""
    xp = ad.array_namespace(theta, a)
    return xp.sum(xp.sin(a * theta))


def maml_reference(theta: np.ndarray, a: np.ndarray) -> np.ndarray:
    """d/da of ½‖θ'‖², θ' = θ - α a cos(a θ): θ'ᵢ · (-α) (cos(aᵢθᵢ) - aᵢθᵢ sin(aᵢθᵢ))."""
    step = theta - ALPHA * a * np.cos(a * theta)
    return step * -ALPHA * (np.cos(a * theta) - a * theta * np.sin(a * theta))


@pytest.mark.parametrize("case", VARIANTS, ids=ids)
def test_maml_step_differentiates_the_constant(case: tuple[str, str]) -> None:
    """One inner gradient step θ' = θ - α ∇θ L(θ; a) with the parameters `a` passed as a constant
    (*args), the outer loss ½‖θ'‖² differentiated in `a` through our gradient: second order in a."""
    e, b = setup(*case)

    def outer(grad: Callable) -> Callable:
        def o(a: Any) -> Any:
            theta = e.array(X)
            step = theta - ALPHA * grad(theta, a)
            return ad.array_namespace(step).sum(step * step) / 2

        return o

    ours = e.grad(outer(lambda theta, a: ad.gradient(inner_loss, theta, a, backend=b)), A)
    assert_close(ours, maml_reference(X, A), RTOL)


# ---------------------------------------------------------------------------- torch


torch_only = pytest.mark.skipif(not installed("torch"), reason="needs torch")
TORCH_EAGER = ("default", "forward", "reverse")


def _torch_backend(variant: str) -> Any:
    return setup("torch", variant)[1]


def _scalar(x: Any, a: Any) -> Any:
    import torch

    return (torch.sin(a * x) * x**2).sum() + (x[0] * x[1] * a[2]) ** 2


def _vector(x: Any, a: Any) -> Any:
    """ℝ⁴ → ℝ³, every output mixing several inputs and the constant."""
    import torch

    m = torch.as_tensor(np.arange(12.0).reshape(3, 4) / 5 - 1, dtype=x.dtype)
    return torch.tanh(m @ (x * a)) * x.sum()


def _torch_operators() -> dict[str, tuple[Callable, Callable]]:
    """name: (ours at (b, x, s, a), torch's own with create_graph=True), each returning a tuple."""
    import torch.autograd.functional as fn

    def ref_vag(x: Any, s: Any, a: Any) -> tuple:
        return fn.vjp(lambda z: _scalar(z, a), x, create_graph=True)

    def ref_vgh(x: Any, s: Any, a: Any) -> tuple:
        return (*ref_vag(x, s, a), fn.hessian(lambda z: _scalar(z, a), x, create_graph=True))

    def ref_jac(x: Any, s: Any, a: Any) -> tuple:
        return (_vector(x, a), fn.jacobian(lambda z: _vector(z, a), x, create_graph=True))

    return {
        "gradient": (
            lambda b, x, s, a: (ad.gradient(_scalar, x, a, backend=b),),
            lambda x, s, a: ref_vag(x, s, a)[1:],
        ),
        "value_and_gradient": (lambda b, x, s, a: ad.value_and_gradient(_scalar, x, a, backend=b), ref_vag),
        "jvp": (
            lambda b, x, s, a: (ad.jvp(_vector, x, s, a, backend=b),),
            lambda x, s, a: fn.jvp(lambda z: _vector(z, a), x, s, create_graph=True)[1:],
        ),
        "value_and_jvp": (
            lambda b, x, s, a: ad.value_and_jvp(_vector, x, s, a, backend=b),
            lambda x, s, a: fn.jvp(lambda z: _vector(z, a), x, s, create_graph=True),
        ),
        "vjp": (
            lambda b, x, s, a: (ad.vjp(_vector, x, s[:3], a, backend=b),),
            lambda x, s, a: fn.vjp(lambda z: _vector(z, a), x, s[:3], create_graph=True)[1:],
        ),
        "value_and_vjp": (
            lambda b, x, s, a: ad.value_and_vjp(_vector, x, s[:3], a, backend=b),
            lambda x, s, a: fn.vjp(lambda z: _vector(z, a), x, s[:3], create_graph=True),
        ),
        "hvp": (
            lambda b, x, s, a: (ad.hvp(_scalar, x, s, a, backend=b),),
            lambda x, s, a: fn.hvp(lambda z: _scalar(z, a), x, s, create_graph=True)[1:],
        ),
        "jacobian": (lambda b, x, s, a: (ad.jacobian(_vector, x, a, backend=b),), lambda x, s, a: ref_jac(x, s, a)[1:]),
        "value_and_jacobian": (lambda b, x, s, a: ad.value_and_jacobian(_vector, x, a, backend=b), ref_jac),
        "hessian": (
            lambda b, x, s, a: (ad.hessian(_scalar, x, a, backend=b),),
            lambda x, s, a: (fn.hessian(lambda z: _scalar(z, a), x, create_graph=True),),
        ),
        "value_gradient_and_hessian": (
            lambda b, x, s, a: ad.value_gradient_and_hessian(_scalar, x, a, backend=b),
            ref_vgh,
        ),
    }


def _torch_inputs(requires_grad: bool) -> tuple[Any, Any, Any]:
    import torch

    return tuple(torch.tensor(z, requires_grad=requires_grad) for z in (X, V, A))


def _second(results: tuple, inputs: tuple, seed: int) -> list[np.ndarray]:
    """d/d(x, s, a) of Σₖ ⟨results[k], random weights⟩ (zeros where a result does not depend on one)."""
    import torch

    rng = np.random.default_rng(seed)
    total = sum((r * torch.as_tensor(rng.normal(size=tuple(r.shape)))).sum() for r in results)
    grads = torch.autograd.grad(total, inputs, allow_unused=True)
    return [np.zeros(t.shape) if g is None else g.numpy() for g, t in zip(grads, inputs)]


@torch_only
@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("variant", [*TORCH_EAGER, "compiled"])
def test_torch_operators_match_torchs_own_create_graph(variant: str, operator: str) -> None:
    """Every operator with x, the seed and a constant requiring grad: its results and their derivatives in
    all three equal ``torch.autograd.functional``'s with ``create_graph=True`` (torch's own double backward)."""
    b = _torch_backend(variant)
    ours_fn, ref_fn = _torch_operators()[operator]
    x, s, a = _torch_inputs(True)
    ours = ours_fn(b, x, s, a)
    ref = ref_fn(x, s, a)
    assert len(ours) == len(ref)
    for got, want in zip(ours, ref):
        assert got.grad_fn is not None, f"{operator}: a result without autograd's graph"
        assert_close(got.detach().numpy(), want.detach().numpy(), RTOL)
    for got, want in zip(_second(ours, (x, s, a), 0), _second(ref, (x, s, a), 0)):
        assert_close(got, want, RTOL)
    for t in (x, s, a):
        assert t.grad is None and t.is_leaf and t.requires_grad  # nothing of the user's written


@torch_only
@pytest.mark.parametrize("variant", [*TORCH_EAGER, "compiled"])
def test_torch_gradgradcheck(variant: str) -> None:
    import torch

    b = _torch_backend(variant)
    x = torch.tensor(X, requires_grad=True)
    v = torch.tensor(V, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ad.gradient(f, x, backend=b), (x,))
    assert torch.autograd.gradgradcheck(lambda x: ad.gradient(f, x, backend=b), (x,))
    assert torch.autograd.gradgradcheck(lambda x, v: ad.hvp(f, x, v, backend=b), (x, v))
    assert torch.autograd.gradgradcheck(lambda x, v: ad.vjp(F, x, v, backend=b), (x, v))


@torch_only
@pytest.mark.parametrize("variant", TORCH_EAGER)
def test_torch_gradient_penalty_on_a_module(variant: str) -> None:
    """WGAN-GP: the penalty (‖∇ₓD(x̂)‖ - 1)² with D's parameters closed over, backward() into them; the
    same .grad as with torch's own ``autograd.grad(create_graph=True)``; x̂'s own .grad untouched by us."""
    import torch

    b = _torch_backend(variant)
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)).double()
    points = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)

    def penalty(grads: Any) -> Any:
        return ((grads.norm(dim=1) - 1) ** 2).mean()

    g = ad.gradient(lambda z: critic(z).sum(), points, backend=b)
    assert points.grad is None and all(p.grad is None for p in critic.parameters())
    penalty(g).backward()

    def grads() -> list[np.ndarray]:  # the output layer's bias does not reach the gradient: None
        tensors = [*critic.parameters(), points]
        return [np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy().copy() for t in tensors]

    ours = grads()
    critic.zero_grad(set_to_none=True)
    points.grad = None
    (own,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    penalty(own).backward()
    theirs = grads()
    assert sum(np.abs(a).sum() > 0 for a in theirs) == 4
    for got, want in zip(ours, theirs):
        assert_close(got, want, RTOL)


@torch_only
@pytest.mark.parametrize("variant", TORCH_EAGER)
def test_torch_maml_with_parameters_as_constants(variant: str) -> None:
    """MAML's inner step with a model's parameters passed as *args that require grad: backward() of the
    outer loss writes the meta-gradient into the parameters, equal to torch's own create_graph step."""
    import torch

    b = _torch_backend(variant)
    torch.manual_seed(1)
    weight = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    data = torch.randn(5, 3, dtype=torch.float64)
    theta = torch.randn(2, dtype=torch.float64)

    def loss(theta: Any, data: Any, weight: Any) -> Any:
        return ((torch.tanh(data @ weight) @ theta) ** 2).sum()

    step = theta - ALPHA * ad.gradient(loss, theta, data, weight, backend=b)
    loss(step, data, weight).backward()
    ours = weight.grad.clone()
    leaf = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(leaf, data, weight), leaf, create_graph=True)
    (want,) = torch.autograd.grad(loss(theta - ALPHA * g, data, weight), weight)
    assert_close(ours.numpy(), want.numpy(), RTOL)
    assert not theta.requires_grad and theta.grad is None


@torch_only
@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("variant", [*TORCH_EAGER, "compiled"])
def test_torch_results_are_plain_without_requires_grad(variant: str, operator: str) -> None:
    """Nothing requires grad: plain results, no graph (the fast paths as before)."""
    b = _torch_backend(variant)
    x, s, _ = _torch_inputs(False)
    out = OPERATORS[operator][0](b, x, s)
    for r in out if isinstance(out, tuple) else (out,):
        assert r.grad_fn is None and not r.requires_grad, operator


@torch_only
@pytest.mark.parametrize("context", ["no_grad", "inference_mode", "set_grad_enabled(False)"])
@pytest.mark.parametrize("variant", TORCH_EAGER)
def test_torch_results_are_plain_when_grad_mode_is_off(variant: str, context: str) -> None:
    import torch

    b = _torch_backend(variant)
    x, s, a = _torch_inputs(True)
    contexts = {
        "no_grad": torch.no_grad,
        "inference_mode": torch.inference_mode,
        "set_grad_enabled(False)": lambda: torch.set_grad_enabled(False),
    }
    with contexts[context]():
        for name, (ours_fn, _) in _torch_operators().items():
            for r in ours_fn(b, x, s, a):
                assert r.grad_fn is None and not r.requires_grad, name
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    for t in (x, s, a):
        assert t.grad is None and t.is_leaf and t.requires_grad


@torch_only
@pytest.mark.parametrize("variant", TORCH_EAGER)
def test_torch_only_the_arguments_that_require_grad_are_recorded(variant: str) -> None:
    """x plain, the constant recorded: the gradient's graph reaches the constant, and x gets no .grad."""
    import torch

    b = _torch_backend(variant)
    x, _, a = _torch_inputs(False)
    a.requires_grad_(True)
    g = ad.gradient(_scalar, x, a, backend=b)
    assert g.grad_fn is not None
    (ours,) = torch.autograd.grad(g.sum(), a)
    leaf = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(torch.autograd.grad(_scalar(leaf, a), leaf, create_graph=True)[0].sum(), a)
    assert_close(ours.numpy(), want.numpy(), RTOL)
    assert not x.requires_grad and x.grad is None


@torch_only
@pytest.mark.parametrize("variant", TORCH_EAGER)
def test_torch_func_transforms_still_see_their_tangents(variant: str) -> None:
    """Inside the user's torch.func transform (its wrapped tensors require grad too) results carry its tangents."""
    import torch

    b = _torch_backend(variant)
    x = torch.tensor(X)
    got = torch.func.grad(lambda z: (ad.gradient(f, z, backend=b) * torch.tensor(R)).sum())(x)
    assert_close(got.numpy(), R * d2(X), RTOL)
    jac = torch.func.jacrev(lambda z: ad.jvp(F, z, torch.tensor(V), backend=b))(x)
    assert_close(jac.numpy(), np.diag(V * d2(X)), RTOL)


@torch_only
def test_compiled_torch_operators_carry_a_graph_for_one_backward() -> None:
    """Torch(compile=...) through AOTAutograd (inductor's path; "aot_eager" here, to compile quickly): the
    results carry a graph, and one backward through them is exact (gradient penalty, MAML)."""
    import torch

    b = ad.backends.Torch(compile="aot_eager")
    x = torch.tensor(X, requires_grad=True)
    g = ad.gradient(f, x, backend=b)
    assert g.grad_fn is not None
    (got,) = torch.autograd.grad((g * g).sum(), x)
    assert_close(got.numpy(), 2 * d2(X) * d1(X), RTOL)
    assert x.grad is None


@torch_only
def test_torch_prepared_operators_follow_each_calls_arguments() -> None:
    """A prepared gradient records what each call's arguments ask for, whatever it was prepared with."""
    import torch

    for prepared_with in (torch.tensor(X), torch.tensor(X, requires_grad=True)):
        grad = ad.prepare("gradient", f, prepared_with, backend="torch")
        plain = grad(torch.tensor(X))
        assert plain.grad_fn is None and not plain.requires_grad
        x = torch.tensor(X, requires_grad=True)
        (got,) = torch.autograd.grad((grad(x) * torch.tensor(R)).sum(), x)
        assert_close(got.numpy(), R * d2(X), RTOL)


@torch_only
@pytest.mark.parametrize("variant", TORCH_EAGER)
def test_torch_pytree_leaves_are_recorded_each(variant: str) -> None:
    """x a dict of leaves that require grad: each leaf of the gradient carries the graph to both leaves."""
    import torch

    b = _torch_backend(variant)
    x = {"a": torch.tensor(X[:3], requires_grad=True), "b": torch.tensor(X[3], requires_grad=True)}
    g = ad.gradient(lambda p: (p["a"] ** 3).sum() * p["b"], x, backend=b)  # (3a²b, Σa³)
    assert set(g) == {"a", "b"} and all(t.grad_fn is not None for t in g.values())
    da, db = torch.autograd.grad(g["a"].sum() + g["b"], (x["a"], x["b"]))
    a, c = X[:3], X[3]
    assert_close(da.numpy(), 6 * a * c + 3 * a**2, RTOL)
    assert_close(db.numpy(), 3 * (a**2).sum(), RTOL)


@pytest.mark.skipif(not installed("autograd"), reason="needs autograd")
def test_autograd_pytree_of_boxes() -> None:
    """x a dict whose leaves are autograd boxes: the gradient's leaves stay boxed, so autograd goes on."""
    import autograd

    def outer(z: np.ndarray) -> Any:
        p = {"a": z[:3], "b": z[3]}
        g = ad.gradient(lambda p: ad.array_namespace(p["a"]).sum(p["a"] ** 3) * p["b"], p, backend="autograd")
        return ad.array_namespace(g["a"]).sum(g["a"]) + g["b"]

    a, c = X[:3], X[3]
    want = np.append(6 * a * c + 3 * a**2, 3 * (a**2).sum())
    assert_close(autograd.grad(outer)(X), want, RTOL)
