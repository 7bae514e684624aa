"""`hotline bench fastagi`: the service's CPU per IVR call, without Asterisk.

Under load the hotline process shares the machine's cores with Asterisk, so
its CPU per call bounds the IVR's capacity (`hotline bench ivr --find-max`). The
IVR bench sees that figure only through Asterisk, SIPp and a noisy machine;
this bench measures it alone.

A child process runs the service's FastAGI side as `hotline serve` builds it:
the FastAGI server, the handlers over the sample configuration (or
`config_dir`) and the buffered call-log writer on a throw-away SQLite
database. No AMI, no Asterisk. The parent plays Asterisk's part for each call:
it connects, sends an environment block like Asterisk's (about 20 lines, a new
uniqueid and caller number each time), answers every command as Asterisk would
(the key 9 to `GET DATA`, `key_s` after the prompt starts, as `hotline bench
ivr`'s callers key; success to `EXEC MSet`) and waits for the server to close.
`calls` dialogs run `concurrency` at a time. The caller hangs up `HOLD_S` after
its route is set: the child records that CallEnded as the AMI listener would,
so each call's events reach the writer in three batches, as under real load.

`service_cpu_ms` is the child's CPU time (event loop and call-log writer)
divided by the calls, from the first connection until every record is written
(the check of the records that follows is not counted).
The baseline, measured in the same run the same way, is `floor_cpu_ms`: a
minimal asyncio server that reads the same block, sends the same two commands
and closes, and does nothing else: what any Python FastAGI server pays for the
dialog itself. `overhead_ratio` is service / floor. The run checks that the
service wrote a whole record (routed and with its menu steps) for every call.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any

from lab.bench.ivr_load import _cpu_seconds

KEY = "9"  # what every caller presses: callback, as in `hotline bench ivr`
KEY_S = 0.5  # the key comes this long after the prompt starts (`bench ivr`'s first key delay)
HOLD_S = 0.3  # the caller hangs up this long after the route is set (its hold_ms)
CALLER = "+861391{:07d}"
FLOOR_COMMANDS = (b"GET DATA hotline/zh-CN/welcome 5000 1\n", b"EXEC MSet HOTLINE_ROUTE_KIND=x\n")


def _uid(n: int) -> str:
    """Call `n`'s Asterisk uniqueid."""
    return f"1733472000.{n}"


def environment(n: int, route: str = "hotline") -> bytes:
    """An AGI environment block as Asterisk 22 sends it for call `n`."""
    uid = _uid(n)
    caller = CALLER.format(n)
    lines = [
        "agi_network: yes",
        f"agi_network_script: {route}",
        f"agi_request: agi://127.0.0.1:4573/{route}",
        f"agi_channel: PJSIP/anonymous-{n:08x}",
        "agi_language: en",
        "agi_type: PJSIP",
        f"agi_uniqueid: {uid}",
        "agi_version: 22.10.1",
        f"agi_callerid: {caller}",
        "agi_calleridname: load",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: 4000",
        "agi_rdnis: unknown",
        "agi_context: hotline-inbound",
        "agi_extension: 4000",
        "agi_priority: 6",
        "agi_enhanced: 0.0",
        "agi_accountcode: hotline",
        f"agi_threadid: {140000000000 + n}",
    ]
    return ("\n".join(lines) + "\n\n").encode()


def _reply(command: bytes) -> bytes:
    """What Asterisk answers to one AGI command of the IVR's dialog."""
    verb = command.split(b" ", 2)
    if verb[:2] == [b"GET", b"DATA"]:  # the digits keyed
        return f"200 result={KEY}\n".encode()
    if verb[:2] == [b"WAIT", b"FOR"]:  # the key's character code
        return f"200 result={ord(KEY)}\n".encode()
    if verb[:2] == [b"STREAM", b"FILE"]:
        return b"200 result=0 endpos=8000\n"
    if verb[:2] == [b"SET", b"VARIABLE"]:
        return b"200 result=1\n"
    return b"200 result=0\n"


