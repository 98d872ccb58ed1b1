"""The package as users install it: licence metadata and file, type information, a quiet build."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile
from importlib import metadata

import abstractad.backends
import pytest

import abstractad

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_licence_and_classifiers_in_the_metadata() -> None:
    meta = metadata.metadata("abstractad")
    assert meta["License-Expression"] == "MIT"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("package", [abstractad, abstractad.backends])
def test_py_typed_marker_ships_with_each_package(package) -> None:
    assert (pathlib.Path(package.__file__).parent / "py.typed").is_file()


def test_wheel_builds_without_deprecation_output_and_carries_licence_and_markers(tmp_path) -> None:
    pytest.importorskip("build")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "Deprecat" not in output, [line for line in output.splitlines() if "eprecat" in line]
    (wheel,) = tmp_path.glob("abstractad-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "abstractad/py.typed" in names and "abstractad/backends/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    # Every module of the source tree ships (a subpackage missing from pyproject's list would not).
    package = ROOT / "abstractad"
    sources = {f"abstractad/{p.relative_to(package).as_posix()}" for p in package.rglob("*.py")}
    sources |= {f"abstractad/backends/{p.name}" for p in (ROOT / "backends").glob("*.py")}
    assert sources <= set(names), sorted(sources - set(names))
    shipped = {n for n in names if n.startswith("abstractad/") and n.endswith(".py")}
    assert shipped <= sources, f"modules that no longer exist (a stale build/ directory?): {sorted(shipped - sources)}"
