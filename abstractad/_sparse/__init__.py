"""Sparse Jacobians and Hessians: the ``Sparse`` backend wrapper and the machinery under it.

- ``backend``: ``Sparse`` and its own plan (detection, coloring, compression), the result formats;
- ``tracer`` (``tracer_array``, ``tracer_namespace``): the generic detector, `f` run on index sets;
- ``jaxpr`` (``jaxpr_interpreter``, ``jaxpr_numpy`` and the rules in ``jaxpr_elementwise``,
  ``jaxpr_structural``, ``jaxpr_reductions``, ``jaxpr_contractions``, ``jaxpr_control``): the same on
  JAX's jaxpr;
- ``deps``: the index sets both detectors propagate;
- ``coloring`` (``coloring_greedy``): column, row and star colorings of a pattern.

Detection and coloring are imported when first needed. See docs/architecture.md.
"""

from .backend import Sparse as Sparse
from .backend import hessian_sparsity as hessian_sparsity
from .backend import jacobian_sparsity as jacobian_sparsity
