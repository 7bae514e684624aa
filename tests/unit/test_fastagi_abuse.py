"""Acceptance (issue 9, class 6): 1,100 idle connections to a FastAGI server
running under `ulimit -n 1024`, and a real dialog still answered within 1 s,
with the server's log under 100 lines.

The server is the real FastAgiServer with the real route table, in a process
of its own (tests/fastagi_child.py) whose soft RLIMIT_NOFILE is 1024. Two
cases: the default limits (the dialog cap stays below the descriptor limit, so
idle connections are shed at the cap), and a cap above the descriptor limit
(accept() fails with EMFILE, and the server must recover without flooding).
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHILD = Path(__file__).resolve().parents[1] / "fastagi_child.py"
IDLE = 1_100
NOFILE = 1_024
ENV_TIMEOUT = 2.0

ENV = {
    "agi_network": "yes",
    "agi_network_script": "hotline",
    "agi_request": "agi://127.0.0.1:4573/hotline",
    "agi_channel": "PJSIP/anonymous-00000002",
    "agi_uniqueid": "1732330800.2",
    "agi_callerid": "13912345678",
    "agi_calleridname": "Alice",
    "agi_extension": "4000",
}


@contextlib.contextmanager
def descriptors(needed: int) -> Iterator[None]:
    """Raise this process's soft open-file limit (the client holds every socket)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    assert hard == unlimited or hard >= needed, f"needs {needed} descriptors, ulimit -Hn is {hard}"
    if soft != unlimited and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def fastagi_child(log_path: Path, *args: str) -> Iterator[int]:
    """The server process; yields its port. Stopped (stdin closed) and reaped on exit."""
    with open(log_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), "--nofile", str(NOFILE), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
        )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=30), "the FastAGI server did not start within 30 s"
        yield int(proc.stdout.readline())
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == 0, log_path.read_text(errors="replace")[-3000:]


def answer(line: str) -> bytes:
    """What Asterisk replies to the commands the hotline route sends (caller keys 1)."""
    if line.startswith("GET DATA"):
        return b"200 result=1\n"
    if line.startswith('EXEC "MSet"'):
        return b"200 result=0\n"
    return b"200 result=1\n"


def real_dialog(port: int) -> tuple[float, list[str]]:
    """A call as Asterisk places it: environment block, then a reply to each command."""
    started = time.monotonic()
    lines: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.settimeout(2)
        s.sendall(("".join(f"{k}: {v}\n" for k, v in ENV.items()) + "\n").encode())
        with s.makefile("rb") as stream:
            while raw := stream.readline():
                lines.append(raw.decode())
                s.sendall(answer(lines[-1]))
    return time.monotonic() - started, lines


def wait_all_closed(socks: list[socket.socket], within: float) -> int:
    """How many of the sockets the server closed (EOF or reset) within the time."""
    closed = 0
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        while closed < len(socks) and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(timeout=left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                with contextlib.suppress(ConnectionError):
                    assert sock.recv(1) == b""  # the server never writes to a silent peer
                sel.unregister(sock)
                closed += 1
    return closed


@pytest.mark.parametrize(
    ("args", "expect_in_log"),
    [
        ([], "FastAGI full: closed the oldest connection"),
        (["--max-dialogs", "5000", "--fd-reserve", "-500"], "FastAGI cannot accept"),
    ],
    ids=["at-the-cap", "out-of-descriptors"],
)
def test_idle_flood_under_ulimit_1024(tmp_path: Path, args: list[str], expect_in_log: str) -> None:
    log_path = tmp_path / "fastagi.log"
    idle: list[socket.socket] = []
    with descriptors(IDLE + 200):
        try:
            with fastagi_child(log_path, "--env-timeout", str(ENV_TIMEOUT), *args) as port:
                for _ in range(IDLE):
                    idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                elapsed, lines = real_dialog(port)
                assert lines[0] == 'GET DATA "hotline/zh-CN/welcome" "5000" "1"\n'
                assert lines[1].startswith('EXEC "MSet" ')
                assert lines[1].endswith(',HOTLINE_ROUTE_KIND=queue"\n'), lines
                assert elapsed < 1.0, f"the real dialog took {elapsed:.2f} s"
                # Every idle connection is closed: shed at the cap or timed out.
                assert wait_all_closed(idle, ENV_TIMEOUT + 5) == IDLE
                assert real_dialog(port)[1][1].endswith(',HOTLINE_ROUTE_KIND=queue"\n')
        finally:
            for s in idle:
                s.close()
    log = log_path.read_text(errors="replace").splitlines()
    assert len(log) < 100, "\n".join(log[:120])
    assert any(expect_in_log in line for line in log), "\n".join(log)
    assert not any("Traceback" in line for line in log), "\n".join(log)
