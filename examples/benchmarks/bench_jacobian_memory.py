"""A 1e4 x 1e4 Jacobian: time and peak memory, abstractad (chunked) against the engine's native call.

Run: ``python examples/benchmarks/bench_jacobian_memory.py [--n 10000] [--engines jax,torch]``. Each case
runs in its own process, so the peak resident memory (``ru_maxrss``) is the case's own. The
function is the neighbour chain ``sin(x) * roll(x, 1) + x**2`` in float32 (the result alone is
n² x 4 bytes: 400 MB at n = 1e4). abstractad seeds the Jacobian in chunks of at most
``_derive.CHUNK_ELEMENTS`` elements (or ``chunk_size=``); the native calls build all n seeds at once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASE = r"""
import json, resource, sys, time
import numpy as np
import abstractad as ad
from abstractad._bench_problems import chain
engine, who, n, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
chunk = None if chunk == "none" else int(chunk)
x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
if engine == "jax":
    import jax, jax.numpy as jnp
    x = jnp.asarray(x)
    run = (lambda: jax.block_until_ready(jax.jacfwd(chain)(x))) if who == "native" else (
        lambda: jax.block_until_ready(ad.jacobian(chain, x, backend="jax", chunk_size=chunk)))
else:
    import torch
    x = torch.from_numpy(x)
    run = (lambda: torch.func.jacfwd(chain)(x)) if who == "native" else (
        lambda: ad.jacobian(chain, x, backend="torch", chunk_size=chunk))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    run()
    seconds, error = time.perf_counter() - t, ""
except Exception as e:
    seconds, error = float("nan"), type(e).__name__
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "growth_mb": (peak - base) / 1024, "error": error}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--engines", default="jax,torch")
    parser.add_argument("--chunk", default="none", help="chunk_size for abstractad (default: the memory cap)")
    args = parser.parse_args()
    print(f"{'engine':<8}{'who':<12}{'seconds':>10}{'peak MB':>10}{'growth MB':>11}")
    for engine in args.engines.split(","):
        for who in ("native", "abstractad"):
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CASE, engine, who, str(args.n), args.chunk], capture_output=True, text=True
            )
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if not lines:
                print(f"{engine:<8}{who:<12} failed ({time.perf_counter() - start:.0f} s): {out.stderr[-300:]}")
                continue
            r = json.loads(lines[-1])
            note = f"  {r['error']}" if r["error"] else ""
            print(f"{engine:<8}{who:<12}{r['seconds']:>10.2f}{r['peak_mb']:>10.0f}{r['growth_mb']:>11.0f}{note}")


if __name__ == "__main__":
    main()
