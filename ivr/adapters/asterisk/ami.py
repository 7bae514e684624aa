"""The Asterisk Manager Interface: events in, queue membership out.

`translate()` is pure: one AMI event (name + keys) becomes call-log events and
seat updates. `AmiLink` is the thin edge over asterisk-ami: it logs in,
reconnects when Asterisk restarts, hands every event to a callback, sends
actions with every value stripped of CR/LF, and collects the events of a list
action (CoreShowChannels, DBGet...) by its ActionID. `QueueSync` makes Asterisk's queue
membership and pause state follow the roster and the agents' states.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ivr import phone
from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.agi import caller_name, sanitise
from ivr.adapters.asterisk.ami_packs import MAX_AMI_PACK, AmiGreetingError, PackSplitter, Skipped
from ivr.adapters.asterisk.fastagi_limits import LogLimiter
from ivr.domain.calllog import (
    SOURCE_AMI,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    Outcome,
    Routed,
)
from ivr.domain.routing import VOICEMAIL_BOX

log = logging.getLogger(__name__)

_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}$")
HOTLINE_CONTEXTS = (names.CONTEXT_INBOUND, names.CONTEXT_FALLBACK, names.CONTEXT_SHED)
HOTLINE_ACCOUNTCODES = (names.ACCOUNTCODE_INBOUND, names.ACCOUNTCODE_SHED)


AMI_READ_BUFFER = 16 * 1024
STOP_JOIN_SECONDS = 10.0  # AmiLink.stop's wait for each of its threads


@dataclass(frozen=True)
class SeatUpdate:
    seat: str
    device_state: str


def seat_of(channel_or_device: str) -> str:
    """'PJSIP/seat3-0000002a' or 'PJSIP/seat3' -> 'seat3'; '' when not PJSIP.

    >>> seat_of("PJSIP/seat3-0000002a")
    'seat3'
    >>> seat_of("PJSIP/front-desk")
    'front-desk'
    """
    tech, _, rest = channel_or_device.partition("/")
    if tech.upper() != "PJSIP" or not rest:
        return ""
    return sanitise(_CHANNEL_SUFFIX.sub("", rest))


def _is_hotline_context(context: str) -> bool:
    return context in HOTLINE_CONTEXTS or context.startswith(names.CONTEXT_ROUTE_PREFIX)


def _entered_hotline(keys: Mapping[str, str]) -> bool:
    """A caller channel that entered the hotline (not a baseline or outbound call)."""
    return keys.get("AccountCode") in HOTLINE_ACCOUNTCODES and _is_hotline_context(
        keys.get("Context", "")
    )


def translate(name: str, keys: Mapping[str, str], at: datetime) -> list[CallEvent | SeatUpdate]:
    """What one AMI event means for the call log and the seats."""
    uid, linked = sanitise(keys.get("Uniqueid", "")), sanitise(keys.get("Linkedid", ""))
    if name == "DeviceStateChange":
        seat = seat_of(keys.get("Device", ""))
        return [SeatUpdate(seat, sanitise(keys.get("State", "")))] if seat else []
    twilio = twilio_call(keys)
    if name == "AgentConnect" and (twilio or linked):
        return [CallAnswered(twilio or linked, at, seat_of(keys.get("Interface", "")))]
    if name == "DialEnd" and keys.get("DialStatus") == "ANSWER" and uid:
        seat = seat_of(keys.get("DestChannel", ""))
        if seat and twilio:
            return [CallAnswered(twilio, at, seat)]
        if seat and _is_hotline_context(keys.get("Context", "")):
            return [CallAnswered(linked or uid, at, seat)]
        return []
    if name == "Hangup" and uid and uid == linked and _entered_hotline(keys):
        # The Hangup alone makes the record: a caller gone before the AGI began
        # (within Answer's media wait) is logged too. Its start gives way to the
        # IVR's own CallStarted when there is one (SOURCE_AMI).
        cause = sanitise(f"{keys.get('Cause', '')} {keys.get('Cause-txt', '')}").strip()
        started = CallStarted(
            uid,
            entered_at(keys, at),
            caller_of(
                keys.get("CallerIDNum", ""), keys.get("Channel", ""), keys.get("Context", "")
            ),
            caller_name(keys.get("CallerIDName", "")),
            _dialed(keys.get("Exten", "")),
            sanitise(keys.get("Channel", "")),
            SOURCE_AMI,
        )
        # A call turned away by admission control says so; any other call's
        # outcome comes from what the record knows (derive_outcome).
        shed = keys.get("AccountCode") == names.ACCOUNTCODE_SHED
        return [started, CallEnded(uid, at, cause, Outcome.SHED if shed else None)]
    if name == "UserEvent" and keys.get("UserEvent") == names.USEREVENT_FALLBACK:
        if not uid.strip():  # a record keyed by no call: the Hangup still makes this one
            return []
        caller = keys.get("Caller", "") or keys.get("CallerIDNum", "")
        trace = ("FastAGI unavailable or failed: fallback context", "route: queue operator")
        return [
            CallStarted(
                uid,
                at,
                caller_of(caller, keys.get("Channel", ""), keys.get("Context", "")),
                caller_name(keys.get("CallerIDName", "")),
                sanitise(keys.get("Exten", "")),
                sanitise(keys.get("Channel", "")),
                "fallback",
            ),
            Routed(
                uid, at, names.QUEUE_OPERATOR, "queue", names.QUEUE_OPERATOR, 0, False, "", trace
            ),
        ]
    if name == "UserEvent" and keys.get("UserEvent") == names.USEREVENT_FALLBACK_VOICEMAIL:
        if not uid.strip():
            return []
        why = (
            "FastAGI unavailable or failed: fallback context",
            "operator queue: no answer",
            "route: voicemail",
        )
        return [
            Routed(uid, at, names.QUEUE_OPERATOR, "voicemail", VOICEMAIL_BOX, 0, False, "", why)
        ]
    return []


_CALL_SID = re.compile(r"CA[0-9a-f]{32}")


def twilio_call(keys: Mapping[str, str]) -> str:
    """The Twilio CallSid of a leg Twilio sent (its account code, see names), or ''.

    >>> twilio_call({"AccountCode": "tw-CA" + "0" * 32})[:4], twilio_call({"AccountCode": "tw-"})
    ('CA00', '')
    """
    code = keys.get("AccountCode", "")
    if not code.startswith(names.ACCOUNTCODE_TWILIO_PREFIX):
        return ""
    sid = code[len(names.ACCOUNTCODE_TWILIO_PREFIX) :]
    return sid if _CALL_SID.fullmatch(sid) else ""


def twilio_leg(channel: str, context: str = "") -> bool:
    """Whether a channel came in on Twilio's SIP endpoint (identified by Twilio's networks
    only), or runs in the context of Twilio's legs: its caller ID is then Twilio's,
    withheld ones spelt in digits (ivr.phone.twilio_caller).

    >>> twilio_leg("PJSIP/twilio-0000000a"), twilio_leg("PJSIP/anonymous-0000000a")
    (True, False)
    >>> twilio_leg("", names.CONTEXT_TWILIO), twilio_leg("Local/twilio@x-0000000a;1")
    (True, False)
    """
    return context == names.CONTEXT_TWILIO or seat_of(channel) == names.ENDPOINT_TWILIO


def caller_of(number: str, channel: str, context: str = "") -> str:
    """A caller ID field as the call log keeps it: Asterisk's '<unknown>' as none, and
    on a leg Twilio sent, a withheld caller ID Twilio spelt in digits as its word (else
    every withheld Twilio caller would be one repeat caller).

    >>> caller_of("+266696687", "PJSIP/twilio-00000001"), caller_of("<unknown>", "")
    ('anonymous', '')
    >>> caller_of("+266696687", "PJSIP/anonymous-00000001")
    '+266696687'
    """
    known = _known(number)
    return phone.twilio_caller(known) if twilio_leg(channel, context) else known


def _dialed(exten: str) -> str:
    """The dialled number; the fallback and route contexts run at 's' (and 'h'),
    which is no number."""
    return "" if exten in ("s", "h") else sanitise(exten)


def _known(value: str) -> str:
    """A caller id field; Asterisk says '<unknown>' for none."""
    return "" if value == "<unknown>" else sanitise(value)


MAX_CHANNEL_AGE = timedelta(days=1)


def entered_at(keys: Mapping[str, str], at: datetime) -> datetime:
    """When the channel entered the hotline, on the hotline's clock: `at` less the
    channel's age by Asterisk's clock (the event's Timestamp, from
    manager.conf timestampevents, less the HOTLINE_ENTERED channel variable).
    `at` itself when either is missing or the age makes no sense.

    >>> at = datetime(2026, 11, 23, 2, 0, 5)
    >>> keys = {"Timestamp": "1795312805.250000",
    ...         "ChanVariable(HOTLINE_ENTERED)": "1795312804.950000"}
    >>> entered_at(keys, at).isoformat(timespec="milliseconds")
    '2026-11-23T02:00:04.700'
    """
    try:
        age = timedelta(
            seconds=float(keys["Timestamp"]) - float(keys[f"ChanVariable({names.VAR_ENTERED})"])
        )
    except (KeyError, ValueError, OverflowError):
        return at
    return at - age if timedelta(0) <= age <= MAX_CHANNEL_AGE else at


def action_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    """Values for an AMI action with CR/LF and control characters neutralised.

    >>> action_fields({"Queue": "enquiries\\r\\nAction: Originate"})
    {'Queue': 'enquiries  Action: Originate'}
    """
    return {k: sanitise(str(v)) for k, v in fields.items()}


EventSink = Callable[[str, dict[str, str]], None]
AmiEvent = tuple[str, dict[str, str]]


@dataclass
class _Collector:
    """The events of one list action, until its `...Complete` event."""

    events: list[AmiEvent] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    lost: bool = False  # the connection dropped before `...Complete`: the list is partial


@dataclass
class AmiLink:
    """A logged-in AMI connection that reconnects by itself."""

    host: str
    port: int
    username: str
    secret: str
    on_event: EventSink
    on_connect: Callable[[], None] | None = None
    retry_seconds: float = 1.0
    _client: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _on_connect_thread: threading.Thread | None = None
    _lost: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)
    _collectors: dict[str, _Collector] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ami-link", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the connection and end the link's threads (an action in flight
        returns None within the client's timeout; nothing new is sent)."""
        self._stop.set()
        self._drop()
        if self._thread is not None:  # a login in flight ends within the client's timeout
            self._thread.join(timeout=STOP_JOIN_SECONDS)
        if self._on_connect_thread is not None:  # read after: the login may have made it
            self._on_connect_thread.join(timeout=STOP_JOIN_SECONDS)

    def reconnect(self) -> None:
        """Drop the connection now; the link connects again by itself (to `host` and
        `port` as they are then)."""
        self._lost.set()

    def send(self, action: str, **fields: Any) -> dict[str, str] | None:
        """Send an action and wait for its response (its keys, and "Response":
        Success or Error); None when not connected or no response came in time."""
        from asterisk.ami import SimpleAction

        client = self._client
        if client is None or not self.connected.is_set():
            return None
        try:
            future = client.send_action(SimpleAction(action, **action_fields(fields)))
            response = future.response  # waits up to the client's timeout
        except Exception as e:  # noqa: BLE001 - a broken socket must not kill the caller
            log.warning("AMI %s failed: %s", action, e)
            return None
        if response is None:
            return None
        return {**response.keys, "Response": response.status}

    def collect(self, action: str, timeout: float = 5.0, **fields: Any) -> list[AmiEvent] | None:
        """Send a list action and return its events (up to its `...Complete`); None
        when not connected, refused, or not complete within `timeout` seconds. Its
        events go here, not to `on_event`."""
        action_id = f"hotline-list-{next(self._ids)}"
        collector = self._collectors[action_id] = _Collector()
        try:
            response = self.send(action, ActionID=action_id, **fields)
            if response is None or response.get("Response", "").lower() != "success":
                return None
            if not collector.done.wait(timeout) or collector.lost:
                return None
            return list(collector.events)
        finally:
            self._collectors.pop(action_id, None)

    def _ping(self) -> None:
        from asterisk.ami import SimpleAction

        client = self._client
        if client is None:
            return
        try:
            client.send_action(SimpleAction("Ping"))
        except OSError as e:
            log.info("AMI ping failed: %s", e)
            self._lost.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._connect()
            except Exception as e:  # noqa: BLE001 - keep retrying whatever went wrong
                log.info("AMI %s:%s not reachable (%s); retrying", self.host, self.port, e)
                self._drop()
                self._stop.wait(self.retry_seconds)
                continue
            # asterisk-ami's reader gives up after a few seconds of socket
            # silence, so keep the connection talking. The reply is not awaited:
            # under load it may be slow, and a slow link is not a dead one (the
            # reader's on_disconnect says when it is).
            while not self._stop.is_set() and self._alive():
                self._stop.wait(self.retry_seconds)
                self._ping()
            if not self._stop.is_set():
                log.warning("AMI connection to %s:%s lost; reconnecting", self.host, self.port)
            self._drop()

    def _connect(self) -> None:
        # 16 KiB reads: asterisk-ami's default (1 KiB) costs a recv() per event or two,
        # which under load was a visible share of the service's CPU.
        client = _client_class()(
            address=self.host, port=self.port, timeout=5, buffer_size=AMI_READ_BUFFER
        )
        self._lost.clear()
        client.add_listener(on_disconnect=lambda source, error=None: self._disconnected(source))
        client.add_event_listener(lambda event, **_: self._event(event))
        try:
            response = client.login(username=self.username, secret=self.secret).response
        except OSError:
            _close_socket(client)  # asterisk-ami leaves it open when connect() fails
            raise
        if response is None or response.status != "Success":
            client.disconnect()
            raise ConnectionError(f"AMI login as {self.username!r} refused")
        self._client = client
        self.connected.set()
        log.info("AMI connected to %s:%s", self.host, self.port)
        if self.on_connect is not None and not self._stop.is_set():
            thread = threading.Thread(target=self.on_connect, name="ami-on-connect", daemon=True)
            self._on_connect_thread = thread
            thread.start()

    def _alive(self) -> bool:
        client = self._client
        return client is not None and not client.finished.is_set() and not self._lost.is_set()

    def _disconnected(self, client: Any = None) -> None:
        """A connection ended (its reader saw it, or it was dropped): the lists in
        flight end here, partial. A late word from a connection already replaced
        does not touch the new one."""
        current = self._client
        if client is not None and current is not None and client is not current:
            return
        self._lost.set()
        for collector in list(self._collectors.values()):
            collector.lost = True
            collector.done.set()

    def _drop(self) -> None:
        self.connected.clear()
        self._disconnected()
        client, self._client = self._client, None
        if client is not None:
            try:
                _shutdown_socket(client)  # wakes its reader now (close alone does not)
                client.disconnect()
            except Exception:  # noqa: BLE001 - already gone
                log.debug("AMI disconnect failed", exc_info=True)

    def _event(self, event: Any) -> None:
        try:
            keys = event_keys(event.keys)
            action_id = keys.get("ActionID", "")
            collector = self._collectors.get(action_id) if action_id else None
            if collector is not None and event.name != "OriginateResponse":
                collector.events.append((event.name, keys))
                if event.name.endswith("Complete"):
                    collector.done.set()
                return
            self.on_event(event.name, keys)
        except Exception:
            log.exception("AMI event %s could not be handled", getattr(event, "name", "?"))


