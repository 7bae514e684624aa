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
from collections.abc import Awaitable, Callable
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
from ivr.adapters.speech.engine import Decoder, Heard, Models, reserved
from ivr.config.hotline import MAX_PHRASE_CHARS, MAX_PHRASES
from ivr.domain.speech import incomplete

log = logging.getLogger(__name__)
CHUNK_BYTES = 1600  # 100 ms of audio per decoding step: the end-pointer's granularity
MAX_BACKLOG_CHUNKS = 100  # 10 s of audio not decoded yet: more is a flood, dropped
REQUEST_TIMEOUT_S = 5.0  # a control request, or an audio stream's UUID, within this
STREAM_IDLE_S = 30.0  # Asterisk sends a frame every 20 ms: an idle stream is gone
MAX_WINDOW_S = 300.0  # a listening window longer than any menu step
MAX_CONNECTIONS = 256  # per listener: more are closed at once, the service stays up
# What menu.yaml allows at one node (phrases of up to 100 characters, casefolded,
# up to 4 bytes each in UTF-8, quoted), plus "[unk]".
MAX_GRAMMAR = MAX_PHRASES + 1
MAX_PHRASE_BYTES = 4 * 4 * MAX_PHRASE_CHARS
MAX_REQUEST_BYTES = 256 * 1024
REST_S = 1.0  # after the first word(s) of a longer phrase, audio to wait for the rest


_Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RequestError(ValueError):
    """A control request that is not one."""


def parse_request(line: bytes) -> tuple[str, str, tuple[str, ...]]:
    """(call uuid, language, grammar) of one control line; RequestError names what is wrong.

    >>> parse_request(b'{"call": "u1", "language": "ko", "grammar": ["a", "[unk]"]}')
    ('u1', 'ko', ('a', '[unk]'))
    """
    try:
        req = json.loads(line)
    except (ValueError, RecursionError):
        raise RequestError("not JSON") from None
    if not isinstance(req, dict):
        raise RequestError("not an object")
    call, language, grammar = req.get("call"), req.get("language"), req.get("grammar")
    if not isinstance(call, str) or not call or len(call) > 64 or not call.isprintable():
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
    for p in grammar:
        if not p.isprintable() or len(p.encode(errors="replace")) > MAX_PHRASE_BYTES:
            raise RequestError(f"grammar: {p[:20]!r}: not a phrase")
        if word := reserved(p):
            raise RequestError(f"grammar: {p[:20]!r}: {word!r} is no word")
    return call, language, tuple(grammar)


@dataclass
class _Window:
    """One listening window: audio in, at most one utterance out."""

    decoder: Decoder
    grammar: tuple[str, ...]
    result: asyncio.Future[Heard]
    chunks: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    pending: bytearray = field(default_factory=bytearray)
    dropped: int = 0  # bytes of a flood, over MAX_BACKLOG_CHUNKS

    def push(self, pcm: bytes) -> None:
        """A frame's whole samples (an odd last byte is no sample: dropped, so the next
        frame starts on a sample), in chunks of CHUNK_BYTES; a flood beyond
        MAX_BACKLOG_CHUNKS not decoded yet is dropped."""
        if self.chunks.qsize() >= MAX_BACKLOG_CHUNKS:
            if not self.dropped:
                log.warning("speech: audio faster than it can be decoded: dropping it")
            self.dropped += len(pcm)
            return
        self.pending += pcm[: len(pcm) & ~1]
        while len(self.pending) >= CHUNK_BYTES:
            self.chunks.put_nowait(bytes(self.pending[:CHUNK_BYTES]))
            del self.pending[:CHUNK_BYTES]


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
        self._open = {"audio": 0, "control": 0}  # connections being served, per listener
        self._refused = {"audio": 0, "control": 0}  # since the limit was last reached
        self._serving: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self.decoded_audio_s = 0.0  # totals, for the benchmark's real-time factor
        self.decoding_s = 0.0

    async def start(self) -> None:
        audio = await asyncio.start_server(
            self._limited("audio", self._audio), self.host, self.audio_port
        )
        control = await asyncio.start_server(
            self._limited("control", self._control),
            self.host,
            self.control_port,
            limit=MAX_REQUEST_BYTES + 1,
        )
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
        for writer in list(self._serving.values()):
            writer.close()  # each connection's task sees the end and returns
        if self._serving:
            await asyncio.wait(list(self._serving), timeout=1.0)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _limited(self, listener: str, serve: _Serve) -> _Serve:
        """`serve` for at most MAX_CONNECTIONS connections at once; one more is closed
        at once (it never reaches the file-descriptor limit that would stop accepting)."""

        async def limited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self._open[listener] >= MAX_CONNECTIONS:
                self._refused[listener] += 1
                if self._refused[listener] == 1:  # once until there is room again
                    log.warning(
                        "speech: %d %s connections: refusing more", MAX_CONNECTIONS, listener
                    )
                if listener == "control":
                    writer.write(b'{"error": "busy"}\n')
                writer.close()
                return
            if self._refused[listener]:
                log.warning("speech: %d %s connections refused", self._refused[listener], listener)
                self._refused[listener] = 0
            self._open[listener] += 1
            task = asyncio.current_task()
            assert task is not None
            self._serving[task] = writer
            try:
                await serve(reader, writer)
            finally:
                self._open[listener] -= 1
                del self._serving[task]

        return limited

    # --- audio (AudioSocket) -------------------------------------------------------

    async def _audio(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = ""
        try:
            kind, payload = await _read_frame(reader, REQUEST_TIMEOUT_S)
            if kind != KIND_UUID:
                raise AudioSocketError(f"first frame of kind {kind:#x}, not the UUID")
            call = call_uuid(payload)
            old = self._streams.pop(call, None)
            if old is not None:
                old.close()
            self._streams[call] = writer
            log.info("speech: audio of call %s", call)
            while True:
                kind, payload = await _read_frame(reader, STREAM_IDLE_S)
                if kind == KIND_HANGUP:
                    return
                window = self._windows.get(call)
                if kind == KIND_AUDIO and window is not None:
                    window.push(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except TimeoutError:
            log.warning("speech: audio stream %s silent: dropped", call or "without a UUID")
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
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):  # (not wait_for: see client)
                    line = await reader.readline()
            except ValueError:  # no end of line within the reader's limit
                raise RequestError("request too long") from None
            if len(line) > MAX_REQUEST_BYTES:
                raise RequestError("request too long")
            call, language, grammar = parse_request(line)
            if language not in self.models.languages:
                raise RequestError(f"no model for language {language!r}")
            loop = asyncio.get_running_loop()
            try:
                decoder = await loop.run_in_executor(
                    self._pool, self.models.decoder, language, grammar
                )
            except Exception as e:  # noqa: BLE001 - vosk raises a bare Exception
                raise RequestError(f"grammar refused by the model: {e}") from None
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
            await asyncio.wait(waits, timeout=MAX_WINDOW_S, return_when=asyncio.FIRST_COMPLETED)
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


async def _read_frame(reader: asyncio.StreamReader, timeout_s: float) -> tuple[int, bytes]:
    """The next frame, whole within `timeout_s` (TimeoutError: a silent or stuck peer)."""
    async with asyncio.timeout(timeout_s):
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
