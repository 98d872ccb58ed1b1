"""A griffe extension for the site's API reference (mkdocs.yml loads it).

abstractad's docstrings are plain text with doctests and a few Sphinx roles: each doctest becomes a
```pycon block and each role (:class:`X`) a code span, so that Markdown renders them as they read in a
terminal. And `abstractad.backends` is the top-level folder backends/ (setuptools' package-dir), which
griffe's static finder does not look for inside abstractad/: this extension visits that folder as the
subpackage, and adds its public names (reached through a module `__getattr__` at run time) as aliases of
the classes they return, read off the package's own tables (importing it imports no engine).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`~?\.?([^`]+)`")


def markdown(text: str) -> str:
    """`text` with its doctests fenced as ```pycon blocks (a doctest runs to the next blank line)."""
    out: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if block and not stripped:
            out += ["```pycon", *block, "```", ""]
            block = []
        elif block or stripped.startswith(">>>"):
            block.append(line)
        else:
            out.append(ROLE.sub(r"`\1`", line))
    if block:
        out += ["```pycon", *block, "```"]
    return "\n".join(out)


def public_targets() -> dict[str, str]:
    """Each public name of abstractad.backends -> the path of the class it returns."""
    backends = importlib.import_module("abstractad.backends")
    targets = {cls: f"abstractad.backends.{module}.{cls}" for module, cls, _ in backends.BUILTIN.values()}
    targets.update({cls: f"{module}.{cls}" for cls, module in backends._WRAPPERS.items()})
    assert set(targets) == set(backends.__all__), "abstractad.backends' tables changed: update this extension"
    return targets


class DoctestBlocks(griffe.Extension):
    """Rewrites the docstring of every object griffe loads, and loads abstractad.backends with abstractad."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)

    def on_module_members(self, *, mod: griffe.Module, agent: Any, **kwargs: Any) -> None:
        if mod.path != "abstractad" or not isinstance(agent, griffe.Visitor):
            return
        spec = importlib.util.find_spec("abstractad.backends")
        assert spec is not None and spec.origin is not None
        folder = Path(spec.origin).parent

        def visit(name: str, path: Path, parent: griffe.Module) -> griffe.Module:
            return griffe.visit(
                name,
                filepath=path,
                code=path.read_text(encoding="utf-8"),
                parent=parent,
                extensions=agent.extensions,
                docstring_parser=agent.docstring_parser,
                docstring_options=agent.docstring_options,
                lines_collection=agent.lines_collection,
                modules_collection=agent.modules_collection,
            )

        package = visit("backends", folder / "__init__.py", mod)
        for path in sorted(folder.glob("*.py")):
            if path.stem != "__init__":
                package.set_member(path.stem, visit(path.stem, path, package))
        for name, target in public_targets().items():
            package.set_member(name, griffe.Alias(name, target, parent=package))
        mod.set_member("backends", package)
