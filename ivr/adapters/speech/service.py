"""The recognition service: its own process (`hotline speech`), asyncio, on loopback.

Two listeners:

* audio (AudioSocket): for each call that may speak, Asterisk connects a channel
  that spies on the caller (ChanSpy, the caller's own audio only) and sends it
  here as 8 kHz 16-bit frames after the call's UUID. Audio is kept only while a
  listening window is open for that call; otherwise it is dropped.
* control (JSON lines): the FastAGI handler opens one connection per menu step,
  `{"call": uuid, "language": "ko", "grammar": ["예약", ..., "[unk]"]}`, and is told at
  once `{"attached": true|false}` (false: no audio of that call here yet, so the
  handler starts the fork). When an utterance is decoded the service answers
  `{"phrase": "예약", "confidence": 0.93}` and closes; the handler closing first
  (a key came) ends the window.

The service never holds a call: the caller's channel does not pass through it (a
key is read by Asterisk as always), so a service that is down, slow or stuck costs
the caller the spoken option and nothing else (ivr/adapters/speech/client.py).
Decoding runs in a small thread pool (vosk releases the GIL), so the event loop
only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ivr.adapters.speech.audiosocket import (
    HEADER_BYTES,
    KIND_AUDIO,
    KIND_HANGUP,
    KIND_UUID,
    AudioSocketError,
    call_uuid,
    parse_header,
)
from ivr.adapters.speech.engine import Decoder, Heard, Models
from ivr.domain.speech import incomplete

log = logging.getLogger(__name__)
CHUNK_BYTES = 1600  # 100 ms of audio per decoding step: the end-pointer's granularity
REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 16384
MAX_GRAMMAR = 200
REST_S = 1.0  # after the first word(s) of a longer phrase, audio to wait for the rest


class RequestError(ValueError):
    """A control request that is not one."""


def parse_request(line: bytes) -> tuple[str, str, tuple[str, ...]]:
    """(call uuid, language, grammar) of one control line; RequestError names what is wrong.

    >>> parse_request(b'{"call": "u1", "language": "ko", "grammar": ["a", "[unk]"]}')
    ('u1', 'ko', ('a', '[unk]'))
    """
    try:
        req = json.loads(line)
    except ValueError:
        raise RequestError("not JSON") from None
    if not isinstance(req, dict):
        raise RequestError("not an object")
    call, language, grammar = req.get("call"), req.get("language"), req.get("grammar")
    if not isinstance(call, str) or not call or len(call) > 64:
        raise RequestError("call: a UUID is required")
    if not isinstance(language, str) or not language:
        raise RequestError("language: required")
    if (
        not isinstance(grammar, list)
        or not grammar
        or len(grammar) > MAX_GRAMMAR
        or not all(isinstance(p, str) and p for p in grammar)
    ):
        raise RequestError(f"grammar: a list of 1 to {MAX_GRAMMAR} phrases")
    return call, language, tuple(grammar)


@dataclass
class _Window:
    """One listening window: audio in, at most one utterance out."""

    decoder: Decoder
    grammar: tuple[str, ...]
    result: asyncio.Future[Heard]
    chunks: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    pending: bytearray = field(default_factory=bytearray)

    def push(self, pcm: bytes) -> None:
        self.pending += pcm
        if len(self.pending) >= CHUNK_BYTES:
            self.chunks.put_nowait(bytes(self.pending))
            self.pending.clear()


class RecognitionService:
    def __init__(
        self, models: Models, host: str, audio_port: int, control_port: int, workers: int = 2
    ) -> None:
        self.models, self.host = models, host
        self.audio_port, self.control_port = audio_port, control_port
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vosk")
        self._servers: list[asyncio.Server] = []
        self._streams: dict[str, asyncio.StreamWriter] = {}
        self._windows: dict[str, _Window] = {}
        self.decoded_audio_s = 0.0  # totals, for the benchmark's real-time factor
        self.decoding_s = 0.0

    async def start(self) -> None:
        audio = await asyncio.start_server(self._audio, self.host, self.audio_port)
        control = await asyncio.start_server(self._control, self.host, self.control_port)
        self._servers = [audio, control]
        self.audio_port = audio.sockets[0].getsockname()[1]
        self.control_port = control.sockets[0].getsockname()[1]
        log.info(
            "speech: audio on %s:%d, control on %s:%d, languages %s",
            self.host, self.audio_port, self.host, self.control_port,
            ", ".join(self.models.languages),
        )  # fmt: skip

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._streams.values()):
            writer.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- audio (AudioSocket) -------------------------------------------------------

    async def _audio(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = ""
        try:
            kind, payload = await _read_frame(reader)
            if kind != KIND_UUID:
                raise AudioSocketError(f"first frame of kind {kind:#x}, not the UUID")
            call = call_uuid(payload)
            old = self._streams.pop(call, None)
            if old is not None:
                old.close()
            self._streams[call] = writer
            log.info("speech: audio of call %s", call)
            while True:
                kind, payload = await _read_frame(reader)
                if kind == KIND_HANGUP:
                    return
                window = self._windows.get(call)
                if kind == KIND_AUDIO and window is not None:
                    window.push(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except AudioSocketError as e:
            log.warning("speech: audio stream dropped: %s", e)
        finally:
            if call and self._streams.get(call) is writer:
                del self._streams[call]
            writer.close()

    # --- control (the FastAGI handlers) -------------------------------------------

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        window: _Window | None = None
        call = ""
        try:
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            if len(line) > MAX_REQUEST_BYTES:
                raise RequestError("request too long")
            call, language, grammar = parse_request(line)
            if language not in self.models.languages:
                raise RequestError(f"no model for language {language!r}")
            loop = asyncio.get_running_loop()
            decoder = await loop.run_in_executor(self._pool, self.models.decoder, language, grammar)
            window = _Window(decoder, grammar, loop.create_future())
            old = self._windows.get(call)
            if old is not None:
                old.result.cancel()
            self._windows[call] = window
            await _send(writer, {"attached": call in self._streams})
            log.info("speech: listening to call %s (%s, %d phrases)", call, language, len(grammar))
            heard = await self._decide(window, reader)
            log.info("speech: call %s: %s", call, heard or "nothing heard")
            if heard is not None:
                await _send(writer, {"phrase": heard.phrase, "confidence": heard.confidence})
        except RequestError as e:
            with contextlib.suppress(ConnectionError):
                await _send(writer, {"error": str(e)})
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if window is not None:
                if self._windows.get(call) is window:
                    del self._windows[call]
                self.decoded_audio_s += window.decoder.audio_s
                self.decoding_s += window.decoder.busy_s
            writer.close()

    async def _decide(self, window: _Window, reader: asyncio.StreamReader) -> Heard | None:
        """Decode the window's audio until an utterance, or until the handler hangs up."""
        decoding = asyncio.create_task(self._decode(window))
        gone = asyncio.create_task(reader.read(1))  # EOF: the handler is done with it
        try:
            # window.result is cancelled when a newer window of the call replaces it
            waits: set[asyncio.Future[Any]] = {decoding, gone, window.result}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return decoding.result() if decoding.done() else None
        finally:
            for task in (decoding, gone):
                task.cancel()
            await asyncio.gather(decoding, gone, return_exceptions=True)

    async def _decode(self, window: _Window) -> Heard:
        """The first utterance that is not just the start of a longer phrase (the
        end-pointer may close one at the pause between two words: they are joined).
        A start with no rest within REST_S of audio is taken as it is."""
        loop = asyncio.get_running_loop()
        start: Heard | None = None
        waited = 0
        while True:
            chunk = await window.chunks.get()
            heard = await loop.run_in_executor(self._pool, window.decoder.feed, chunk)
            if heard is None and start is not None:
                waited += len(chunk)
                if waited < REST_S * 16000:
                    continue
                heard = await loop.run_in_executor(self._pool, window.decoder.finish)
                return start if heard is None else _joined(start, heard)
            if heard is None:
                continue
            if start is not None:
                heard = _joined(start, heard)
            if not incomplete(heard.phrase, window.grammar):
                return heard
            log.info("speech: %r is the start of a phrase: listening for the rest", heard.phrase)
            start, waited = heard, 0


def _joined(start: Heard, rest: Heard) -> Heard:
    return Heard(f"{start.phrase} {rest.phrase}", min(start.confidence, rest.confidence))


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    kind, length = parse_header(await reader.readexactly(HEADER_BYTES))
    return kind, await reader.readexactly(length) if length else b""


async def _send(writer: asyncio.StreamWriter, message: dict[str, object]) -> None:
    writer.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
    await writer.drain()


async def serve_forever(service: RecognitionService) -> None:
    await service.start()
    try:
        await asyncio.Event().wait()
    finally:
        await service.stop()
