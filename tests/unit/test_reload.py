"""`hotline reload` and SIGHUP: a changed configuration swapped into the running
service for new calls, a refused one leaving the running one in place.

The service here is built whole by the composition root over a throw-away SQLite
database but not started (no AMI, no FastAGI port): the reload and the control
socket are driven directly. The end-to-end test through the sandbox Asterisk is
tests/e2e/test_reload_e2e.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from config_files import copy_sample, edit

from cli.main import main
from ivr.adapters.asterisk.conf_dir import AsteriskConfDir, reload_modules
from ivr.app.ivr_session import IvrDeps
from ivr.app.simulate import simulate
from ivr.bootstrap import Runtime, build_runtime, build_service
from ivr.service import HotlineService, ReloadResult, run_forever

MONDAY_10 = "2026-11-23T10:00:00+08:00"


def route_of(deps: IvrDeps, keys: str) -> dict[str, str]:
    """Where a caller pressing `keys` goes under these session dependencies."""
    at = datetime.fromisoformat(MONDAY_10)
    result = simulate(deps.menu, deps.roster, deps.policy, "zh-CN", at, "", keys, None)
    return dict(result["route"])


def deps_of(service: HotlineService) -> IvrDeps:
    handler: Any = service.fastagi.routes.get("hotline")
    return handler.__self__.deps  # type: ignore[no-any-return]


@dataclass
class Running:
    config: Path
    data: Path
    asterisk: Path
    rt: Runtime
    service: HotlineService

    def reload(self, directory: Path | None = None) -> ReloadResult:
        return asyncio.run(self.service.reload(directory))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    config, data, asterisk = tmp_path / "c", tmp_path / "v", tmp_path / "a"
    copy_sample(config)
    asterisk.mkdir()
    rt = build_runtime(config, {"HOTLINE_DATA_DIR": str(data)})
    service = build_service(rt, asterisk=AsteriskConfDir(asterisk))
    try:
        yield Running(config, data, asterisk, rt, service)
    finally:
        service.calllog.close()
        rt.close()


def test_a_reload_changes_routing_for_new_calls_and_keeps_a_session_in_progress(
    running: Running,
) -> None:
    before = deps_of(running.service)
    assert route_of(before, "1") == {"kind": "queue", "target": "enquiries"}
    edit(running.config, "menu.yaml", '"1": route:enquiries', '"1": route:complaints')
    edit(running.config, "routing.yaml", "repairs: {skill: repairs, priority: 3}",
         "repairs: {skill: repairs, priority: 7}")  # fmt: skip

    result = running.reload()

    assert result.ok, result.message
    assert "changed policy, menu" in result.message
    after = deps_of(running.service)
    assert route_of(after, "1") == {"kind": "queue", "target": "complaints"}
    # A dialog already running holds the old handlers: its session routes as it began.
    assert route_of(before, "1") == {"kind": "queue", "target": "enquiries"}
    # The service, and the runtime the web app reads, have the new configuration.
    assert running.service.config.policy.branches["repairs"].priority == 7
    assert running.rt.config is running.service.config
    # Asterisk's side: the files were written (0600) and the queue weight is new.
    queues = (running.asterisk / "queues.conf").read_text()
    assert "[repairs](hotline-queue)\nweight = 7\n" in queues
    assert (running.asterisk / "queues.conf").stat().st_mode & 0o777 == 0o600
    assert (running.asterisk / "extensions_callbacks.conf").exists()
    # Without AMI the commands are named, not run: Asterisk reads the files later.
    assert result.asterisk and all("AMI not connected" in line for line in result.asterisk)


def test_a_second_reload_writes_only_what_changed(running: Running) -> None:
    assert running.reload().ok
    edit(running.config, "routing.yaml", "repairs: {skill: repairs, priority: 3}",
         "repairs: {skill: repairs, priority: 5}")  # fmt: skip
    result = running.reload()
    assert result.ok
    assert result.message.endswith("Asterisk files written: queues.conf")
    assert [line.split(":")[0] for line in result.asterisk] == ["reload app_queue.so"]


class RecordingLink:
    """An AMI link that is connected and records what it is sent."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.connected.set()
        self.sent: list[tuple[str, dict[str, str]]] = []

    def send(self, action: str, **fields: str) -> dict[str, str]:
        self.sent.append((action, fields))
        return {"Response": "Success"}


