"""The documentation site (mkdocs.yml, docs/): every public name has its reference entry, the guides'
Python blocks run, the gallery shows every example, and `mkdocs build --strict` passes."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import abstractad as ad

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
NOT_RUN = "<!-- not run -->"
# The guides, in the order of mkdocs.yml's nav (a newcomer's order); docs/index.md is "getting started".
GUIDES = [
    "index.md",
    "operators.md",
    "backends.md",
    "pytrees.md",
    "nesting.md",
    "lazy.md",
    "sparse.md",
    "checking.md",
    "performance.md",
    "edge-cases.md",
    "writing-a-backend.md",
    "architecture.md",
]
# What a guide's blocks take as given (names its text defines in words): run before the block of that
# number (counting its blocks that run from 0); every guide's blocks start with NumPy and abstractad imported.
LOSS = """
X, y = np.random.default_rng(0).normal(size=(8, 3)), np.zeros((8, 2))
params = {"W": np.ones((3, 2)), "b": np.zeros(2)}

def loss(p, X, y):
    xp = ad.array_namespace(p["W"])
    return xp.mean((xp.matmul(X, p["W"]) + p["b"] - y) ** 2)
"""
PRELUDE = "import numpy as np\nimport abstractad as ad\n"
GIVEN: dict[str, dict[int, str]] = {
    "pytrees.md": {
        0: "X = np.random.default_rng(0).normal(size=(8, 3))\ny = np.zeros((8, 2))",
        2: "import torch\nX = torch.randn(8, 2)\ny = torch.randn(8)",
        3: LOSS,  # the first block's loss, not the nn.Module's
    },
    "lazy.md": {0: "from abstractad.testing import rosenbrock_chain as f\nx = np.full(6, 0.5)"},
    "checking.md": {
        1: """
from abstractad.testing import rosenbrock_chain as rosen
x = np.linspace(0.1, 1.0, 5)

class Wrong(ad.Backend):
    name = "wrong"

    def pushforward(self, f, x, v):
        y, t = ad.backends.FiniteDiff().pushforward(f, x, v)
        return y, 1.01 * t
"""
    },
    "performance.md": {
        0: LOSS
        + """
def update(p, g):
    return {k: p[k] - 0.1 * g[k] for k in p}
"""
    },
}
# What the guides' blocks import besides abstractad's dependencies (pip install -e ".[all]").
OPTIONAL = ("jax", "torch", "tensorflow", "autograd", "scipy")
GALLERY = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))


def entries() -> set[str]:
    """The objects the reference pages document (their `::: path` lines)."""
    found: set[str] = set()
    for page in REFERENCE.glob("*.md"):
        found |= set(re.findall(r"^::: *([\w.]+)", page.read_text(), flags=re.MULTILINE))
    return found


def test_every_public_name_has_a_reference_entry() -> None:
    documented = entries()
    missing = {f"abstractad.{n}" for n in ad.__all__} - documented
    missing |= {f"abstractad.backends.{n}" for n in ad.backends.__all__} - documented
    assert not missing, f"no entry in docs/reference/: {sorted(missing)}"
    public = {f"abstractad.{n}" for n in ad.__all__} | {f"abstractad.backends.{n}" for n in ad.backends.__all__}
    assert not documented - public, f"entries for names that are not public: {sorted(documented - public)}"


def test_nav_lists_the_guides_in_order_and_every_page() -> None:
    nav = re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)$", (ROOT / "mkdocs.yml").read_text(), flags=re.MULTILINE)
    assert nav[: len(GUIDES)] == GUIDES
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert set(nav) == pages, f"pages not in the nav: {sorted(pages - set(nav))}; missing: {sorted(set(nav) - pages)}"


def test_getting_started_has_the_readme_commands() -> None:
    commands = re.findall(r"^bash \.ci/setup.*$", (ROOT / "README.md").read_text(), flags=re.MULTILINE)
    assert len(commands) == 2
    start = (DOCS / "index.md").read_text()
    assert all(c in start for c in commands)


def test_readme_links_every_guide() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [g for g in GUIDES[1:] if f"(docs/{g})" not in readme]
    assert not missing, f"README.md does not link {missing}"


def test_the_gallery_shows_every_example() -> None:
    for name in GALLERY:
        page = (DOCS / "gallery" / f"{name}.md").read_text()
        assert f'--8<-- "examples/{name}.py"' in page
        assert f'--8<-- "docs/gallery/{name}.txt"' in page
        assert (DOCS / "gallery" / f"{name}.txt").read_text().strip(), f"run docs/gallery/regenerate.py {name}"


def blocks(page: Path) -> list[tuple[int, str]]:
    """The ```python blocks of `page` that run (not after a `<!-- not run -->` line), with their lines."""
    text = page.read_text()
    found = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() != NOT_RUN:
            found.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return found


@pytest.mark.parametrize("guide", [*GUIDES, "reference/abstractad.md"])
def test_guide_code_runs(guide: str) -> None:
    """Each guide's blocks (and the reference's examples) run in order in one namespace, as a reader would
    paste them."""
    page = DOCS / guide
    namespace: dict = {"__name__": f"docs.{guide}"}
    exec(PRELUDE, namespace)
    for i, (line, code) in enumerate(blocks(page)):
        exec(GIVEN.get(guide, {}).get(i, ""), namespace)
        source = "\n" * (line - 1) + code  # tracebacks point at the page's line
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(source, str(page), "exec"), namespace)
        except (ModuleNotFoundError, ad.MissingEngineError) as e:
            if all(importlib.util.find_spec(m) for m in OPTIONAL):
                raise
            pytest.skip(f"{guide}:{line} needs an engine that is not installed: {e}")


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("mkdocs", "material", "mkdocstrings_handlers")),
    reason='needs pip install -e ".[docs]"',
)
def test_every_public_name_has_an_example() -> None:
    """A doctest in its docstring, or an example below its entry on the reference page."""
    page = (REFERENCE / "abstractad.md").read_text()
    below = set(re.findall(r"^::: abstractad\.(\w+)\n\nExample:\n\n```python\n", page, flags=re.MULTILINE))
    public = [getattr(ad, n) for n in ad.__all__] + [getattr(ad.backends, n) for n in ad.backends.__all__]
    names = [*ad.__all__, *ad.backends.__all__]
    missing = [n for n, obj in zip(names, public) if ">>>" not in (obj.__doc__ or "") and n not in below]
    assert not missing, f"no example: {missing}"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    command = [str(mkdocs)] if mkdocs.exists() else [sys.executable, "-m", "mkdocs"]
    out = subprocess.run(
        [*command, "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for page in ("index.html", "reference/abstractad/index.html", "reference/backends/index.html"):
        assert (tmp_path / page).exists()
    reference = (tmp_path / "reference" / "abstractad" / "index.html").read_text()
    for name in ad.__all__:
        if name != "backends":
            assert f'id="abstractad.{name}"' in reference, name
