"""An asyncio FastAGI server with one explicit route table.

Asterisk connects for `AGI(agi://host:port/<route>)`; the server reads the
environment block, looks the route up and runs its handler. Whatever happens
(unknown route, handler error, hang-up) the request ends in a defined dialplan
outcome: on failure the route variable is cleared, and the dialplan sends the
caller to the fallback context.

Under abuse (fastagi_limits.FastAgiLimits): the environment block and every
reply have a deadline, lines have a length limit, and the number of open
connections has a cap. At the cap the oldest connection still waiting for its
environment is closed to make room (Asterisk sends the block at once, so that
one is not a call); when every slot holds a dialog, the new connection is
closed at once and Asterisk's AGISTATUS=FAILURE sends the caller to the
fallback. The server accepts connections itself, so running out of file
descriptors is logged once in a while and retried, never spun on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import socket
from dataclasses import dataclass, field

from ivr.adapters.asterisk import names
from ivr.adapters.asterisk.agi import AgiError, AgiHangup, AgiLineTooLong, AgiTimeout, command
from ivr.adapters.asterisk.agi_channel import (
    KEYS,
    AgiChannel,
    AgiStream,
    Handler,
    RouteTable,
    route_name,
)
from ivr.adapters.asterisk.fastagi_limits import FastAgiLimits, LogLimiter
from ivr.adapters.log import CALL_ID
from ivr.domain.text import logged

__all__ = ["KEYS", "AgiChannel", "FastAgiServer", "Handler", "RouteTable", "route_name"]

log = logging.getLogger(__name__)

# accept() errors that mean "out of descriptors or memory": wait and retry.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_BATCH = 32  # connections accepted before the dialogs get a turn
# An environment block still incomplete this long after the connection came is
# being dribbled (Asterisk writes it at once): such a connection may be shed.
_SLOW_ENV_SECONDS = 0.5


@dataclass
class _Conn:
    """One accepted connection, in arrival order in the server's table.

    A connection first only waits to become readable (a selector entry, no
    task, no stream: an idle flood costs little); then a task reads its
    environment (`started`: the task owns the socket); then it is a dialog.
    """

    sock: socket.socket
    since: float
    task: asyncio.Task[None] | None = None
    started: bool = False
    in_dialog: bool = False


@dataclass
class FastAgiServer:
    routes: RouteTable
    host: str = "127.0.0.1"
    port: int = 4573
    # Pending connections the kernel queues for us. asyncio's default (100) is
    # too small for call bursts: Asterisk then gives up connecting (AGISTATUS
    # FAILURE, the caller goes to the fallback).
    backlog: int = 1024
    limits: FastAgiLimits = field(default_factory=FastAgiLimits)
    _sock: socket.socket | None = None
    _helpers: list[asyncio.Task[None]] = field(default_factory=list)  # accept, sweep
    _conns: dict[int, _Conn] = field(default_factory=dict)  # in arrival order
    _cap: int = 0
    _quiet: LogLimiter = field(init=False)
    # Dialogs dispatched and the AGI commands they sent (the benchmarks' round
    # trips per call).
    dialogs: int = 0
    commands: int = 0

    def __post_init__(self) -> None:
        self._quiet = LogLimiter(log, self.limits.log_every_seconds)

    async def start(self) -> None:
        self._sock = _listen(self.host, self.port, self.backlog)
        self.port = self._sock.getsockname()[1]
        self._cap = self.limits.dialog_cap()
        self._helpers = [
            asyncio.create_task(self._accept_loop()),
            asyncio.create_task(self._sweep_loop()),
        ]
        log.info("FastAGI listening on %s:%s (at most %d dialogs)", self.host, self.port, self._cap)

    async def stop(self) -> None:
        """Stop listening, then end the conversations in flight.

        A caller whose conversation is cut gets AGISTATUS=FAILURE: the fallback.
        """
        for task in self._helpers:
            task.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)
        self._helpers = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        conns = list(self._conns.values())
        self._conns.clear()
        for conn in conns:
            self._drop(conn)
        await asyncio.gather(*(c.task for c in conns if c.task), return_exceptions=True)
        if conns:
            log.info("FastAGI stopped: %d connections ended", len(conns))
        self._quiet.flush()

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            for _ in range(_ACCEPT_BATCH):
                try:
                    sock, _ = await loop.sock_accept(self._sock)
                except OSError as e:
                    await self._accept_failed(e)
                    break
                self._admit(sock)
            await asyncio.sleep(0)  # the dialogs' turn

    async def _accept_failed(self, e: OSError) -> None:
        """Out of descriptors: make room, say so now and then, retry shortly."""
        if e.errno in _OUT_OF_RESOURCES:
            for _ in range(_ACCEPT_BATCH):
                if not self._shed_idle():
                    break
            self._quiet.warning(
                "accept-resources",
                f"FastAGI cannot accept: {e.strerror} ({len(self._conns)} connections open);"
                " retrying",
            )
        else:
            self._quiet.warning("accept-error", f"FastAGI accept failed: {e}; retrying")
        await asyncio.sleep(self.limits.accept_retry_seconds)

    def _admit(self, sock: socket.socket) -> None:
        if len(self._conns) >= self._cap and not self._shed_idle():
            self._quiet.warning(
                "full",
                f"FastAGI has {self._cap} dialogs, its cap: a new connection was closed"
                " (Asterisk sends that caller to the fallback)",
            )
            sock.close()
            return
        loop = asyncio.get_running_loop()
        conn = _Conn(sock, loop.time())
        self._conns[id(conn)] = conn
        if _has_data(sock):  # Asterisk's block is usually there already
            conn.task = asyncio.create_task(self._run(conn))
        else:
            loop.add_reader(sock.fileno(), self._readable, conn)  # an fd: cheaper than a socket

    def _readable(self, conn: _Conn) -> None:
        asyncio.get_running_loop().remove_reader(conn.sock.fileno())
        conn.task = asyncio.create_task(self._run(conn))

    def _shed_idle(self) -> bool:
        """Close the oldest idle connection: one that has not sent its environment.

        A connection whose bytes are waiting to be read is a call the loop has
        not reached yet, not an idle one; nor is one reading a block that arrived
        in parts within the last `_SLOW_ENV_SECONDS`.
        """
        slow = asyncio.get_running_loop().time() - _SLOW_ENV_SECONDS
        for key, conn in self._conns.items():
            if not _idle(conn, slow):
                continue
            del self._conns[key]
            self._drop(conn)
            self._quiet.warning(
                "shed",
                "FastAGI full: closed the oldest connection that had not sent its AGI environment",
            )
            return True
        return False

    async def _sweep_loop(self) -> None:
        """Close connections that stayed silent for the environment timeout."""
        loop = asyncio.get_running_loop()
        timeout = self.limits.env_timeout_seconds
        while True:
            await asyncio.sleep(min(timeout / 4, 0.5))
            silent = [k for k, c in self._waiting_since(loop.time() - timeout) if c.task is None]
            for key in silent:
                self._drop(self._conns.pop(key))
            if silent:
                self._quiet.warning(
                    "env-timeout",
                    f"FastAGI: closed {len(silent)} connection(s) that sent nothing"
                    f" within {timeout} s",
                )

    def _waiting_since(self, cutoff: float) -> list[tuple[int, _Conn]]:
        """The connections accepted before `cutoff` (the table is in arrival order)."""
        return list(itertools.takewhile(lambda kc: kc[1].since < cutoff, self._conns.items()))

    def _drop(self, conn: _Conn) -> None:
        """End a connection now, whatever its stage."""
        if conn.task is None:
            asyncio.get_running_loop().remove_reader(conn.sock.fileno())
        if not conn.started:
            conn.sock.close()
        if conn.task is not None:
            conn.task.cancel()

    async def _run(self, conn: _Conn) -> None:
        conn.started = True
        stream = AgiStream(self.limits.max_line_bytes)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(lambda: stream, conn.sock)
        except (OSError, asyncio.CancelledError):
            self._conns.pop(id(conn), None)
            conn.sock.close()
            return
        # The block's deadline runs from its first bytes, not from the accept: a
        # loop slow to reach a connection (a burst, a busy machine) is not the
        # peer's fault. A silent connection never gets here (the sweep closes it).
        limits = self.limits
        agi = AgiChannel(
            stream,
            env_timeout=limits.env_timeout_seconds,
            reply_timeout=limits.reply_timeout_seconds,
        )
        try:
            if await self._read_env(agi):
                conn.in_dialog = True
                await self.dispatch(agi)
        except asyncio.CancelledError:
            # Server stopping, or the connection was shed: end quietly. (Re-raising
            # would make asyncio log the cancelled connection task as an error.)
            pass
        finally:
            self._conns.pop(id(conn), None)
            stream.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await stream.wait_closed()

    async def serve_one(self, agi: AgiChannel) -> None:
        if await self._read_env(agi):
            await self.dispatch(agi)

    async def _read_env(self, agi: AgiChannel) -> bool:
        try:
            await agi.read_env()
        except AgiTimeout:
            self._quiet.warning(
                "env-timeout",
                "FastAGI: a connection sent no complete AGI environment within"
                f" {agi.env_timeout} s: closed",
            )
        except AgiLineTooLong:
            self._quiet.warning(
                "env-too-long",
                f"FastAGI: an AGI environment line over {self.limits.max_line_bytes} bytes:"
                " connection closed",
            )
        except (AgiHangup, ConnectionError, OSError):
            self._quiet.warning(
                "env-closed", "FastAGI connection closed before its environment was read"
            )
        except AgiError as e:
            self._quiet.warning("env-malformed", f"FastAGI: {e}: connection closed")
        else:
            return True
        return False

    async def dispatch(self, agi: AgiChannel) -> None:
        """Run the route's handler; whatever happens, a defined dialplan outcome."""
        try:
            await self._dispatch(agi)
        finally:
            self.dialogs += 1
            self.commands += agi.sent

    async def _dispatch(self, agi: AgiChannel) -> None:
        call = logged(agi.uid)  # the uid as log lines quote it: at most 64 characters
        CALL_ID.set(call or "-")  # this dialog's task: every log line names the call
        name = route_name(agi.env)
        handler = self.routes.get(name)
        if handler is None:
            message = f"call {call}: unknown FastAGI route {logged(name)!r}: fallback"
            self._quiet.warning("unknown-route", message, logging.ERROR)
            await _to_fallback(agi)
            return
        try:
            await handler(agi)
        except AgiHangup:
            log.info("call %s: hung up during %s", call, logged(name))
        except asyncio.CancelledError:
            raise
        except (AgiTimeout, AgiLineTooLong) as e:
            # The stream is no longer in step: clear the route without waiting, then hang up.
            self._quiet.warning(type(e).__name__, f"call {call}: {logged(str(e), 200)}: fallback")
            _clear_route(agi)
        except AgiError as e:
            self._quiet.warning("protocol", f"call {call}: {logged(str(e), 200)}: fallback")
            await _to_fallback(agi)
        except Exception:
            log.exception("call %s: FastAGI route %s failed: fallback", call, logged(name))
            await _to_fallback(agi)


def _idle(conn: _Conn, slow: float) -> bool:
    """Silent so far, or still short of a whole block after it came before `slow`."""
    if conn.in_dialog:
        return False
    if conn.task is None:
        return not _has_data(conn.sock)
    return conn.started and conn.since < slow  # a task not started yet has bytes to read


def _has_data(sock: socket.socket) -> bool:
    """Bytes (or the end of the stream) are waiting on a non-blocking socket."""
    try:
        sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # an error to report: let the task see it
    return True


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    return sock


def _clear_route(agi: AgiChannel) -> None:
    """Write the fallback's SET VARIABLE without reading a reply."""
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        agi.stream.write(command("SET VARIABLE", names.VAR_ROUTE_KIND, ""))


async def _to_fallback(agi: AgiChannel) -> None:
    """Clear the route so the dialplan sends the caller to the fallback context."""
    with contextlib.suppress(AgiError, ConnectionError, OSError):
        await agi.set_variable(names.VAR_ROUTE_KIND, "")
