"""`hotline demo`: synthetic traffic through the sandbox Asterisk so the board comes alive.

Starts the sandbox Asterisk, the hotline service (FastAGI + AMI + queue sync) in a
thread, one SIPp seat per roster seat (they ring, answer and stay on the line until the
caller hangs up), the web app, and SIPp callers arriving as a Poisson stream: most pick
a branch and talk for a random time, some hang up in the menu or while waiting. Now and
then an agent takes a short break. Outside open hours the hotline's clock is pinned to
the next weekday 10:00 so there is someone to answer.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ivr.adapters.clock import pinned_clock
from ivr.bootstrap import Runtime, asterisk_settings, build_runtime, build_service
from lab.provision import provision_sandbox

if TYPE_CHECKING:
    from web.server import WebServer

KEYS = (("1", 0.45), ("2", 0.2), ("3", 0.25), ("0", 0.03), ("", 0.07))  # "" hangs up in menu
MAX_CALLERS = 12


def demo_instant(rt: Runtime) -> datetime | None:
    """When the hotline is closed now, the next 10:00 (local) still ahead at which it
    is open, today's included (after midnight that is this morning's); else None
    (real time)."""
    now = rt.clock()
    if rt.config.calendar.is_open(now):
        return None
    local = now.astimezone(rt.config.site.tz).replace(hour=10, minute=0, second=0, microsecond=0)
    for i in range(15):
        candidate = local + timedelta(days=i)
        if candidate > now and rt.config.calendar.is_open(candidate):
            return candidate
    return None


def ensure_demo_user(rt: Runtime) -> str:
    from web import store

    password = secrets.token_urlsafe(9)
    with rt.sessions.begin() as s:
        try:
            store.add_user(s, "demo", password, "supervisor", None, rt.clock())
        except store.UserError:
            return "user 'demo' exists: sign in with its password"
    return f"sign in as demo / {password}"


def _caller(number: str, rng: random.Random) -> None:
    from lab.sipp import place_call

    keys = rng.choices([k for k, _ in KEYS], [w for _, w in KEYS])[0]
    if not keys:
        place_call("", number, hangup_after_ms=rng.randint(2000, 6000), timeout_s=30)
    elif rng.random() < 0.12:  # gives up while waiting
        place_call(keys, number, hangup_after_ms=rng.randint(8000, 30000), timeout_s=60)
    else:
        talk = int(min(120_000, rng.lognormvariate(10.1, 0.5)))  # ~25 s median
        place_call(keys, number, hold_ms=talk, timeout_s=talk / 1000 + 180)


def _breaks(rt: Runtime, rng: random.Random, stop: threading.Event) -> None:
    from web import store

    agents = [a.id for a in rt.config.roster.agents]
    while not stop.wait(rng.uniform(40, 90)):
        who = rng.choice(agents)
        rt.presence_repo.set_agent_state(who, "away", "break", rt.clock())
        with rt.sessions.begin() as s:
            store.record_state(s, who, "away", "break", rt.clock(), None)
        if stop.wait(rng.uniform(30, 80)):
            break
        rt.presence_repo.set_agent_state(who, "available", "", rt.clock())
        with rt.sessions.begin() as s:
            store.record_state(s, who, "available", "", rt.clock(), None)


def run_demo(
    config: str | None, minutes: float, rate: float, port: int | None, web_options: dict[str, Any]
) -> int:
    """Calls at `rate` per minute for `minutes`, the board on `port`, until done or Ctrl-C."""
    from lab.sandbox import Sandbox
    from web.app import create_app
    from web.server import WebServer

    rt = build_runtime(config)
    try:
        at = demo_instant(rt)
        if at is not None:
            rt.clock = pinned_clock(at)
            print(f"closed now: the hotline's clock is pinned to {at.isoformat()}", flush=True)
        # Bound before the sandbox is touched, as by `hotline up`: a port in use is
        # said at once (exit 1), and no Asterisk is started or stopped.
        app = create_app(rt, **web_options)
        web = WebServer(app, rt.config.web.host, port or rt.config.web.port)
        try:
            with Sandbox().exclusive(timeout_s=10):
                return _demo(rt, web, minutes, rate)
        finally:
            web.stop()
    finally:
        rt.close()


def _demo(rt: Runtime, web: WebServer, minutes: float, rate: float) -> int:
    from ivr.service import ServiceThread, interrupts_ignored
    from lab.sandbox import Sandbox, cmd_down
    from lab.sipp import SeatPool

    stop = threading.Event()
    rng = random.Random()
    callers: list[threading.Thread] = []
    settings = asterisk_settings(rt.config)
    sandbox = Sandbox()
    service = seats = None
    try:
        print(provision_sandbox(rt, sandbox).summary(), flush=True)
        service = ServiceThread(build_service(rt, sync_seconds=1.0))
        service.start()
        seats = SeatPool(settings, ring_ms=1500)
        seats.start()
        web.start()
        print(f"board: {web.url}/board — {ensure_demo_user(rt)}", flush=True)
        threading.Thread(target=_breaks, args=(rt, rng, stop), daemon=True).start()
        deadline = time.monotonic() + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(rng.expovariate(rate / 60))
            callers = [t for t in callers if t.is_alive()]
            if len(callers) >= MAX_CALLERS:
                continue
            number = f"13{rng.randrange(10**9):09d}"
            t = threading.Thread(target=_caller, args=(number, rng), daemon=True)
            t.start()
            callers.append(t)
    except KeyboardInterrupt:
        pass
    finally:
        with interrupts_ignored():
            stop.set()
            print("stopping the demo ...", flush=True)
            if seats is not None:
                seats.stop()
            if service is not None:
                service.stop()
            cmd_down()  # Asterisk hangs up the calls in progress: their callers end
            deadline = time.monotonic() + 10
            for t in callers:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
    return 0
