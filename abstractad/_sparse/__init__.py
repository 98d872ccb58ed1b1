"""Sparse Jacobians and Hessians: the ``Sparse`` backend wrapper and the machinery under it.

- ``backend``: ``Sparse``, its preparation (detection, coloring, compression) and the result formats;
- ``tracer``: the generic index-set tracer that finds a global sparsity pattern by running `f`;
- ``jaxpr``: the same on JAX's jaxpr, rule by rule;
- ``deps``: the index sets both of them propagate;
- ``coloring``: column, row and star colorings of a pattern.

Detection and coloring are imported when first needed.
"""

from .backend import Sparse as Sparse
from .backend import hessian_sparsity as hessian_sparsity
from .backend import jacobian_sparsity as jacobian_sparsity