def test_a_reload_applies_the_new_roster_to_the_queues(tmp_path: Path) -> None:
    config = copy_sample(tmp_path / "c")
    (tmp_path / "a").mkdir()
    env = {"HOTLINE_DATA_DIR": str(tmp_path / "v"), "HOTLINE_NOW": MONDAY_10}
    rt = build_runtime(config, env)
    service = build_service(rt, asterisk=AsteriskConfDir(tmp_path / "a"))
    link = RecordingLink()
    service.link = service.queues.link = link  # type: ignore[assignment]
    try:
        first = asyncio.run(service.reload())  # the first reload writes every file
        assert "reload app_queue.so: ok" in first.asterisk, first
        edit(config, "seats.yaml", "seat: seat2\n    skills: [enquiries, complaints]",
             "seat: seat2\n    skills: [enquiries]")  # fmt: skip
        link.sent.clear()
        result = asyncio.run(service.reload())
    finally:
        service.calllog.close()
        rt.close()
    assert result.ok and "changed roster" in result.message
    queue_actions = {(a, f.get("Queue"), f.get("Interface")) for a, f in link.sent}
    # chen (seat2) leaves the complaints queue and stays in enquiries; the others stay
    # where they were; nothing is hung up.
    assert ("QueueRemove", "complaints", "PJSIP/seat2") in queue_actions
    assert ("QueueAdd", "complaints", "PJSIP/seat2") not in queue_actions
    assert ("QueueAdd", "enquiries", "PJSIP/seat2") in queue_actions
    assert ("QueueAdd", "complaints", "PJSIP/seat1") in queue_actions
    # the roster is not in Asterisk's files: no module to reload
    assert {a for a, _ in link.sent} == {"QueueAdd", "QueueRemove", "QueuePause"}


def test_the_reload_modules_follow_the_files_that_changed() -> None:
    assert reload_modules([]) == []
    assert reload_modules(["queues.conf", "extensions.conf", "pjsip_callbacks.conf"]) == [
        "res_pjsip.so",
        "pbx_config.so",
        "app_queue.so",
    ]
    assert reload_modules(["modules.conf", "logger.conf"]) == []


@pytest.mark.parametrize(
    ("file", "old", "new", "named"),
    [
        ("routing.yaml", "oncall: true", "oncal: true", "routing.yaml: branches.emergency"),
        ("menu.yaml", '"1": route:enquiries', '"1": route:billing', "menu.yaml"),
        ("hotline.yaml", "port: 4573", "port: 4574", "hotline.yaml: fastagi: changed"),
        ("hotline.yaml", "url: sqlite:///hotline.db", "url: sqlite:///other.db", "database.url"),
    ],
)
def test_a_refused_configuration_leaves_the_running_one(
    running: Running, file: str, old: str, new: str, named: str
) -> None:
    routes, config = running.service.fastagi.routes, running.service.config
    edit(running.config, file, old, new)
    if file != "menu.yaml":  # a good change beside the bad one is not applied either
        edit(running.config, "menu.yaml", '"1": route:enquiries', '"1": route:complaints')

    result = running.reload()

    assert not result.ok
    assert named in result.message, result.message
    assert running.service.fastagi.routes is routes
    assert running.service.config is config and running.rt.config is config
    assert route_of(deps_of(running.service), "1")["target"] == "enquiries"
    assert list(running.asterisk.iterdir()) == []  # Asterisk's side untouched


def test_an_unknown_key_is_refused_with_a_suggestion(running: Running) -> None:
    edit(running.config, "routing.yaml", "oncall: true", "oncal: true")
    result = running.reload()
    assert not result.ok and "oncal" in result.message and "oncall" in result.message