async def _one_call(port: int, n: int, key_s: float) -> int:
    """Asterisk's side of one dialog; the commands the server sent. The caller
    keys `key_s` after a prompt starts."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    commands = 0
    try:
        writer.write(environment(n))
        while line := await reader.readline():
            commands += 1
            if line.startswith((b"GET DATA", b"WAIT FOR DIGIT")):
                await asyncio.sleep(key_s)
            writer.write(_reply(line))
    finally:
        writer.close()
        await writer.wait_closed()
    return commands


async def _drive(port: int, calls: int, concurrency: int, key_s: float) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> int:
        async with gate:
            return await _one_call(port, n, key_s)

    return sum(await asyncio.gather(*(one(n) for n in range(calls))))


# --- the child: the server under test ------------------------------------------


async def _floor_dialog(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while (await reader.readline()) not in (b"\n", b""):
            pass
        for command in FLOOR_COMMANDS:
            writer.write(command)
            await reader.readline()
    finally:
        writer.close()


async def _serve(kind: str, config_dir: str | None, work: str, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    if kind == "floor":
        server = await asyncio.start_server(_floor_dialog, "127.0.0.1", 0, backlog=1024)
        pipe.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, pipe.recv)  # the calls placed, when done
        server.close()
        pipe.send("written")
        pipe.send({"records": None})
        return
    from ivr.adapters.asterisk import names
    from ivr.adapters.asterisk.fastagi import AgiChannel, FastAgiServer, RouteTable
    from ivr.adapters.db.spool import BufferedCallLog, SpoolingCallLog
    from ivr.bootstrap import build_handlers, build_runtime
    from ivr.domain.calllog import CallEnded

    env = {"HOTLINE_DATA_DIR": work, "HOTLINE_DATABASE_URL": f"sqlite:///{work}/bench.db"}
    rt = build_runtime(config_dir, env)
    calllog = BufferedCallLog(SpoolingCallLog(rt.calls, rt.spool_path))
    served = build_handlers(rt, calllog).routes().get(names.ROUTE_HOTLINE)
    assert served is not None

    async def hotline(agi: AgiChannel) -> None:
        """The route, then the caller's hang-up `HOLD_S` later, recorded as the AMI
        listener records it (its CallEnded): a call's events span three batches."""
        await served(agi)
        uid = agi.uid
        loop.call_later(HOLD_S, lambda: calllog.record(CallEnded(uid, rt.clock(), "16")))

    routes = RouteTable()
    routes.add(names.ROUTE_HOTLINE, hotline)
    fastagi = FastAgiServer(routes, "127.0.0.1", 0, backlog=4096)
    await fastagi.start()
    pipe.send(fastagi.port)
    calls = await loop.run_in_executor(None, pipe.recv)  # the calls placed, when done
    await asyncio.sleep(HOLD_S + 0.1)  # the last hang-ups
    await asyncio.to_thread(calllog.flush)
    pipe.send("written")  # the measured part ends here; the check below is not measured
    whole = 0
    for n in range(calls):
        rec = rt.calls.get_call(_uid(n))
        whole += bool(
            rec is not None
            and rec.routed_at is not None
            and rec.ended_at is not None
            and len(rec.steps) >= 2
        )
    pipe.send({"records": whole, "dialogs": fastagi.dialogs, "commands": fastagi.commands})
    await fastagi.stop()
    calllog.close()
    rt.close()


def _child(kind: str, config_dir: str | None, work: str, pipe: Connection) -> None:
    asyncio.run(_serve(kind, config_dir, work, pipe))


def _measure(
    kind: str, calls: int, concurrency: int, config_dir: str | None, key_s: float = KEY_S
) -> dict[str, Any]:
    """One server kind in its own process: its CPU per call, and what it reported."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    with tempfile.TemporaryDirectory(prefix="hotline-bench-fastagi-") as work:
        os.chmod(work, 0o700)
        proc = ctx.Process(target=_child, args=(kind, config_dir, work, theirs), daemon=True)
        proc.start()
        try:
            if not ours.poll(60):
                raise RuntimeError(f"the {kind} server did not start within 60 s")
            port = ours.recv()
            before, started = _cpu_seconds(proc.pid), time.perf_counter()
            commands = asyncio.run(_drive(port, calls, concurrency, key_s))
            ours.send(calls)
            if not ours.poll(120):
                raise RuntimeError(f"the {kind} server did not write its records within 120 s")
            ours.recv()  # "written"
            after, wall = _cpu_seconds(proc.pid), time.perf_counter() - started
            if not ours.poll(120):
                raise RuntimeError(f"the {kind} server did not report within 120 s")
            report = ours.recv()
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    cpu = (after or 0.0) - (before or 0.0)
    return {
        "cpu_ms": round(cpu * 1000 / calls, 4),
        "calls_per_s": round(calls / wall, 1),
        "commands_per_call": round(commands / calls, 2),
        **{k: v for k, v in report.items() if v is not None},
    }


def run(
    calls: int = 3000, concurrency: int = 200, config_dir: str | None = None, key_s: float = KEY_S
) -> dict[str, Any]:
    """The service and the floor, one after the other in this run."""
    service = _measure("service", calls, concurrency, config_dir, key_s)
    floor = _measure("floor", calls, concurrency, config_dir, key_s)
    return {
        "calls": calls,
        "concurrency": concurrency,
        "key_s": key_s,
        "hold_s": HOLD_S,
        "service_cpu_ms": service["cpu_ms"],
        "floor_cpu_ms": floor["cpu_ms"],
        "overhead_ratio": round(service["cpu_ms"] / floor["cpu_ms"], 2)
        if floor["cpu_ms"]
        else None,
        "service": service,
        "floor": floor,
    }
