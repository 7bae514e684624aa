"""`hotline up` and `hotline demo` stop every part they started even when Ctrl-C is
pressed again while they stop: the dialers, the seats, the service (its loops and
threads), then the sandbox Asterisk.

A Ctrl-C during the stop used to escape from it half way: the service's loops went
on (failing every second on its stopped threads), Asterisk and the web server kept
running, and the process never exited. The parts are stand-ins here (no sandbox);
the signal is a real SIGINT to this process.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

import lab.demo
import lab.sandbox
import lab.sipp
from ivr.bootstrap import build_runtime

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "config")


class Part:
    url = "http://127.0.0.1:8080"

    def __init__(self, name: str, stopped: list[str], interrupt: bool = False) -> None:
        self.name, self.stopped, self.interrupt = name, stopped, interrupt

    def start(self, *args: Any) -> Part:
        return self

    def summary(self) -> str:
        return self.name

    def stop(self) -> None:
        if self.interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again
        self.stopped.append(self.name)


def test_a_second_ctrl_c_while_the_demo_stops_stops_every_part(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[str] = []
    monkeypatch.setattr(lab.demo, "provision_sandbox", lambda *a: Part("sandbox", stopped))
    monkeypatch.setattr(lab.demo, "build_service", lambda *a, **k: None)
    monkeypatch.setattr(lab.demo, "ensure_demo_user", lambda rt: "")
    monkeypatch.setattr("ivr.service.ServiceThread", lambda s: Part("service", stopped))
    monkeypatch.setattr(lab.sipp, "SeatPool", lambda *a, **k: Part("seats", stopped, True))
    monkeypatch.setattr(lab.sandbox, "cmd_down", lambda *a: stopped.append("asterisk"))
    rt = build_runtime(CONFIG, {"HOTLINE_DATA_DIR": str(tmp_path)})
    web = Part("web", stopped)
    before = signal.getsignal(signal.SIGINT)
    try:
        assert lab.demo._demo(rt, web, minutes=0, rate=60) == 0  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pytest.fail(f"the second Ctrl-C escaped the demo's stop; stopped only {stopped}")
    finally:
        rt.close()
    assert stopped == ["seats", "service", "asterisk"]
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C works again afterwards


def test_a_second_ctrl_c_while_up_stops_still_stops_asterisk(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import cli.service_cmds
    import ivr.bootstrap
    import ivr.service

    stopped: list[str] = []
    dialer = Part("dialer", stopped, interrupt=True)
    thread = threading.Thread(target=lambda: None)
    thread.start()

    async def run_forever(service: Any, on_started: Any) -> None:
        on_started()  # then the first Ctrl-C ends it, as run_forever's handler does

    monkeypatch.setattr(cli.service_cmds, "_sandbox_up", lambda rt: Part("sandbox", stopped))
    monkeypatch.setattr(cli.service_cmds, "_speech_process", lambda cfg: None)
    monkeypatch.setattr(ivr.bootstrap, "build_service", lambda *a, **k: None)
    monkeypatch.setattr(ivr.bootstrap, "start_dialer_threads", lambda rt: [(dialer, thread)])
    monkeypatch.setattr(ivr.service, "run_forever", run_forever)
    monkeypatch.setattr(lab.sandbox, "cmd_down", lambda *a: stopped.append("asterisk"))
    rt = build_runtime(CONFIG, {"HOTLINE_DATA_DIR": str(tmp_path)})
    before = signal.getsignal(signal.SIGINT)
    try:
        assert cli.service_cmds._up(rt, Part("web", stopped)) == 0  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pytest.fail(f"the second Ctrl-C escaped up's stop; stopped only {stopped}")
    finally:
        rt.close()
    assert stopped == ["dialer", "asterisk"]
    assert signal.getsignal(signal.SIGINT) is before
