"""`hotline check-config` and `hotline simulate`: the configuration, no telephony."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timedelta

from cli.common import AddCommand, config, instant, phone_number


def cmd_check_config(args: argparse.Namespace) -> int:
    from ivr.domain.shifts import staffing_gaps

    cfg = config(args)
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
    sv = cfg.survey
    if sv.enabled:
        off = f"; off for {', '.join(sorted(sv.off_branches))}" if sv.off_branches else ""
        not_resolved = f", not resolved {sv.not_resolved_key}" if sv.not_resolved_key else ""
        print(f"  survey: scores {sv.low}-{sv.high}{not_resolved}{off}")
    else:
        print("  survey: off")
    now = datetime.now(cfg.site.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = now - timedelta(days=now.weekday())
    gaps = staffing_gaps(r, cfg.staffing, monday, 24 * 7)
    if gaps:
        print(
            f"  warning: staffing below the minimum in {len(gaps)} half-hour(s) this week, "
            f"first {gaps[0].at:%a %H:%M} ({gaps[0].staffed} of {gaps[0].required})"
        )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from ivr.adapters.clock import ENV_NOW
    from ivr.app.simulate import simulate

    cfg = config(args)
    at = args.at
    if at is None and os.environ.get(ENV_NOW):
        at = instant(os.environ[ENV_NOW])
    if at is None:
        at = datetime.now(cfg.site.tz)
    if at.tzinfo is None:
        at = at.replace(tzinfo=cfg.site.tz)
    caller = phone_number(args.caller, "--caller", cfg.site.region) if args.caller else ""
    result = simulate(
        cfg.menu,
        cfg.roster,
        cfg.policy,
        cfg.site.default_language,
        at,
        caller,
        args.keys,
        args.previous_agent,
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        route = result["route"]
        print(f"{route['kind']} {route['target']}")
        for line in result["trace"]:
            print(f"  {line}")
    return 0


def register(add: AddCommand) -> None:
    add("check-config", cmd_check_config, "validate the configuration and print a summary")
    p = add("simulate", cmd_simulate, "walk the IVR with scripted keys and print the route")
    p.add_argument("--at", type=instant, help="ISO 8601 instant (default: $HOTLINE_NOW or now)")
    p.add_argument(
        "--caller", default="",
        help="the calling number, E.164 or national in site.region (default: none shown)",
    )  # fmt: skip
    p.add_argument("--keys", default="", help="keys pressed; T = timeout")
    p.add_argument("--previous-agent", help="pretend this agent took the caller's last call")
    p.add_argument("--json", action="store_true")
