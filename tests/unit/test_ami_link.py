"""AmiLink's list actions and its stop, against a small AMI server on loopback that
answers as Asterisk does (the greeting, then CRLF-separated packs) and can drop the
connection in the middle of a list.

A list cut short by a dropped connection must not pass for the whole list: the
missed hang-up sweep would end the records of live calls missing from it. And the
link's stop must end its threads, a list in flight included, within its bounds.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ivr.adapters.asterisk.ami import AmiLink, live_channels, translate
from ivr.adapters.asterisk.ami_packs import MAX_AMI_PACK, AmiGreetingError, PackSplitter, Skipped
from ivr.domain.calllog import CallStarted


class ListServer:
    """Logs anyone in; answers CoreShowChannels with `channels` events and then,
    if `complete`, the Complete event, else holds or drops (`drop`)."""

    def __init__(self, channels: int, *, complete: bool, drop: bool = False) -> None:
        self.channels, self.complete, self.drop = channels, complete, drop
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.listing = threading.Event()  # a list has been asked for
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        data = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    pack, data = data.split(b"\r\n\r\n", 1)
                    if not self._answer(conn, dict(_fields(pack))):
                        return

    def _answer(self, conn: socket.socket, action: dict[str, str]) -> bool:
        aid = action.get("ActionID", "")
        name = action.get("Action", "").lower()
        if name != "coreshowchannels":
            conn.sendall(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
            return True
        out = f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n\r\n"
        for n in range(self.channels):
            out += (
                f"Event: CoreShowChannel\r\nActionID: {aid}\r\n"
                f"Uniqueid: 1700000000.{n}\r\nLinkedid: 1700000000.{n}\r\n\r\n"
            )
        if self.complete:
            out += f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\n\r\n"
        conn.sendall(out.encode())
        self.listing.set()
        if self.drop:
            time.sleep(0.2)  # the events are read first
            conn.shutdown(socket.SHUT_RDWR)
            return False
        return True

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


def _fields(pack: bytes) -> Iterator[tuple[str, str]]:
    for line in pack.decode().split("\r\n"):
        key, _, value = line.partition(":")
        yield key.strip(), value.strip()


def link_to(server: ListServer) -> AmiLink:
    link = AmiLink("127.0.0.1", server.port, "u", "s", on_event=lambda *_: None)
    link.retry_seconds = 30  # no reconnect within a test
    link.start()
    assert link.connected.wait(5)
    return link


@pytest.fixture
def servers() -> Iterator[list[ListServer]]:
    made: list[ListServer] = []
    yield made
    for server in made:
        server.close()


def test_a_complete_list_is_returned(servers: list[ListServer]) -> None:
    servers.append(server := ListServer(3, complete=True))
    link = link_to(server)
    try:
        live = live_channels(link, timeout=5)
    finally:
        link.stop()
    assert live == {f"1700000000.{n}" for n in range(3)}


def test_a_list_cut_by_a_dropped_connection_is_none_not_partial(
    servers: list[ListServer],
) -> None:
    servers.append(server := ListServer(3, complete=False, drop=True))
    link = link_to(server)
    started = time.monotonic()
    try:
        live = live_channels(link, timeout=8)
    finally:
        link.stop()
    assert live is None  # not the three channels heard before the drop
    assert time.monotonic() - started < 6, "the drop should end the wait, not the timeout"


def test_stop_ends_a_list_in_flight_and_the_link_threads(servers: list[ListServer]) -> None:
    servers.append(server := ListServer(2, complete=False))  # never completes
    link = link_to(server)
    result: list[object] = []
    asker = threading.Thread(target=lambda: result.append(live_channels(link, timeout=30)))
    asker.start()
    assert server.listing.wait(5)
    started = time.monotonic()
    link.stop()
    asker.join(10)
    assert not asker.is_alive() and result == [None]
    assert time.monotonic() - started < 9
    assert link._thread is not None and not link._thread.is_alive()


def test_stop_waits_for_the_on_connect_work(servers: list[ListServer]) -> None:
    servers.append(server := ListServer(0, complete=True))
    done = threading.Event()

    def on_connect() -> None:
        time.sleep(0.5)
        done.set()

    link = AmiLink("127.0.0.1", server.port, "u", "s", on_event=lambda *_: None,
                   on_connect=on_connect)  # fmt: skip
    link.start()
    assert link.connected.wait(5)
    link.stop()
    assert done.is_set(), "stop returned while the on-connect work still ran"


HANGUP = (
    "Event: Hangup\r\nPrivilege: call,all\r\nTimestamp: 1795312805.250000\r\n"
    "Channel: PJSIP/anonymous-00000007\r\nCallerIDNum: 13800000001\r\n"
    "CallerIDName: {name}\r\nAccountCode: hotline-in\r\nContext: hotline-inbound\r\n"
    "Exten: 4000\r\nUniqueid: 1795312800.7\r\nLinkedid: 1795312800.7\r\n"
    "ChanVariable: HOTLINE_ENTERED=1795312804.950000\r\nCause: 16\r\n"
    "Cause-txt: Normal Clearing\r\n\r\n"
)


class EventServer(ListServer):
    """Sends one event as soon as the link has logged in."""

    def __init__(self, event: str) -> None:
        self.event = event
        super().__init__(0, complete=True)

    def _answer(self, conn: socket.socket, action: dict[str, str]) -> bool:
        super()._answer(conn, action)
        if action.get("Action", "").lower() == "login":
            conn.sendall(self.event.encode())
        return True


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1e"])
def test_a_caller_name_with_a_line_separator_reaches_the_record_whole(
    servers: list[ListServer], sep: str
) -> None:
    """str.splitlines breaks at these too: the name was cut there, and its rest became
    headers of their own (here a Timestamp and a CallerIDNum before the real ones)."""
    name = f"Bob{sep}Timestamp: 1{sep}CallerIDNum: 999{sep}Lee"
    heard: list[tuple[str, dict[str, str]]] = []
    servers.append(server := EventServer(HANGUP.format(name=name)))
    link = AmiLink("127.0.0.1", server.port, "u", "s", on_event=lambda n, k: heard.append((n, k)))
    link.retry_seconds = 30
    link.start()
    try:
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        link.stop()
    ((event, keys),) = heard
    assert event == "Hangup" and keys["CallerIDName"] == name
    assert keys["Timestamp"] == "1795312805.250000" and keys["CallerIDNum"] == "13800000001"
    assert keys["ChanVariable(HOTLINE_ENTERED)"] == "1795312804.950000"
    at = datetime(2026, 11, 23, 2, 0, 5, tzinfo=UTC)
    started = translate(event, keys, at)[0]
    assert isinstance(started, CallStarted) and started.caller == "13800000001"
    assert started.caller_name.startswith("Bob") and started.caller_name.endswith("Lee")
    assert started.at == at - timedelta(seconds=0.3)


# --- one pack within a bound (ami_packs) --------------------------------------------------


def _fed(splitter: PackSplitter, data: bytes, chunk: int) -> list[bytes | Skipped]:
    out: list[bytes | Skipped] = []
    for i in range(0, len(data), chunk):
        out += splitter.feed(data[i : i + chunk])
    return out


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 4096, 1 << 20])
def test_packs_come_out_whole_however_the_bytes_are_cut(chunk: int) -> None:
    packs = [b"Event: A\r\nX: 1", b"Response: Success\r\nActionID: 7", b"Event: B"]
    stream = b"".join(p + b"\r\n\r\n" for p in packs)
    assert _fed(PackSplitter(limit=64), stream, chunk) == packs


@pytest.mark.parametrize("chunk", [1, 3, 7, 1000, 1 << 20])
@pytest.mark.parametrize("size", [65, 1000, 300_000])
def test_a_pack_over_the_bound_is_skipped_and_the_next_comes_through(chunk: int, size: int) -> None:
    splitter = PackSplitter(limit=64)
    big = b"Event: Hangup\r\nCallerIDName: " + b"x" * size
    stream = b"Event: A\r\n\r\n" + big + b"\r\n\r\nEvent: B\r\n\r\n"
    out = _fed(splitter, stream, chunk)
    assert out == [b"Event: A", Skipped(len(big)), b"Event: B"]


def test_a_pack_at_the_bound_is_kept_and_one_byte_more_is_not() -> None:
    at = b"E" * 64
    assert PackSplitter(limit=64).feed(at + b"\r\n\r\n") == [at]
    assert PackSplitter(limit=64).feed(at + b"E\r\n\r\n") == [Skipped(65)]


def test_a_pack_that_never_ends_is_never_kept_whole() -> None:
    splitter = PackSplitter(limit=MAX_AMI_PACK)
    for _ in range(200):  # 200 MB of one pack, 1 MB at a time
        assert splitter.feed(b"y" * (1 << 20)) == []
        assert len(splitter._buf) <= MAX_AMI_PACK + 1 + (1 << 20)
    assert splitter.feed(b"\r\n\r\nEvent: C\r\n\r\n") == [Skipped(200 << 20), b"Event: C"]


def test_a_greeting_that_never_ends_is_refused() -> None:
    splitter = PackSplitter(limit=64)
    assert splitter.greeting(b"Asterisk Call ") is None
    with pytest.raises(AmiGreetingError):
        splitter.greeting(b"M" * 100)


def test_the_link_skips_an_oversized_event_and_stays_up(
    servers: list[ListServer], caplog: pytest.LogCaptureFixture
) -> None:
    """asterisk-ami kept every byte of a pack until its end: 8 MB without one (a peer
    gone wrong, a caller name of megabytes) grew the service's memory, and its CPU with
    the square of the size. The pack is skipped with a warning; the next one is heard."""
    big = HANGUP.format(name="B" * (8 << 20))
    heard: list[tuple[str, dict[str, str]]] = []
    servers.append(server := EventServer(big + HANGUP.format(name="Lee")))
    link = AmiLink("127.0.0.1", server.port, "u", "s", on_event=lambda n, k: heard.append((n, k)))
    link.retry_seconds = 30
    with caplog.at_level(logging.WARNING, logger="ivr.adapters.asterisk.ami"):
        link.start()
        try:
            deadline = time.monotonic() + 10
            while not heard and time.monotonic() < deadline:
                time.sleep(0.01)
            assert link.connected.is_set()
            response = link.send("Ping")  # the link still answers
            assert response is not None and response["Response"] == "Success"
        finally:
            link.stop()
    assert [keys["CallerIDName"] for _, keys in heard] == ["Lee"]
    assert any("skipped" in r.getMessage() for r in caplog.records)
