"""pytest fixtures: `backend_id` runs a test on every backend of tests/_support.py."""

from __future__ import annotations

import pytest
from _support import BACKENDS


@pytest.fixture(params=sorted(BACKENDS))
def backend_id(request: pytest.FixtureRequest) -> str:
    return request.param
