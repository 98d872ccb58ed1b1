"""PyTorch DTensor pytrees: reverse mode keeps each leaf's placements, everything else is a clear TypeError.

Two gloo processes on loopback (tests/_dtensor_child.py, one per rank, torchrun-style environment)
share a 1-D CPU mesh; the parameters of a small MLP are DTensors (sharded on either dimension, and
replicated). gradient, value_and_gradient, vjp, prepare, Torch(compile=...) and a reverse-over-reverse
hvp must return DTensors with each input leaf's placements and the full-tensor computation's values;
forward mode, Jacobians, Hessians and other engines must refuse DTensors with a TypeError that says
to pass full tensors (``full_tensor()``) or to use gradient / vjp. Each rank reports a JSON summary;
every failure of either rank, a crash or a hang (both are killed after 60 s) shows in the message.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _support import installed

if not installed("torch"):
    pytest.skip("PyTorch is not installed", allow_module_level=True)

CHILD = Path(__file__).with_name("_dtensor_child.py")
MARK = "DTENSOR-RESULT "
FAIL = "DTENSOR-FAIL "
WORLD = 2
DEADLINE = 60.0


def _distributed_or_skip() -> None:
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("this PyTorch build has no torch.distributed")
    if not dist.is_gloo_available():
        pytest.skip("this PyTorch build has no gloo backend")
    if not installed("torch.distributed.tensor"):
        pytest.skip("this PyTorch has no torch.distributed.tensor (DTensor)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_ranks() -> list[tuple[int | None, str, str]]:
    """Start every rank, wait for all of them (killing all at the deadline): (exit code, stdout, stderr)."""
    port = _free_port()
    procs = []
    for rank in range(WORLD):
        env = dict(os.environ)
        env.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            WORLD_SIZE=str(WORLD),
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            OMP_NUM_THREADS="1",
        )
        if Path("/sys/class/net/lo").exists():
            env["GLOO_SOCKET_IFNAME"] = "lo"  # gloo's own connections on loopback too
        procs.append(
            subprocess.Popen(
                [sys.executable, str(CHILD)],
                env=env,
                cwd=CHILD.parent.parent,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    end = time.monotonic() + DEADLINE
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(0.1, end - time.monotonic()))
            results.append((proc.returncode, out, err))
        except subprocess.TimeoutExpired:
            for other in procs:
                if other.poll() is None:
                    other.kill()
            out, err = proc.communicate()
            results.append((None, out, err))
    return results


def _last_case(stderr: str) -> str:
    cases = [ln.removeprefix("DTENSOR-CASE ") for ln in stderr.splitlines() if ln.startswith("DTENSOR-CASE ")]
    return cases[-1] if cases else "(before the first case)"


def test_dtensor_reverse_mode_keeps_placements_and_the_rest_is_refused() -> None:
    _distributed_or_skip()
    results = _run_ranks()
    if any(code is not None and "EADDRINUSE" in err + out for code, out, err in results):
        results = _run_ranks()  # the free port was taken between choosing it and binding it: once more
    seen: dict[str, list[int]] = {}  # failure -> ranks: every rank runs the same checks
    for rank, (code, out, err) in enumerate(results):
        # Failures are printed as they happen, so those before a crash are reported too.
        for line in out.splitlines():
            if line.startswith(FAIL):
                seen.setdefault(json.loads(line[len(FAIL) :]), []).append(rank)
        if not any(ln.startswith(MARK) for ln in out.splitlines()):
            how = f"was killed after {DEADLINE:.0f} s" if code is None else f"exited with {_exit(code)}"
            noise = ("DTENSOR-CASE", "Extension modules")
            tail = [ln for ln in err.splitlines() if "Warning" not in ln and not ln.startswith(noise)]
            seen.setdefault(
                f"rank {rank} {how} without a summary, in case {_last_case(err)!r}; stderr ended with:\n"
                + "\n".join(tail[-25:]),
                [],
            )
    problems = [f"rank {','.join(map(str, ranks))}: {text}" if ranks else text for text, ranks in seen.items()]
    assert not problems, f"{len(problems)} problem(s) with DTensors:\n" + "\n".join(problems)


def _exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return str(code)
