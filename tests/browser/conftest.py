"""The web app served by a threaded werkzeug server on an ephemeral loopback port, for the
headless Chromium of tests/conftest.py (`browser`, `sign_in`, `artifacts`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.bootstrap import Runtime
from web.app import create_app
from web.server import WebServer


@pytest.fixture
def web_server(web_runtime: Runtime) -> Iterator[WebServer]:
    # The default Secure cookie: Chromium accepts it on http://127.0.0.1 (a secure context).
    app = create_app(web_runtime, secret_key="browser-test")
    server = WebServer(app, "127.0.0.1", 0).start()
    try:
        yield server
    finally:
        server.stop()
