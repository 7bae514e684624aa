"""The Flask app over the web runtime (tests/conftest.py), with its test client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from twilio_phone import PUBLIC, TOKEN, TwilioPhone

from ivr.bootstrap import Runtime
from web.app import close_app, create_app
from web.server import WebServer


class EnglishClient(FlaskClient):
    """A test client whose browser prefers English (tests/web/test_i18n.py covers zh-CN);
    a request's own Accept-Language header still wins."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def make_app(rt: Runtime, **options: Any) -> Flask:
    """The app over `rt` as the tests build it: the board computed at every read, an
    English browser; `options` are WebSettings fields."""
    app = create_app(rt, secret_key="test-secret", board_poll_seconds=0.0, **options)
    app.config["TESTING"] = True
    app.test_client_class = EnglishClient
    return app


@pytest.fixture
def app(web_runtime: Runtime) -> Iterator[Flask]:
    app = make_app(web_runtime)
    try:
        yield app
    finally:
        close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def phone(web_runtime: Runtime) -> Iterator[TwilioPhone]:
    """Twilio, posting signed webhooks over real HTTP to the app behind cheroot, which is
    published at PUBLIC (a reverse proxy that strips its path) and reached at 127.0.0.1."""
    cfg = web_runtime.config
    assert cfg.twilio is not None
    web_runtime.config = replace(cfg, twilio=replace(cfg.twilio, base_url=PUBLIC, auth_token=TOKEN))
    app = create_app(web_runtime, secret_key="twilio-test", board_poll_seconds=0.0)
    srv = WebServer(app, "127.0.0.1", 0).start()
    try:
        yield TwilioPhone(srv.port, PUBLIC, TOKEN)
    finally:
        srv.stop()
        close_app(app)
