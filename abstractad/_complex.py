"""Complex numbers as pairs of reals, so that every engine follows one convention.

The engines disagree at complex boundaries (the gradient of |z|² at 1+1j is 2-2j on JAX and
autograd, 2+2j on PyTorch and TensorFlow; TensorFlow silently conjugates non-holomorphic
derivatives). abstractad never hands an engine a complex input or output to differentiate: a
complex `x` enters as the real array ``(Re x, Im x)`` on a trailing axis, a complex `f(x)` leaves
as ``(Re f, Im f)``, and the engine differentiates a real function. Results are then put back
together, so that

- the gradient of a real `f` is ``∂f/∂a + i ∂f/∂b`` at ``z = a + ib``: the direction of steepest
  ascent (PyTorch's and TensorFlow's convention), so ``z - lr * g`` is a descent step;
- ``jvp`` is the real-linear pushforward: ``f'(z) v`` for a holomorphic `f` (JAX's ``jvp``);
- ``vjp`` is its adjoint for the real inner product ``<a, b> = Re(sum(conj(a) * b))``, so that
  ``<w, J v> = <Jᵀ w, v>`` holds with that product;
- a Jacobian of a real `f` of complex `x` has the gradients of the outputs as rows; of a complex
  `f` of real `x`, the complex columns ``∂f/∂x_j``.

A real-linear map between complex spaces is not a complex matrix in general, so Hessians (and
Jacobians from complex to complex) raise a TypeError that names the operators that work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import _arrays

# Operators whose results a complex x (or a complex f(x)) gives a meaning to, by the kinds below.
NO_COMPLEX_X = {
    "hessian": "a Hessian over complex x is real-linear, not a complex matrix: use hvp or lazy_hessian",
    "value_gradient_and_hessian": "a Hessian over complex x is real-linear, not a complex matrix: use hvp",
    "derivative": "derivative needs a real scalar x (f'(z) of a holomorphic f is jvp(f, z, 1+0j))",
    "second_derivative": "second_derivative needs a real scalar x",
}


def is_complex(dtype: str) -> bool:
    return dtype.startswith("complex")


def check_x(operator: str, dtype: str, pytree: bool) -> None:
    """Raise before any engine work where a complex `x` has no meaning for `operator`."""
    if not is_complex(dtype):
        return
    if pytree:
        raise TypeError(
            f"{operator}: x is a pytree with complex leaves; pass each complex leaf as two real leaves "
            "(its real and imaginary parts), or a single complex array"
        )
    if operator in NO_COMPLEX_X:
        raise TypeError(f"{operator}: {NO_COMPLEX_X[operator]}")


def pairs(a: Any) -> Any:
    """A complex array as the real array ``(Re a, Im a)`` on a trailing axis."""
    xp = _arrays.array_namespace(a)
    return xp.stack([xp.real(a), xp.imag(a)], axis=-1)


def unpairs(a: Any) -> Any:
    """The inverse of :func:`pairs`: the trailing axis of two reals as one complex array."""
    re, im = a[..., 0], a[..., 1]
    if _arrays.library_of(a) == "tensorflow":
        import tensorflow as tf

        return tf.complex(re, im)
    return re + 1j * im


class Pairs:
    """One operator call's complex bookkeeping, inside the (traced) operator: which arrays are
    complex, the real function the engine differentiates, and the results put back together."""

    def __init__(self, operator: str, complex_x: bool, seed_kinds: Sequence[str]) -> None:
        self.operator, self.complex_x, self.seed_kinds = operator, complex_x, tuple(seed_kinds)
        self.complex_w = False
        self.complex_y: bool | None = None

    def seeds(self, seeds: Sequence[Any]) -> list[Any]:
        """Tangents of a complex x and complex cotangents as pairs."""
        out = []
        for seed, kind in zip(seeds, self.seed_kinds):
            if isinstance(seed, tuple):  # a pytree's leaves (x is real here): complex cotangent leaves as pairs
                mask = tuple(is_complex(_arrays.dtype_name(a)) for a in seed)
                if kind == "out" and any(mask):
                    self.complex_w = mask
                    seed = tuple(pairs(a) if c else a for a, c in zip(seed, mask))
            elif kind == "in" and self.complex_x:
                if not is_complex(_arrays.dtype_name(seed)):
                    seed = seed + 0j if _arrays.library_of(seed) != "tensorflow" else _tf_complex(seed)
                seed = pairs(seed)
            elif kind == "out" and is_complex(_arrays.dtype_name(seed)):
                self.complex_w = True
                seed = pairs(seed)
            out.append(seed)
        return out

    def function(self, fx: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """`fx` as a real function of real arrays."""
        complex_x = self.complex_x

        def real(z: Any) -> Any:
            if not isinstance(z, tuple) and not complex_x and is_complex(_arrays.dtype_name(z)):
                return fx(z)  # a complex-step backend evaluating f off the real axis: its own business
            return self.real_output(fx(unpairs(z) if complex_x else z))

        return real

    def real_output(self, y: Any) -> Any:
        """f(x) as the engine differentiates it: complex values (or leaves) as pairs, checked
        against the operator and the cotangent."""
        if isinstance(y, tuple):  # a pytree's leaves: complex leaves as pairs, one by one
            return self._leaves(y)
        self.complex_y = is_complex(_arrays.dtype_name(y))
        if self.complex_w and not self.complex_y:
            raise TypeError("vjp: the cotangent w is complex, but f(x) is real: pass a real w")
        if self.complex_y:
            if "out" in self.seed_kinds and not self.complex_w:
                raise TypeError("vjp: f(x) is complex, so the cotangent w must be complex too")
            if self.complex_x and self.operator == "jacobian":
                raise TypeError(
                    "jacobian: f maps complex x to complex values, a real-linear map that a complex "
                    "matrix cannot hold in general: use jvp, vjp or lazy_jacobian"
                )
            if self.operator in ("gradient", "hvp"):
                raise TypeError(f"{self.operator} needs a real-valued f, but f(x) is complex")
            return pairs(y)
        return y

    def _leaves(self, y: tuple) -> tuple:
        mask = tuple(is_complex(_arrays.dtype_name(a)) for a in y)
        self.complex_y = mask if any(mask) else False
        if self.complex_w and self.complex_w != self.complex_y:
            raise TypeError("vjp: the cotangent w must have complex leaves exactly where f(x) has them")
        if self.complex_y and "out" in self.seed_kinds and not self.complex_w:
            raise TypeError("vjp: f(x) has complex leaves, so the cotangent w must have complex leaves there too")
        return tuple(pairs(a) if c else a for a, c in zip(y, mask)) if self.complex_y else y

    def result(self, r: Any, kind: str, x_ndim: int) -> Any:
        """One result of `kind` (out, in, out*in) back from pairs."""
        if isinstance(r, tuple):
            mask = self.complex_y if kind == "out" else False
            return tuple(unpairs(a) if c else a for a, c in zip(r, mask)) if mask else r
        if kind == "out":
            return unpairs(r) if self.complex_y else r
        if kind == "in":
            return unpairs(r) if self.complex_x else r
        if self.complex_x:  # the pair axis is the last: rows are the outputs' gradients
            return unpairs(r)
        if self.complex_y:  # the pair axis ends the output's axes
            return unpairs(_move_last(r, len(r.shape) - x_ndim - 1))
        return r


def _move_last(a: Any, axis: int) -> Any:
    xp = _arrays.array_namespace(a)
    order = [i for i in range(len(a.shape)) if i != axis] + [axis]
    return xp.permute_dims(a, tuple(order))


def _tf_complex(a: Any) -> Any:
    import tensorflow as tf

    return tf.complex(a, tf.zeros_like(a))
