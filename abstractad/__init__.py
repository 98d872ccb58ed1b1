"""abstractad: one automatic-differentiation interface over JAX, PyTorch, TensorFlow, autograd
and finite differences. Importing it imports no engine."""

from . import _autograph
from . import backends as backends
from ._arrays import array_namespace as array_namespace
from ._backend import Backend as Backend
from ._backend import installed_backends as installed_backends
from ._backend import known_backends as known_backends
from ._backend import register_backend as register_backend
from ._backend import resolve as resolve_backend
from ._bench import benchmark as benchmark
from ._bench_report import BenchReport as BenchReport
from ._bridge import differentiate_with as differentiate_with
from ._check import CheckReport as CheckReport
from ._check import check as check
from ._errors import CompileFallbackWarning as CompileFallbackWarning
from ._errors import EagerWarning as EagerWarning
from ._errors import FiniteDifferenceDefaultWarning as FiniteDifferenceDefaultWarning
from ._errors import MissingEngineError as MissingEngineError
from ._first_order import derivative as derivative
from ._first_order import grad as grad
from ._first_order import gradient as gradient
from ._first_order import jacobian as jacobian
from ._first_order import jvp as jvp
from ._first_order import value_and_derivative as value_and_derivative
from ._first_order import value_and_grad as value_and_grad
from ._first_order import value_and_gradient as value_and_gradient
from ._first_order import value_and_jacobian as value_and_jacobian
from ._first_order import value_and_jvp as value_and_jvp
from ._first_order import value_and_vjp as value_and_vjp
from ._first_order import vjp as vjp
from ._higher_order import laplacian as laplacian
from ._higher_order import taylor as taylor
from ._lazy import HessianOperator as HessianOperator
from ._lazy import JacobianOperator as JacobianOperator
from ._lazy import lazy_hessian as lazy_hessian
from ._lazy import lazy_jacobian as lazy_jacobian
from ._operators import Prepared as Prepared
from ._operators import prepare as prepare
from ._second_order import hessian as hessian
from ._second_order import hvp as hvp
from ._second_order import second_derivative as second_derivative
from ._second_order import value_gradient_and_hessian as value_gradient_and_hessian
from ._sparse import hessian_sparsity as hessian_sparsity
from ._sparse import jacobian_sparsity as jacobian_sparsity

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BenchReport",
    "CheckReport",
    "CompileFallbackWarning",
    "EagerWarning",
    "FiniteDifferenceDefaultWarning",
    "HessianOperator",
    "JacobianOperator",
    "MissingEngineError",
    "Prepared",
    "array_namespace",
    "backends",
    "benchmark",
    "check",
    "derivative",
    "differentiate_with",
    "grad",
    "gradient",
    "hessian",
    "hessian_sparsity",
    "hvp",
    "installed_backends",
    "jacobian",
    "jacobian_sparsity",
    "jvp",
    "known_backends",
    "laplacian",
    "lazy_hessian",
    "lazy_jacobian",
    "prepare",
    "register_backend",
    "resolve_backend",
    "second_derivative",
    "taylor",
    "value_and_derivative",
    "value_and_grad",
    "value_and_gradient",
    "value_and_jacobian",
    "value_and_jvp",
    "value_and_vjp",
    "value_gradient_and_hessian",
    "vjp",
]

_autograph.skip_autograph()  # when TensorFlow is imported first; else the TensorFlow backend does it
