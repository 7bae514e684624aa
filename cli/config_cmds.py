"""`hotline check-config`, `hotline simulate` and `hotline config schema|explain`:
the configuration, no telephony."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime, timedelta
from typing import Any

from cli.common import (
    AddCommand,
    Command,
    agent_id,
    config,
    dtmf_keys,
    instant,
    int_range,
    known_agent,
    nonempty,
    phone_number,
    pinned_now,
)


def cmd_check_config(args: argparse.Namespace) -> int:
    from ivr.domain.lookahead import coverage_gaps
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
        f"on-call shifts: {len(r.oncall)} in rota(s) {', '.join(r.rotas) or 'none'}"
    )
    print(
        f"  branches: {', '.join(f'{b.name}(p{b.priority})' for b in p.branches.values())}; "
        f"VIP numbers: {len(p.vip_numbers)}"
    )
    rules = sum(len(b.rules) for b in p.branches.values()) + len(p.operator_rules)
    if rules or cfg.trunks:
        trunks = ", ".join(f"{n}@{t.host}:{t.port}" for n, t in cfg.trunks.items()) or "none"
        print(f"  routing rules: {rules}; trunks: {trunks}")
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
    _speech_summary(cfg)
    if cfg.twilio is not None:
        from ivr.config import auth_token

        t = cfg.twilio
        token = auth_token(os.environ, cfg.data_dir)  # a token file not 0600 is refused
        print(
            f"  twilio: {t.base_url}/twilio/voice, numbers {', '.join(t.numbers)}, "
            f"SIP {t.sip_domain}, dialer {'on' if t.dialer else 'off'}, "
            f"auth token {'set' if token else 'MISSING (webhooks answer 503)'}"
        )
    # Look ahead: this week's Monday and the weeks after it (holidays and make-up
    # days as the calendar has them).
    pinned = pinned_now()  # as `simulate`: a pinned instant for tests and drills
    today = pinned.astimezone(cfg.site.tz) if pinned else datetime.now(cfg.site.tz)
    now = today.replace(hour=0, minute=0, second=0, microsecond=0)
    monday = now - timedelta(days=now.weekday())
    hours = 24 * 7 * args.weeks
    span = f"{monday:%Y-%m-%d} + {args.weeks} week(s)"
    gaps = staffing_gaps(r, cfg.staffing, monday, hours)
    if gaps:
        first = gaps[0].at.astimezone(cfg.site.tz)
        print(
            f"  warning: staffing below the minimum in {len(gaps)} half-hour(s) of {span}, "
            f"first {first:%a %Y-%m-%d %H:%M} ({gaps[0].staffed} of {gaps[0].required})"
        )
    uncovered = coverage_gaps(r, p, monday, hours)
    for branch in dict.fromkeys(g.branch for g in uncovered):
        runs = [g for g in uncovered if g.branch == branch]
        if runs:
            g = runs[0]
            start, end = g.start.astimezone(cfg.site.tz), g.end.astimezone(cfg.site.tz)
            print(
                f"  warning: branch {branch}: no person in {len(runs)} span(s) of {span} "
                f"({g.reason}), first {start:%a %Y-%m-%d %H:%M} to {end:%a %H:%M}"
            )
    if not gaps and not uncovered:
        print(f"  look-ahead {span}: staffing and every branch's route covered")
    return 0


def _speech_summary(cfg: Any) -> None:
    """Speech input: on for the languages with a model; one warning per language
    with phrases and no model (speech off there, never an error at call time)."""
    from ivr.config.speech import warnings

    sp = cfg.speech
    if not sp.enabled:
        print("  speech: off")
        return
    on = sp.languages(cfg.directory)
    print(
        f"  speech: {', '.join(on) if on else 'no language with a model'}; "
        f"recogniser {sp.host}:{sp.control_port} (audio {sp.audio_port}), "
        f"min confidence {sp.min_confidence:g}"
    )
    for line in warnings(sp, cfg.menu, cfg.directory):
        print(f"  warning: {line}")


def cmd_simulate(args: argparse.Namespace) -> int:
    from ivr.app.simulate import simulate

    cfg = config(args)
    if not known_agent(cfg, args.previous_agent, "--previous-agent"):
        return 2  # a typo would simulate a caller whose agent is never on duty
    at = _instant_at(args, cfg.site.tz)
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


def _instant_at(args: argparse.Namespace, tz: Any) -> datetime:
    """--at, else $HOTLINE_NOW, else now; a naive instant is in the site's zone."""
    at: datetime | None = args.at if args.at is not None else pinned_now()
    if at is None:
        at = datetime.now(tz)
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


