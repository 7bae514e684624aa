"""The FastAGI side of speech input: ask the recognition service to listen while
the caller hears the prompt and may press a key, and turn what it heard into the
key Asterisk is already waiting for.

How a menu step runs with speech (handlers.Handlers._ask):

1. `open()` connects to the service's control port and sends the call, the
   language and the node's grammar. The whole exchange has `connect_timeout_s`
   (0.3 s by default, at most 1 s): a service that is down, slow or stuck leaves
   this step to the keys, and the next `retry_after_s` of steps skip it at once.
2. When the service has no audio of the call yet, an AMI Originate (Async) starts
   the fork: an AudioSocket channel to the service running ChanSpy on the caller's
   channel, the caller's own audio only (option o), ending when the caller hangs
   up (option E). The caller's channel is never bridged to the service.
3. Meanwhile the handler runs GET DATA on the caller's channel exactly as without
   speech. Whichever comes first wins: a key ends GET DATA (the window is closed);
   an utterance is injected as that option's key with AMI PlayDTMF (Receive), so
   GET DATA returns it, and the handler records it as speech with its phrase and
   confidence. A failed injection leaves the keys; nothing waits on the service.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivr.adapters.speech.audiosocket import uuid_of_call
from ivr.adapters.speech.engine import Heard
from ivr.adapters.threads import WorkThreads
from ivr.domain.text import logged

log = logging.getLogger(__name__)
AmiSend = Callable[..., dict[str, str] | None]
INJECT_TIMEOUT_S = 1.0
# A digit that is no option of the node, injected for an utterance that counts as
# an invalid attempt ('#' is left out: GET DATA takes it for the end of input).
INVALID_CANDIDATES = "0123456789*"
BUSY = "busy"  # the service's answer when it has no room (speech/service.py)
MAX_REFUSED = 256  # refused (language, grammar) pairs remembered at once
MAX_PHRASE_CHARS = 400  # a phrase of the grammar, or two joined (the service joins a start)


def invalid_digit(keys: str) -> str | None:
    """A key the node does not offer, to end GET DATA for a phrase not understood.

    >>> invalid_digit("0123489*"), invalid_digit("0123456789*")
    ('5', None)
    """
    return next((k for k in INVALID_CANDIDATES if k not in keys), None)


@dataclass
class Window:
    """One open listening window; `result` resolves with an utterance (or None)."""

    writer: asyncio.StreamWriter
    result: asyncio.Task[Heard | None]

    def close(self) -> None:
        self.result.cancel()
        self.writer.close()


@dataclass
class SpeechInput:
    host: str
    control_port: int
    audio_port: int
    languages: frozenset[str]
    connect_timeout_s: float = 0.3
    retry_after_s: float = 2.0
    ami: AmiSend | None = None  # set by the composition root once the AMI link exists
    # Where the AMI actions run: the service's, which its stop() waits for.
    threads: WorkThreads = field(default_factory=WorkThreads)
    _down_until: float = 0.0  # the service is away or full: keys only for every call
    # A request the service refused (a grammar its model cannot take): keys only for
    # that language and grammar, the other steps and languages still listen.
    _refused_until: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)
    _namespace: uuid.UUID = field(default_factory=uuid.uuid4)  # AudioSocket UUIDs
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def speaks(self, language: str) -> bool:
        return language in self.languages and self.ami is not None

    async def open(
        self, uid: str, channel: str, language: str, grammar: Sequence[str]
    ) -> Window | None:
        """A listening window for this step, or None (keys only) at once."""
        now = time.monotonic()
        key = (language, tuple(grammar))
        if not grammar or not self.speaks(language) or now < self._down_until:
            return None
        if now < self._refused_until.get(key, 0.0):
            return None
        call = uuid_of_call(uid, self._namespace)
        request = {"call": call, "language": language, "grammar": list(grammar)}
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                reader, writer = await asyncio.open_connection(self.host, self.control_port)
                writer.write(json.dumps(request, ensure_ascii=False).encode() + b"\n")
                await writer.drain()
                first = _json(await reader.readline())
            if isinstance(first, dict) and first.get("error") not in (None, BUSY):
                raise _Refused(f"refused: {first}")
            if not isinstance(first, dict) or "error" in first:
                raise ValueError(f"refused: {first}")
        except (OSError, TimeoutError, ValueError) as e:
            if isinstance(e, _Refused):
                if len(self._refused_until) >= MAX_REFUSED:
                    self._refused_until.clear()
                self._refused_until[key] = time.monotonic() + self.retry_after_s
            else:
                self._down_until = time.monotonic() + self.retry_after_s
            log.warning(
                "call %s: speech unavailable, keys only (%s)",
                logged(uid),
                logged(str(e) or type(e).__name__, 200),
            )
            if writer is not None:
                writer.close()
            return None
        if not first.get("attached"):
            self._later(self._fork(uid, call, channel))
        return Window(writer, asyncio.create_task(_utterance(reader, grammar)))

    async def inject(self, uid: str, channel: str, digit: str) -> bool:
        """Make Asterisk take `digit` as received on the caller's channel."""
        ami = self.ami
        if ami is None:
            return False
        try:  # asyncio.timeout: 3.11's wait_for can swallow a cancel (the call's end)
            async with asyncio.timeout(INJECT_TIMEOUT_S):
                response = await self.threads.run(
                    ami, "PlayDTMF", Channel=channel, Digit=digit, Duration="100", Receive="true"
                )
        except TimeoutError:
            response = None
        ok = response is not None and response.get("Response") == "Success"
        if not ok:
            log.warning(
                "call %s: could not pass the spoken choice on (%s)",
                logged(uid),
                logged(str(response), 200),
            )
        return ok

    async def _fork(self, uid: str, call: str, channel: str) -> None:
        ami = self.ami
        if ami is None:
            return
        response = await self.threads.run(
            ami,
            "Originate",
            Channel=f"AudioSocket/{_host(self.host)}:{self.audio_port}/{call}",
            Application="ChanSpy",
            Data=f"{channel},qoE",
            Async="true",
            Timeout="3000",
        )
        if not response or response.get("Response") != "Success":
            log.warning(
                "call %s: speech audio fork not started (%s)",
                logged(uid),
                logged(str(response), 200),
            )

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _utterance(reader: asyncio.StreamReader, grammar: Sequence[str]) -> Heard | None:
    """The service's answer: an utterance, or None when it closed without one."""
    try:
        line = await reader.readline()
    except (OSError, ValueError):
        return None
    heard = parse_reply(line, grammar)
    if line and heard is None:
        log.warning("speech: a reply that is no utterance of the grammar: %.80r", line)
    return heard


