"""Fixtures for end-to-end tests: the real parts, from tests/e2e_stack.py.

Only one sandbox Asterisk can run on a machine: the session holds
`Sandbox.exclusive()` while it uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from dbs import BACKENDS, temporary_database
from e2e_stack import (
    REPO,
    WEEKDAY_10,
    SettableClock,
    Stack,
)
from tcp_proxy import CuttableProxy

from ivr.adapters.asterisk.conf_dir import AsteriskConfDir
from ivr.bootstrap import asterisk_settings, build_runtime, build_service
from ivr.service import ServiceThread
from lab.provision import provision_sandbox
from lab.sandbox import Sandbox
from lab.sipp import SeatPool


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
    with temporary_database(backend, work) as url:
        proxy = None
        if backend == "postgresql":  # through a proxy the outage test can cut
            proxy = CuttableProxy("127.0.0.1", 5432)
            url = url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
        env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": str(work)}
        with ExitStack() as cleanup:  # whatever part started is stopped, in reverse order
            if proxy is not None:
                cleanup.callback(proxy.close)
            runtime = build_runtime(str(REPO / "config"), env)
            cleanup.callback(runtime.close)
            clock = SettableClock(WEEKDAY_10)
            runtime.clock = clock
            settings = asterisk_settings(runtime.config)
            provision_sandbox(runtime, sandbox)
            # A reload (tests/e2e/test_reload_e2e.py) rewrites the sandbox's files.
            conf = AsteriskConfDir(sandbox.config_dir)
            service = ServiceThread(build_service(runtime, sync_seconds=0.5, asterisk=conf))
            service.start()
            cleanup.callback(service.stop)
            seats = SeatPool(settings, ring_ms=300)
            seats.start()
            cleanup.callback(seats.stop)
            yield Stack(backend, runtime, service, seats, clock, sandbox, proxy)
