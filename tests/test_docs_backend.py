"""docs/writing-a-backend.md documents every hook of ad.Backend, in its part, and its code runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

import abstractad as ad

PAGE = Path(__file__).parent.parent / "docs" / "writing-a-backend.md"
INTERNAL = "## Internal hooks (built-in engines)"


def documented(name: str, text: str) -> bool:
    return f"`{name}`" in text or f"`{name}(" in text


def hooks() -> tuple[set[str], set[str]]:
    """(author's hooks: what ad.Backend defines itself, internal hooks: what it inherits from its base)."""
    own = {k for k in vars(ad.Backend) if not k.startswith("_")}
    every = {k for k in dir(ad.Backend) if not k.startswith("_")}
    return own, every - own


def test_every_hook_is_documented_in_its_part() -> None:
    author_part, internal_part = PAGE.read_text().split(INTERNAL)
    author, internal = hooks()
    assert {"pushforward", "pullback", "batched_pushforward", "linearize"} <= author
    assert {"scope", "foreign", "records", "place_like"} <= internal
    assert not {h for h in author if not documented(h, author_part)}, "author hooks missing from the first part"
    assert not {h for h in internal if not documented(h, internal_part)}, "internal hooks missing from their section"


def test_code_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict = {"ad": ad, "np": np}
    for block in blocks:
        if "ad.backends.Jax" in block and importlib.util.find_spec("jax") is None:
            continue
        exec(compile(block, str(PAGE), "exec"), namespace)
    g = ad.gradient(lambda x: (x**3).sum(), np.array([1.0, 2.0]), backend=namespace["ComplexStep"]())
    np.testing.assert_allclose(g, [3.0, 12.0])
