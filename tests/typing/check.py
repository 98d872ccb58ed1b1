"""Type-check the public API as users see it: mypy (configured in pyproject.toml, [tool.mypy]) on
tests/typing/public_api.py, abstractad/__init__.py and abstractad/testing.py, following the internal
modules silently (their annotations are used, their own errors are not reported).

Users get abstractad.backends inside abstractad (the wheel's layout). In the repository it is the
top-level backends/ folder, which the editable install serves through an import hook that mypy
cannot see; so this script lays the package out as the wheel does, with symbolic links into the
working tree, points mypy at it, and prints mypy's report with the working tree's paths.

    .venv/bin/python tests/typing/check.py [more mypy options]      # exit status: mypy's
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = ["tests/typing/public_api.py", "abstractad/__init__.py", "abstractad/testing.py"]


def lay_out(into: Path) -> Path:
    """`into`/abstractad: every entry of abstractad/ plus backends/ as abstractad/backends, linked (copied
    where the system has no symbolic links)."""
    package = into / "abstractad"
    package.mkdir()
    entries = [(p, package / p.name) for p in (ROOT / "abstractad").iterdir() if p.name != "__pycache__"]
    for source, target in [*entries, (ROOT / "backends", package / "backends")]:
        try:
            os.symlink(source, target, target_is_directory=source.is_dir())
        except OSError:
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    return package


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="abstractad-typing-") as tmp:
        package = lay_out(Path(tmp))
        files = [str(package / f.removeprefix("abstractad/")) if f.startswith("abstractad/") else f for f in FILES]
        env = {**os.environ, "MYPYPATH": tmp}
        command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *argv, *files]
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        report = (run.stdout + run.stderr).replace(f"{package}/backends/", "backends/").replace(f"{tmp}/", "")
    print(report, end="")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
