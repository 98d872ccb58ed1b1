"""Every docstring example of every module of abstractad and abstractad.backends runs and prints what it says.

The modules are found, not listed: `pkgutil.walk_packages` over both packages (subpackages such as
abstractad._sparse included), one test per module. A module (or one docstring of it) that needs a
library that is not installed is skipped, decided by what happens: importing it, or running an
example, raises an ImportError (MissingEngineError included) for a library abstractad can do without
(an engine of `known_backends()`, or a requirement of one of its extras, read from its metadata)
that is not installed. Any other error, in an import or an example, fails (a misspelled import
included). A module without examples is still collected: its test asserts that it imports.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import re
import sys
import types

import pytest

import abstractad

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _modules() -> list[str]:
    names = set()
    # A subpackage that fails to import is still listed (its own test then fails); only its modules are not.
    for package in (abstractad, abstractad.backends):
        names.add(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.", onerror=lambda name: None):
            names.add(info.name)
    # Importing a __main__ module runs the program (and exits): it has no examples to run.
    return sorted(n for n in names if n.rsplit(".", 1)[-1] != "__main__")


@functools.cache
def _optional() -> frozenset[str]:
    """What abstractad can do without: its engines, and what its extras (`pip install abstractad[...]`) require."""
    extras = [r for r in importlib.metadata.requires("abstractad") or [] if "extra ==" in r]
    names = {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0] for r in extras}
    return frozenset({*abstractad.known_backends(), *(n.lower().replace("-", "_") for n in names)})


def _missing(e: BaseException) -> str | None:
    """The optional library that is not installed if `e` (or what caused it) says so, else None."""
    seen: BaseException | None = e
    while seen is not None:
        name = getattr(seen, "name", None) if isinstance(seen, ImportError) else None
        top = name.split(".")[0] if name else None
        if top in _optional() and importlib.util.find_spec(top) is None:
            return top
        seen = seen.__cause__ or seen.__context__
    return None


class _NotInstalled(Exception):
    def __init__(self, library: str) -> None:
        super().__init__(library)
        self.library = library


class _Runner(doctest.DocTestRunner):
    """A runner that stops a docstring at the first example that needs a library that is not installed."""

    def report_unexpected_exception(self, out, test, example, exc_info) -> None:
        library = _missing(exc_info[1])
        if library is not None:
            raise _NotInstalled(library)
        super().report_unexpected_exception(out, test, example, exc_info)


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        library = _missing(e)
        if library is None:
            raise
        pytest.skip(f"importing {name} needs {library}, which is not installed")


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = _import(name)
    assert name in sys.modules
    runner = _Runner(optionflags=FLAGS)
    skipped = []
    for test in doctest.DocTestFinder().find(module, name, globs=module.__dict__.copy()):
        if not test.examples:
            continue
        try:
            runner.run(test)
        except _NotInstalled as e:
            skipped.append(f"{test.name} (needs {e.library})")
        finally:
            test.globs.clear()
    result = runner.summarize(verbose=False)
    report = capsys.readouterr().out
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}:\n{report}"
    if skipped:
        pytest.skip(f"examples skipped as a library is not installed: {', '.join(skipped)}")
