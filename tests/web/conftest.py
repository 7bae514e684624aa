"""The Flask app over the web runtime (tests/conftest.py), with its test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.bootstrap import Runtime
from web.app import close_app, create_app


@pytest.fixture
def app(web_runtime: Runtime) -> Iterator[Flask]:
    app = create_app(web_runtime, secret_key="test-secret", board_poll_seconds=0.0)
    app.config["TESTING"] = True
    try:
        yield app
    finally:
        close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
