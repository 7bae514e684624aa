"""The `hotline` command: one entry point, one small function per subcommand."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ivr.config import ConfigError, HotlineConfig, load_config

Command = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> HotlineConfig:
    from ivr.bootstrap import config_dir

    return load_config(config_dir(args.config, os.environ), os.environ)


# --- check-config ---------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from ivr.domain.shifts import staffing_gaps

    cfg = _config(args)
    r, p = cfg.roster, cfg.policy
    print(f"config {cfg.directory}: OK")
    print(
        f"  site: {cfg.site.name}, time zone {cfg.site.tz.key}, "
        f"languages {', '.join(cfg.site.languages)}, hotline {cfg.site.hotline_extension}"
    )
    print(
        f"  calendar: {len(cfg.calendar.holidays)} holiday days, "
        f"{len(cfg.calendar.makeup_days)} make-up day(s)"
    )
    print(
        f"  agents: {len(r.agents)} ({', '.join(f'{a.id}@{a.seat}' for a in r.agents)}); "
        f"on-call shifts: {len(r.oncall)}"
    )
    print(
        f"  branches: {', '.join(f'{b.name}(p{b.priority})' for b in p.branches.values())}; "
        f"VIP numbers: {len(p.vip_numbers)}"
    )
    print(
        f"  menu: {len(cfg.menu.nodes)} node(s) from {cfg.menu.start!r}; "
        f"prompts: {len(cfg.prompts)}"
    )
    now = datetime.now(cfg.site.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = now - timedelta(days=now.weekday())
    gaps = staffing_gaps(r, cfg.staffing, monday, 24 * 7)
    if gaps:
        print(
            f"  warning: staffing below the minimum in {len(gaps)} half-hour(s) this week, "
            f"first {gaps[0].at:%a %H:%M} ({gaps[0].staffed} of {gaps[0].required})"
        )
    return 0


# --- simulate -------------------------------------------------------------------


def simulate(
    cfg: HotlineConfig, at: datetime, caller: str, keys: str, previous_agent: str | None = None
) -> dict[str, Any]:
    """Run the IVR session the FastAGI server runs, with scripted keys.

    Each character of `keys` answers one prompt; `T` is an explicit timeout;
    when the keys run out every further prompt times out.
    """
    from ivr.app.ivr_session import CallerInfo, IvrDeps, IvrSession
    from ivr.app.ports import NullCallLog, StaticPresence
    from ivr.domain.menu import Ask

    class History:
        def previous_agent(self, caller: str, since: datetime) -> str | None:
            return previous_agent

    deps = IvrDeps(
        cfg.menu,
        cfg.roster,
        cfg.policy,
        cfg.site.default_language,
        NullCallLog(),
        History(),
        StaticPresence(),
        lambda: at,
    )
    session = IvrSession(deps, CallerInfo("simulated", caller, source="simulate"))
    pending = list(keys)
    prompts: list[list[str]] = []
    action = session.begin()
    while isinstance(action, Ask):
        prompts.append(list(action.prompts))
        key = pending.pop(0) if pending else "T"
        action = session.on_input(None if key.upper() == "T" else key)
    d = session.decide()
    return {
        "at": at.isoformat(),
        "caller": caller,
        "keys": keys,
        "route": {"kind": d.route.kind.value, "target": d.route.target},
        "branch": d.branch,
        "priority": d.priority,
        "vip": d.vip,
        "language": session.language,
        "queue": d.queue,
        "overflow": d.overflow.value,
        "prompts": prompts,
        "trace": session.trace + list(d.trace),
    }


def cmd_simulate(args: argparse.Namespace) -> int:
    from ivr.adapters.clock import ENV_NOW

    cfg = _config(args)
    when = args.at or os.environ.get(ENV_NOW)
    at = datetime.fromisoformat(when) if when else datetime.now(cfg.site.tz)
    if at.tzinfo is None:
        at = at.replace(tzinfo=cfg.site.tz)
    result = simulate(cfg, at, args.caller, args.keys, args.previous_agent)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        route = result["route"]
        print(f"{route['kind']} {route['target']}")
        for line in result["trace"]:
            print(f"  {line}")
    return 0


# --- parser ---------------------------------------------------------------------


def build_parser(extra: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--config", help="config directory (default: $HOTLINE_CONFIG or ./config)")
        p.set_defaults(func=func)
        return p

    add("check-config", cmd_check_config, "validate the configuration and print a summary")
    sim = add("simulate", cmd_simulate, "walk the IVR with scripted keys and print the route")
    sim.add_argument("--at", help="ISO 8601 instant (default: $HOTLINE_NOW or now)")
    sim.add_argument("--caller", default="10000")
    sim.add_argument("--keys", default="", help="keys pressed; T = timeout")
    sim.add_argument("--previous-agent", help="pretend this agent took the caller's last call")
    sim.add_argument("--json", action="store_true")
    from ivr import cli_runtime

    cli_runtime.register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