@functools.cache
def _client_class() -> Any:
    """asterisk-ami's AMIClient, with events read at their CRLF line ends only, and
    no pack kept past MAX_AMI_PACK bytes.

    Its Event.read splits a pack with str.splitlines, which also breaks at characters
    a caller's name may hold (U+2028, U+0085, form feed, U+001C-U+001E...): the name
    was cut there, and what followed became a key of its own ("Timestamp: ...",
    "CallerIDNum: ..." before the real one). Such characters stay in the value, and
    `sanitise` turns the controls among them into spaces.

    Its reader kept the bytes of a pack until the pack's end, however many: a longer
    pack is now skipped to its end with a warning (ami_packs.PackSplitter) and the link
    stays up. What it held is lost: an action's response times out, a missed Hangup is
    ended by the hang-up sweep.
    """
    from asterisk.ami import AMIClient, Event, Response

    class Client(AMIClient):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._skips = LogLimiter(log)

        def fire_recv_pack(self, pack: str) -> None:
            if Event.match(pack) and not Response.match(pack):
                self.fire_recv_event(read_event(pack))
            else:
                super().fire_recv_pack(pack)

        def _next_pack(self) -> Iterator[str]:
            """The greeting, then every pack of at most MAX_AMI_PACK bytes, decoded."""
            splitter = PackSplitter()
            greeting = None
            while greeting is None and not self.finished.is_set():
                try:
                    greeting = splitter.greeting(self._recv())
                except AmiGreetingError:
                    self.finished.set()
                    raise
            if greeting is None:
                return
            yield self._decode_pack(greeting)
            packs = splitter.feed(b"")
            while not self.finished.is_set():
                for pack in packs:
                    if isinstance(pack, Skipped):
                        self._skips.warning(
                            "ami-pack-too-long",
                            f"AMI: a pack of {pack.size} bytes or more skipped"
                            f" (at most {MAX_AMI_PACK})",
                        )
                    else:
                        yield self._decode_pack(pack)
                packs = splitter.feed(self._recv())
            self._socket.close()

        def _recv(self) -> bytes:
            data: bytes = self._socket.recv(self._buffer_size)
            if not data:
                self.finished.set()
            return data

    return Client