def cmd_config_schema(args: argparse.Namespace) -> int:
    from ivr.config.schema import json_schema

    print(json.dumps(json_schema(args.file), ensure_ascii=False, indent=2))
    return 0


def cmd_config_explain(args: argparse.Namespace) -> int:
    from ivr.app.explain import explain

    cfg = config(args)
    at = _instant_at(args, cfg.site.tz)
    caller = phone_number(args.caller, "--caller", cfg.site.region) if args.caller else None
    extra = {"caller": caller} if caller else {}
    result = explain(cfg.menu, cfg.roster, cfg.policy, cfg.site.languages, at, **extra)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    for line in explain_lines(result):
        print(line)
    return 0


def explain_lines(r: dict[str, Any]) -> list[str]:
    """`hotline config explain` as text: hours, people, branches, then every key."""

    def people(rows: list[dict[str, Any]]) -> str:
        return ", ".join(
            f"{p['agent']}@{p['seat']} [{', '.join(p['skills'])}]"
            + (f" on rota {p['rota']}" if "rota" in p else "")
            for p in rows
        )

    out = [f"{r['local']}: {r['hours']}"]
    out.append(f"on duty: {people(r['on_duty']) or 'nobody'}")
    out.append(f"on call: {people(r['on_call']) or 'nobody'}")
    for b in r["branches"]:
        reach = {
            "person": "reaches a person",
            "none": f"NO PERSON: {b['why']}",
            "external": "an outside number",
        }.get(b["reach"], f"closed: {b['reach']}")
        rota = ", on-call rota" if b["oncall"] else ""
        what = f"skill {b['skill']}, priority {b['priority']}{rota}"
        out.append(f"branch {b['branch']} ({what}): {reach}")
    for lang, rows in r["menu"].items():
        out.append(f"menu in {lang}:")
        for row in rows:
            key = "no key" if row["key"] == "none" else f"key {row['key']}"
            out.append(f"  {row['node']} {key} -> {row['target']}: {row['goes']}")
            if row.get("why"):
                out.append(f"      why: {'; '.join(row['why'])}")
    return out


def register(add: AddCommand) -> None:
    p = add("check-config", cmd_check_config, "validate the configuration and print a summary")
    p.add_argument(
        "--weeks",
        type=int_range(1, 104),
        default=8,
        help="look ahead this many weeks from this Monday for staffing and coverage (default 8)",
    )
    p = add("simulate", cmd_simulate, "walk the IVR with scripted keys and print the route")
    p.add_argument("--at", type=instant, help="ISO 8601 instant (default: $HOTLINE_NOW or now)")
    p.add_argument(
        "--caller", default="",
        help="the calling number, E.164 or national in site.region (default: none shown)",
    )  # fmt: skip
    p.add_argument(
        "--keys", default="", type=dtmf_keys(64, also="T"), help="keys pressed; T = timeout"
    )
    p.add_argument(
        "--previous-agent", type=agent_id, help="pretend this agent took the caller's last call"
    )
    p.add_argument("--json", action="store_true")
    _register_config(add)


def _register_config(add: AddCommand) -> None:
    """`hotline config schema|explain` (`--config` after either, as everywhere)."""
    from ivr.config.schema import FILES

    group = add(
        "config", _no_subcommand, "the configuration's JSON Schema, or an instant explained"
    )
    sub = group.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")

    def nested(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--config", type=nonempty, default=argparse.SUPPRESS,
            help="config directory (default: $HOTLINE_CONFIG or ./config)",
        )  # fmt: skip
        p.set_defaults(func=func)
        return p

    p = nested("schema", cmd_config_schema, "print the JSON Schema of the config files")
    p.add_argument(
        "--file", choices=tuple(FILES),
        help="one file's schema (default: the directory's, a property per file)",
    )  # fmt: skip
    p = nested("explain", cmd_config_explain, "who is on duty and where every menu key goes")
    p.add_argument("--at", type=instant, help="ISO 8601 instant (default: $HOTLINE_NOW or now)")
    p.add_argument(
        "--caller", default="",
        help="the calling number (default: a number shown, on no VIP list)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true")


def _no_subcommand(args: argparse.Namespace) -> int:  # argparse requires one first
    return 2
