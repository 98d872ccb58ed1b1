"""A pytest plugin (entry point ``pytest11``): the ``ad_backend`` fixture runs a test on every installed engine.

    def test_my_gradient(ad_backend):
        g = ad.gradient(f, x, backend=ad_backend)
        ...

``--ad-backends=jax,torch`` limits the engines.
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--ad-backends", default=None, help="abstractad: comma-separated backends for ad_backend")


def pytest_generate_tests(metafunc: Any) -> None:
    if "ad_backend" not in metafunc.fixturenames:
        return
    from ._backend import installed_backends

    chosen = metafunc.config.getoption("--ad-backends")
    names = chosen.split(",") if chosen else installed_backends()
    metafunc.parametrize("ad_backend", names, ids=names)