def parse_reply(line: bytes, grammar: Sequence[str]) -> Heard | None:
    """The utterance of the service's reply, or None for anything else: not JSON, a
    phrase with a word that is not the grammar's (vosk hears nothing else, so this is
    a broken or foreign service; control characters never pass), or a confidence
    that is not a number from 0 to 1. The phrase comes back in single spaces.

    >>> parse_reply(b'{"phrase": "refund  [unk]", "confidence": 0.5}', ["refund", "[unk]"])
    Heard(phrase='refund [unk]', confidence=0.5)
    >>> parse_reply(b'{"phrase": "hello", "confidence": 0.9}', ["불만 접수"]) is None
    True
    >>> parse_reply(b'{"phrase": "[unk]", "confidence": NaN}', ["[unk]"]) is None
    True
    """
    try:
        reply = _json(line)
    except ValueError:
        return None
    if not isinstance(reply, dict):
        return None
    phrase, conf = reply.get("phrase"), reply.get("confidence")
    if not isinstance(phrase, str) or len(phrase) > MAX_PHRASE_CHARS:
        return None
    words = phrase.split()
    known = {w for p in grammar for w in p.split()}
    if not words or not all(w in known for w in words):
        return None
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0 <= conf <= 1:
        return None  # NaN fails the comparison too
    return Heard(" ".join(words), float(conf))


class _Refused(ValueError):
    """The service refused this request (its grammar or language), not every request."""


def _json(line: bytes) -> object:
    """A JSON line (None for none); ValueError for anything else (nesting too deep too)."""
    try:
        return json.loads(line) if line else None
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def _host(host: str) -> str:
    """`host` as the host part of a dial string ("[::1]" for an IPv6 address).

    >>> _host("127.0.0.1"), _host("::1")
    ('127.0.0.1', '[::1]')
    """
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host
