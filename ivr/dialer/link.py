"""The dialer's AMI connection: the reconnecting `AmiLink`, plus list actions.

Events arrive on the AMI client's reader thread; they are only queued here
(never handled there: an action sent from that thread would wait for a
response that same thread has to read). List actions (CoreShowChannels,
DBGet, DeviceStateList) collect their events through `AmiLink.collect`.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ivr.adapters.asterisk.ami import AmiEvent, AmiLink
from ivr.config import AmiSettings

log = logging.getLogger(__name__)


class DialerLink:
    """Send actions (one at a time), collect list results, queue every event."""

    def __init__(self, ami: AmiSettings, retry_seconds: float = 1.0) -> None:
        self.events: queue.Queue[AmiEvent] = queue.Queue()
        self.connects = 0  # bumped on every (re)connect: the worker reconciles then
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
        self.events.put((name, keys))

    def send(self, action: str, **fields: Any) -> dict[str, str] | None:
        """Send an action and wait for its response; None when not connected."""
        with self._send_lock:
            return self._link.send(action, **fields)

    def collect(self, action: str, timeout: float = 5.0, **fields: Any) -> list[AmiEvent] | None:
        """Send a list action and return its events; None when it failed or timed out."""
        return self._link.collect(action, timeout, **fields)

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
