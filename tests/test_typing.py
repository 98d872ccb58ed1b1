"""The public API type-checks as users see it: mypy (strict) on tests/typing/public_api.py and
abstractad/__init__.py, the same command as CI (.ci/run), and the API file uses every public name."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import abstractad as ad

TYPING = Path(__file__).parent / "typing"


def test_public_api_file_uses_every_public_name() -> None:
    used = set(re.findall(r"\bad\.(\w+)", (TYPING / "public_api.py").read_text()))
    assert not set(ad.__all__) - used, f"add to tests/typing/public_api.py: {sorted(set(ad.__all__) - used)}"


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_passes_on_the_public_api() -> None:
    run = subprocess.run([sys.executable, str(TYPING / "check.py")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