def read_event(pack: str) -> Any:
    """One AMI event pack (lines ending CRLF) as an asterisk-ami Event; a line without
    its ': ' is no header and is left out, as asterisk-ami does.

    >>> e = read_event("Event: Hangup\\r\\nCallerIDName: A\\u2028B\\x85C\\r\\nUniqueid: 1.2")
    >>> e.name, e.keys
    ('Hangup', {'CallerIDName': 'A\\u2028B\\x85C', 'Uniqueid': '1.2'})
    """
    from asterisk.ami import Event

    first, *lines = pack.split("\r\n")
    name = first.partition(": ")[2]
    keys: dict[str, Any] = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        parser = Event.parsers.get(key)
        if parser is None:
            keys[key] = value
            continue
        with contextlib.suppress(Exception):  # asterisk-ami skips what its parser refuses
            parser(name, keys)(key, value)
    return Event(name, keys)


def live_channels(link: AmiLink, timeout: float = 10.0) -> set[str] | None:
    """Every uniqueid and linkedid among the channels Asterisk has now
    (CoreShowChannels); None when AMI cannot say (down, refused, too slow)."""
    events = link.collect("CoreShowChannels", timeout)
    if events is None:
        return None
    live: set[str] = set()
    for name, keys in events:
        if name == "CoreShowChannel":
            live.update(v for v in (keys.get("Uniqueid"), keys.get("Linkedid")) if v)
    return live


