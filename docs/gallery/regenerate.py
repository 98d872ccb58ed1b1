"""Runs each example of the gallery and writes what it prints next to its page (docs/gallery/NAME.txt).

    .venv/bin/python docs/gallery/regenerate.py            # every example
    .venv/bin/python docs/gallery/regenerate.py train_mlp  # one

The pages include the example's source and this output with pymdownx.snippets, so the source cannot go
stale; rerun this after changing an example. Timings in the output are the machine's of that run.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
# Each example with the arguments its page shows.
EXAMPLES: dict[str, list[str]] = {
    "cross_check": [],
    "mixed_engines": [],
    "newton_cg": [],
    "train_mlp": [],
}


def regenerate(name: str) -> None:
    command = [sys.executable, str(ROOT / "examples" / f"{name}.py"), *EXAMPLES[name]]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    (HERE / f"{name}.txt").write_text(out.stdout)
    print(f"{name}: {len(out.stdout.splitlines())} lines")


if __name__ == "__main__":
    for name in sys.argv[1:] or EXAMPLES:
        regenerate(name)
