"""Issue 12's acceptance, as written: `HOTLINE_TWILIO_AUTH_TOKEN=test-token hotline web
--port P`, then a POST to /twilio/voice with CallSid, From and To and a valid signature
for that URL gets 200 XML containing <Gather; without the signature, 403. The process is
the real command (cheroot), on SQLite, with the sample config's base URL pointed at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from config_files import copy_sample, edit
from twilio_phone import CALL_SID, TwilioPhone

TOKEN = "test-token"  # noqa: S105


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hotline_web(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = _free_port()
    config = copy_sample(tmp_path / "config")
    edit(
        config,
        "hotline.yaml",
        "base_url: http://127.0.0.1:8080",
        f"base_url: http://127.0.0.1:{port}",
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")},
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_CONFIG": str(config),
        "HOTLINE_DATA_DIR": str(tmp_path / "var"),
        "HOTLINE_NOW": "2026-11-23T10:00:00+08:00",
    }
    hotline = Path(sys.executable).parent / "hotline"
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [str(hotline), "web", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text(errors="replace")
                time.sleep(0.2)
        else:
            raise AssertionError("hotline web did not listen")
        yield port, tmp_path / "var"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_signed_voice_webhook_gets_a_gather_and_an_unsigned_one_403(
    hotline_web: tuple[int, Path],
) -> None:
    port, _ = hotline_web
    twilio = TwilioPhone(port, f"http://127.0.0.1:{port}", TOKEN)
    url = f"http://127.0.0.1:{port}/twilio/voice"
    fields = {"CallSid": CALL_SID, "From": "+8613800000101", "To": "+14155550100"}
    unsigned = twilio.post(url, fields, signature="")
    assert unsigned.status == 403
    signed = twilio.post(url, fields)
    assert signed.status == 200
    assert "<Gather" in signed.body and signed.body.startswith("<?xml")
    # and the walk goes on through the real process: key 1 in open hours -> the queue
    routed = twilio.answer(signed, Digits="1")
    assert "sip:queue-enquiries@pbx.example.com" in routed.body