def event_keys(raw: Mapping[str, Any]) -> dict[str, str]:
    """An asterisk-ami event's keys as flat strings: its parsed channel variables
    ({"ChanVariable": {"NAME": "value"}}) become "ChanVariable(NAME)" keys.

    >>> event_keys({"Uniqueid": "1.2", "ChanVariable": {"HOTLINE_ENTERED": "1.5"}})
    {'Uniqueid': '1.2', 'ChanVariable(HOTLINE_ENTERED)': '1.5'}
    """
    keys: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            keys[key] = value
        elif isinstance(value, dict):
            keys.update({f"{key}({k})": v for k, v in value.items() if isinstance(v, str)})
    return keys


def _close_socket(client: Any) -> None:
    sock = getattr(client, "_socket", None)
    if sock is not None:
        sock.close()


def _shutdown_socket(client: Any) -> None:
    """End asterisk-ami's connection both ways: its reader, blocked in recv(), returns
    at once (a close() from another thread leaves it blocked up to the socket's
    timeout)."""
    sock = getattr(client, "_socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # not connected, or already closed
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class QueueSync:
    """Make Asterisk's queue members and pauses match the desired state.

    Idempotent: adding a member that is there or removing one that is not is
    harmless, so after a reconnect the whole state is simply applied again.
    """

    link: AmiLink
    seats: tuple[str, ...]
    applied: dict[str, dict[str, bool]] | None = None

    def apply(self, desired: Mapping[str, Mapping[str, bool]], force: bool = False) -> bool:
        if not self.link.connected.is_set():
            return False
        if not force and self.applied == {q: dict(m) for q, m in desired.items()}:
            return True
        for queue, members in desired.items():
            for seat in self.seats:
                interface = f"PJSIP/{seat}"
                if seat in members:
                    self.link.send(
                        "QueueAdd",
                        Queue=queue,
                        Interface=interface,
                        MemberName=seat,
                        StateInterface=interface,
                    )
                    self.link.send(
                        "QueuePause",
                        Queue=queue,
                        Interface=interface,
                        Paused="true" if members[seat] else "false",
                    )
                else:
                    self.link.send("QueueRemove", Queue=queue, Interface=interface)
        self.applied = {q: dict(m) for q, m in desired.items()}
        return True
