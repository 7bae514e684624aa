"""Helpers for tests that place real calls through the sandbox Asterisk.

- `running_sandbox()`: build, render, start; on exit stop it if this process
  started it, else restore the given settings (the sandbox is shared).
- `AmiEvents`: log in over AMI and collect events, wait for one.
- `StubFastAGI`: a minimal FastAGI server on a real socket that answers every
  request by setting fixed channel variables (the real server is elsewhere).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from asterisk.ami import AMIClient, SimpleAction

from ivr.adapters.asterisk.errors import AsteriskError
from ivr.adapters.asterisk.prompts import build_prompts
from ivr.adapters.asterisk.templates import AsteriskSettings
from lab.sandbox import Sandbox


@contextlib.contextmanager
def running_sandbox(
    settings: AsteriskSettings,
    *,
    restore: AsteriskSettings | None = None,
    prompts: Mapping[str, Mapping[str, str]] | None = None,
    sandbox: Sandbox | None = None,
) -> Iterator[Sandbox]:
    """The sandbox running with settings; afterwards stopped, or reloaded with restore.

    Holds `Sandbox.exclusive()` throughout: another session using it waits.
    """
    box = sandbox or Sandbox()
    with box.exclusive():
        box.build()
        was_running = box.is_running()
        if prompts:
            build_prompts(prompts, box.sounds_dir)
        box.render(settings)
        box.start()
        try:
            yield box
        finally:
            if was_running:
                box.render(restore or settings)
                box.start()
            else:
                box.stop()


def free_tcp_port() -> int:
    """A local TCP port nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class AmiEvent:
    name: str
    fields: dict[str, str]


class AmiEvents:
    """Collects AMI events from one logged-in client; a context manager.

    asterisk-ami's reader thread dies when its socket is idle for `timeout`
    seconds (3 by default), so a keepalive thread sends Ping every second.
    """

    def __init__(self, settings: AsteriskSettings) -> None:
        self.settings = settings
        self.events: list[AmiEvent] = []
        self._lock = threading.Lock()
        self._client: AMIClient | None = None
        self._stop = threading.Event()
        self._pinger: threading.Thread | None = None
        self.login_response: str = ""

    def __enter__(self) -> AmiEvents:
        client = AMIClient(address=self.settings.ami_host, port=self.settings.ami_port)
        future = client.login(username=self.settings.ami_username, secret=self.settings.ami_secret)
        response = future.response
        self.login_response = str(getattr(response, "status", response))
        if response is None or response.is_error():
            client.disconnect()
            raise AsteriskError(
                f"AMI login as {self.settings.ami_username!r} refused: {self.login_response}"
            )
        client.add_event_listener(self._on_event)
        self._client = client
        self._stop.clear()
        self._pinger = threading.Thread(target=self._keepalive, args=(client,), daemon=True)
        self._pinger.start()
        return self

    def _keepalive(self, client: AMIClient) -> None:
        while not self._stop.wait(1.0):
            try:
                client.send_action(SimpleAction("Ping"))
            except OSError:
                return

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._pinger is not None:
            self._pinger.join(timeout=2)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.logoff()
            self._client.disconnect()
            self._client = None

    def _on_event(self, event: Any, **_: Any) -> None:
        with self._lock:
            self.events.append(AmiEvent(event.name, {k: str(v) for k, v in event.keys.items()}))

    def action(self, name: str, **fields: str) -> str:
        """Send one AMI action and return the response status (Success/Error)."""
        if self._client is None:
            raise AsteriskError("AMI client not logged in")
        response = self._client.send_action(SimpleAction(name, **fields)).response
        if response is None:
            raise AsteriskError(f"AMI action {name} got no response")
        return str(response.status)

    def find(
        self, name: str, where: Callable[[dict[str, str]], bool] | None = None
    ) -> list[AmiEvent]:
        with self._lock:
            return [e for e in self.events if e.name == name and (where is None or where(e.fields))]

    def wait_for(
        self,
        name: str,
        where: Callable[[dict[str, str]], bool] | None = None,
        timeout_s: float = 10.0,
    ) -> AmiEvent:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.find(name, where)
            if found:
                return found[0]
            time.sleep(0.05)
        raise AsteriskError(f"no AMI event {name} within {timeout_s:.0f} s")


class StubFastAGI:
    """A FastAGI server that sets fixed variables on every request, then ends it.

    `routes` maps a script name (agi://host:port/<script>) to its own variables;
    other requests get `variables`.
    """

    def __init__(
        self,
        port: int,
        variables: Mapping[str, str],
        host: str = "127.0.0.1",
        routes: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.variables = dict(variables)
        self.routes = {k: dict(v) for k, v in (routes or {}).items()}
        self.requests: list[dict[str, str]] = []
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StubFastAGI:
        server = socket.create_server((self.host, self.port))
        server.settimeout(0.2)
        self._server = server
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _serve(self) -> None:
        while self._server is not None:
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        reader = conn.makefile("r", encoding="utf-8", newline="\n")
        env = {}
        for line in reader:
            if not line.strip():
                break
            key, _, value = line.partition(":")
            env[key.strip()] = value.strip()
        self.requests.append(env)
        variables = self.routes.get(env.get("agi_network_script", ""), self.variables)
        for name, value in variables.items():
            quoted = value.replace("\\", "\\\\").replace('"', '\\"')
            conn.sendall(f'SET VARIABLE {name} "{quoted}"\n'.encode())
            reader.readline()  # 200 result=1
