"""Issue 9, class 10 (REQUIREMENTS §7): no full caller number in logs; `hotline calls`
masks numbers unless asked, and asking is audited. SQLite and PostgreSQL."""

from __future__ import annotations

import getpass
import json
import logging
import re
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from conftest import MONDAY_10, CallBuilder
from sqlalchemy import select

from cli.main import main
from ivr.adapters.db.callbacks import CallbackRepo
from ivr.adapters.db.models_web import AuditEntry
from ivr.bootstrap import Runtime, build_dialer, callback_parts
from ivr.domain.privacy import mask_number
from web.app import create_app
from web.server import WebServer

KEPT = "+8613812345678"  # asks for a callback: intake, then the dialer rings an agent for it
REFUSED = "+8613700000000"  # on the do-not-call list of config/callbacks.yaml
CALLER = "13912345678"


class FakeLink:
    """The dialer's AMI link, accepting every Originate (no Asterisk in this test)."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, action: str, **fields: Any) -> dict[str, str]:
        self.sent.append((action, fields))
        return {"Response": "Success"}


def test_a_dialer_pass_logs_no_full_number(
    web_runtime: Runtime, calls: CallBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    rt = web_runtime
    start = MONDAY_10 - timedelta(minutes=5)
    calls.call(start, caller=KEPT, branch="complaints", kind="callback")
    calls.call(start, caller=REFUSED, branch="complaints", kind="callback")
    for agent in rt.config.roster.agents:
        rt.presence_repo.set_agent_state(agent.id, "available", "", start)
    dialer = build_dialer(rt, callback_parts(rt), "privacy")
    link = FakeLink()
    dialer.link = link  # type: ignore[assignment]
    caplog.set_level(logging.DEBUG)

    assert dialer.calllog.scan(rt.clock()) == 1  # the listed number is refused
    claims = dialer.dial_due()

    assert [c.request.number for c in claims] == [KEPT]
    assert [action for action, _ in link.sent] == ["Originate"]
    assert [r.number for r in CallbackRepo(rt.sessions).listing()] == [KEPT]
    assert mask_number(KEPT) in caplog.text  # "ringing <seat> for +86****5678"
    assert mask_number(REFUSED) in caplog.text  # "no callback to +86****0000"
    assert KEPT not in caplog.text and REFUSED not in caplog.text


def _hotline_calls(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> Any:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", rt.config.database_url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(rt.config.data_dir))
    assert main(["calls", "--config", str(rt.config.directory), *args]) == 0
    return json.loads(capsys.readouterr().out)


def _audit(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.role == "cli")))


def test_hotline_calls_masks_numbers_by_default(
    web_runtime: Runtime,
    calls: CallBuilder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uid = calls.call(MONDAY_10, caller=CALLER, branch="complaints", kind="callback")
    rows = _hotline_calls(web_runtime, monkeypatch, capsys, "--limit", "5")
    one = _hotline_calls(web_runtime, monkeypatch, capsys, "--uid", uid)

    assert [r["uid"] for r in rows] == [uid] and one["uid"] == uid
    assert rows[0]["caller"] == one["caller"] == "+86 139****5678"
    assert CALLER not in json.dumps([rows, one])
    assert _audit(web_runtime) == []  # a masked read is not a disclosure


def test_hotline_calls_full_numbers_on_request_and_audited(
    web_runtime: Runtime,
    calls: CallBuilder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uid = calls.call(MONDAY_10, caller=CALLER)
    rows = _hotline_calls(web_runtime, monkeypatch, capsys, "--full-numbers")
    one = _hotline_calls(web_runtime, monkeypatch, capsys, "--uid", uid, "--full-numbers")

    assert rows[0]["caller"] == one["caller"] == "+86" + CALLER  # stored in E.164
    audit = _audit(web_runtime)
    assert [(a.username, a.role, a.action, a.target) for a in audit] == [
        (getpass.getuser(), "cli", "calls_read", "latest 10"),
        (getpass.getuser(), "cli", "calls_read", uid),
    ]
    assert all("full numbers" in a.detail for a in audit)


@pytest.mark.parametrize("debug", [True, False], ids=["werkzeug", "cheroot"])
def test_the_web_access_log_drops_query_strings(
    web_runtime: Runtime, caplog: pytest.LogCaptureFixture, debug: bool
) -> None:
    """`/calls?number=...` (a call-log filter) is logged as `/calls` by werkzeug's
    server (`--debug`), at INFO too; cheroot, the production server, writes no
    access log: the number appears in no log line either way."""
    caplog.set_level(logging.DEBUG)
    app = create_app(web_runtime, secret_key="log-test")
    server = WebServer(app, "127.0.0.1", 0, debug=debug).start()
    try:
        url = f"{server.url}/calls?number={CALLER}&page=1"
        with urllib.request.urlopen(url) as response:  # noqa: S310 (http on loopback)
            assert response.status == 200  # the sign-in page, after the redirect
    finally:
        server.stop()
    lines = [
        re.sub(r"\x1b\[[0-9;]*m", "", r.getMessage())  # werkzeug colours some lines
        for r in caplog.records
        if r.name == "werkzeug"
    ]
    if debug:
        assert any('"GET /calls HTTP/1.1" 302' in line for line in lines), lines
        assert any('"GET /login HTTP/1.1" 200' in line for line in lines), lines
    assert CALLER not in caplog.text