# --- the control socket and the command line --------------------------------------


@pytest.fixture
def listening(running: Running, clean_env: pytest.MonkeyPatch) -> Iterator[Running]:
    """The service's control socket served on a loop of its own."""
    clean_env.setenv("HOTLINE_DATA_DIR", str(running.data))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(running.service._start_control(), loop).result(10)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.service._stop_control(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_hotline_reload_applies_a_changed_configuration(
    listening: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = listening.data / "control.sock"
    assert sock.is_socket() and sock.stat().st_mode & 0o077 == 0  # the owner's alone
    edit(listening.config, "menu.yaml", '"1": route:enquiries', '"1": route:repairs')
    assert main(["reload", "--config", str(listening.config)]) == 0
    out = capsys.readouterr().out
    assert "changed menu" in out and "asterisk: reload pbx_config.so" in out
    assert route_of(deps_of(listening.service), "1")["target"] == "repairs"


def test_hotline_reload_refused_by_the_check_exits_2_naming_the_item(
    listening: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(listening.config, "routing.yaml", "oncall: true", "oncal: true")
    assert main(["reload", "--config", str(listening.config)]) == 2
    err = capsys.readouterr().err
    assert "routing.yaml" in err and "oncal" in err and "did you mean" in err
    assert route_of(deps_of(listening.service), "1")["target"] == "enquiries"


def test_hotline_reload_refused_by_the_service_exits_2_and_says_why(
    listening: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(listening.config, "hotline.yaml", "port: 4573", "port: 4574")  # valid, not reloadable
    assert main(["reload", "--config", str(listening.config)]) == 2
    err = capsys.readouterr().err
    assert "reload refused: hotline.yaml: fastagi: changed" in err
    assert "running configuration stays" in err
    assert listening.service.config.fastagi.port == 4573


def test_a_bad_control_request_is_answered_not_obeyed(listening: Running) -> None:
    import json
    import socket

    hostile = (
        b"not json\n",
        b'{"command": "stop"}\n',
        b'["reload"]\n',
        b"[" * 2000 + b"]" * 2000 + b"\n",  # deeper than the JSON parser's recursion
        b'{"command": "reload", "config": "' + b"[" * 1500 + b'"}\n',
        b'{"command": "reload", "config": "a\\u0000b"}\n',  # a NUL in the path
        b'{"command": "reload", "config": "/no/such/dir"}\n',
        b'{"command": "reload", "config": "' + b"x" * 300 + b'"}\n',  # a name too long
        b'{"command": "reload", "config": 5}\n',
        b'{"command": "reload", "config": ["x"]}\n',
        b'{"command": ["reload"]}\n',
        b'{"command": "reload", "config": "\xff\xfe"}\n',  # not UTF-8
        b'{"command": "reload", "config": "\\ud800"}\n',  # a lone surrogate
        b"x" * 5000 + b"\n",  # over the request limit
        b"\n",
    )
    for request in hostile:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(listening.data / "control.sock"))
            s.sendall(request)
            raw = s.makefile("rb").readline()
        assert raw.endswith(b"\n"), (request[:60], raw)
        reply = json.loads(raw)
        assert reply["ok"] is False and reply["message"], request


def test_hotline_reload_without_a_service_exits_1(
    config_dir: Path, tmp_path: Path, clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    clean_env.setenv("HOTLINE_DATA_DIR", str(tmp_path / "v"))
    assert main(["reload", "--config", str(config_dir)]) == 1
    assert "no hotline service answers" in capsys.readouterr().err


# --- SIGHUP ----------------------------------------------------------------------------


class FakeService:
    """Stands in for HotlineService in `run_forever`: counts reloads."""

    def __init__(self) -> None:
        self.reloads = 0
        self.stopped = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, os.kill, os.getpid(), signal.SIGHUP)
        loop.call_later(0.5, os.kill, os.getpid(), signal.SIGTERM)

    def reload_soon(self) -> None:
        self.reloads += 1

    async def stop(self) -> None:
        self.stopped = True


def test_sighup_reloads_and_the_service_keeps_running() -> None:
    fake = FakeService()
    asyncio.run(run_forever(fake))  # type: ignore[arg-type]
    assert fake.reloads == 1 and fake.stopped


def test_what_sighup_runs_reloads_in_the_background(running: Running) -> None:
    edit(running.config, "menu.yaml", '"1": route:enquiries', '"1": route:repairs')

    async def hang_up_signal() -> None:
        running.service.reload_soon()  # what run_forever's SIGHUP handler calls
        await asyncio.gather(*running.service._background)

    asyncio.run(hang_up_signal())
    assert route_of(deps_of(running.service), "1")["target"] == "repairs"


def test_a_dialer_beside_the_service_takes_the_reloaded_roster(running: Running) -> None:
    from ivr.bootstrap import build_dialer, follow_reloads

    dialer = build_dialer(running.rt)
    follow_reloads(running.rt, dialer)
    edit(running.config, "seats.yaml", "seat: seat2\n    skills: [enquiries, complaints]",
         "seat: seat2\n    skills: [enquiries]")  # fmt: skip
    assert running.reload().ok
    assert dialer.deps.roster is running.service.config.roster
    chen = dialer.deps.roster.agent("chen")
    assert chen is not None and "complaints" not in chen.skills


def test_the_twilio_webhooks_in_the_same_process_take_the_reloaded_menu(
    running: Running,
) -> None:
    from web.app import create_app
    from web.twilio import EXTENSION

    app = create_app(running.rt)
    before = app.extensions[EXTENSION]
    edit(running.config, "menu.yaml", '"1": route:enquiries', '"1": route:repairs')
    assert running.reload().ok
    after = app.extensions[EXTENSION]
    assert after is not before
    assert route_of(after.deps, "1")["target"] == "repairs"
    assert route_of(before.deps, "1")["target"] == "enquiries"


# --- a real `hotline serve` process -------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Any, what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_running_hotline_serve_reloads_on_sighup_and_on_hotline_reload(
    tmp_path: Path, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    config, data, log = copy_sample(tmp_path / "c"), tmp_path / "v", tmp_path / "serve.log"
    edit(config, "hotline.yaml", "port: 4573", f"port: {free_port()}")
    edit(config, "hotline.yaml", "port: 5038", f"port: {free_port()}")  # no Asterisk there
    clean_env.setenv("HOTLINE_DATA_DIR", str(data))
    env = {**os.environ, "HOTLINE_DATA_DIR": str(data)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--config", str(config)],
            stdout=out, stderr=out, env=env, cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
    sock = data / "control.sock"
    try:
        wait_for(sock.exists, "the control socket")
        edit(config, "menu.yaml", '"1": route:enquiries', '"1": route:repairs')
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "changed menu" in log.read_text(), "the SIGHUP reload in the log")
        edit(config, "routing.yaml", "oncall: true", "oncal: true")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in log.read_text(), "the refusal in the log")
        assert "oncal" in log.read_text() and proc.poll() is None  # still serving
        edit(config, "routing.yaml", "oncal: true", "oncall: true")
        edit(config, "menu.yaml", '"1": route:repairs', '"1": route:complaints')
        assert main(["reload", "--config", str(config)]) == 0
        assert "changed menu" in capsys.readouterr().out
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert not sock.exists()


def test_asterisk_files_that_cannot_be_written_leave_the_running_config(
    running: Running,
) -> None:
    routes = running.service.fastagi.routes
    edit(running.config, "menu.yaml", '"1": route:enquiries', '"1": route:repairs')
    running.asterisk.rmdir()  # a file where the directory was (root ignores modes)
    running.asterisk.write_text("not a directory")
    result = running.reload()
    assert not result.ok and "could not be written" in result.message
    assert running.service.fastagi.routes is routes
    assert route_of(deps_of(running.service), "1")["target"] == "enquiries"
