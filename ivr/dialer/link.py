"""The dialer's AMI connection: the reconnecting `AmiLink`, plus list actions.

Events arrive on the AMI client's reader thread; they are only queued here
(never handled there: an action sent from that thread would wait for a
response that same thread has to read). List actions (CoreShowChannels,
DBGet, DeviceStateList) collect their events by ActionID until `...Complete`.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from ivr.adapters.asterisk.ami import AmiLink
from ivr.config import AmiSettings

log = logging.getLogger(__name__)

AmiEvent = tuple[str, dict[str, str]]


@dataclass
class _Collector:
    events: list[AmiEvent] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class DialerLink:
    """Send actions (one at a time), collect list results, queue every event."""

    def __init__(self, ami: AmiSettings, retry_seconds: float = 1.0) -> None:
        self.events: queue.Queue[AmiEvent] = queue.Queue()
        self.connects = 0  # bumped on every (re)connect: the worker reconciles then
        self._collectors: dict[str, _Collector] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._link = AmiLink(
            ami.host,
            ami.port,
            ami.username,
            ami.secret,
            on_event=self._on_event,
            on_connect=self._on_connect,
            retry_seconds=retry_seconds,
        )

    @property
    def connected(self) -> bool:
        return self._link.connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._link.connected.wait(timeout)

    def start(self) -> None:
        self._link.start()

    def stop(self) -> None:
        self._link.stop()

    def _on_connect(self) -> None:
        with self._state_lock:
            self.connects += 1

    def _on_event(self, name: str, keys: dict[str, str]) -> None:
        action_id = keys.get("ActionID", "")
        collector = self._collectors.get(action_id) if action_id else None
        if collector is not None and name != "OriginateResponse":
            collector.events.append((name, keys))
            if name.endswith("Complete"):
                collector.done.set()
            return
        self.events.put((name, keys))

    def send(self, action: str, **fields: Any) -> dict[str, str] | None:
        """Send an action and wait for its response; None when not connected."""
        with self._send_lock:
            return self._link.send(action, **fields)

    def collect(self, action: str, timeout: float = 5.0, **fields: Any) -> list[AmiEvent] | None:
        """Send a list action and return its events; None when it failed or timed out."""
        action_id = f"hotline-dialer-{next(self._ids)}"
        collector = _Collector()
        self._collectors[action_id] = collector
        try:
            response = self.send(action, ActionID=action_id, **fields)
            if response is None or response.get("Response", "").lower() != "success":
                return None
            if not collector.done.wait(timeout):
                return None
            return list(collector.events)
        finally:
            self._collectors.pop(action_id, None)

    def db_get(self, family: str, key: str) -> str | None:
        """AstDB value, or None when there is none (or AMI is down)."""
        events = self.collect("DBGet", Family=family, Key=key)
        if not events:
            return None
        for name, keys in events:
            if name == "DBGetResponse":
                return keys.get("Val", "")
        return None

    def db_del(self, family: str, key: str) -> None:
        self.send("DBDel", Family=family, Key=key)
