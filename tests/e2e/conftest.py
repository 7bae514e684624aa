"""Fixtures for end-to-end tests: the real parts, from tests/e2e_stack.py.

Only one sandbox Asterisk can run on a machine: the session holds
`Sandbox.exclusive()` while it uses it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbs import BACKENDS
from e2e_stack import REPO, Stack, running_stack

from lab.sandbox import Sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    with box.exclusive():
        box.build()
        try:
            yield box
        finally:
            box.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    backend: str = request.param
    work = tmp_path_factory.mktemp(f"stack-{backend}")
    with running_stack(backend, sandbox, work, REPO / "config") as stack:
        yield stack
