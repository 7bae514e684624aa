"""`hotline bench ivr | media | calllog | writer | fastagi | dialer | cases | speech`: JSON figures.

One option set for all three; each option says which benchmark reads it.
"""

from __future__ import annotations

import argparse
import json

from cli.common import (
    AddCommand,
    config,
    database_url,
    driver_reason,
    float_range,
    int_range,
)
from lab.bench import FIND_MAX_TRIES, MAX_KEY_MS, MIN_KEY_MS

# The benches that read the configuration (--config): it is checked before anything
# starts, so a missing or broken one exits 2 naming it, not a run with "errors".
READS_CONFIG = frozenset({"ivr", "media", "calllog", "fastagi", "dialer", "cases"})
USES_POSTGRESQL = frozenset({"calllog", "writer", "cases"})  # --pg-url ('' skips it)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.target == "ivr" and args.find_max and args.top < args.start:
        raise argparse.ArgumentTypeError(
            f"argument --top: {args.top:g} is below --start {args.start:g}: no rate to run"
        )
    if args.target in READS_CONFIG:
        config(args)
    if args.target in USES_POSTGRESQL and args.pg_url:
        _answers(args.pg_url, "--pg-url")
    if args.target == "dialer" and args.database_url:
        _answers(args.database_url, "--database-url")
    if args.target == "speech":
        from lab.bench.speech import run_speech_bench

        result = run_speech_bench(args.streams, args.rounds)
        ok = True
    elif args.target == "cases":
        from lab.bench.cases import run as run_cases

        result = run_cases(
            args.cases, args.config, pg_url=args.pg_url, queries=args.queries, keep=args.keep
        )
        ok = bool(result["met"])
    elif args.target == "media":
        from lab.bench.media import MAX_CALLS, run_media_bench

        calls = 100 if args.calls is None else args.calls
        if calls > MAX_CALLS:
            raise ValueError(f"--calls: {calls} is over the media bench's limit {MAX_CALLS}")
        result = run_media_bench(
            calls, args.config, talk_s=args.talk_seconds, key_ms=round(args.menu_seconds * 1000)
        )
        ok = "errors" not in result
    elif args.target == "calllog":
        from lab.bench.calllog import run

        result = run(
            1_000_000 if args.calls is None else args.calls,
            args.config,
            pg_url=args.pg_url,
            queries=args.queries,
            keep=args.keep,
            reports=args.reports,
        )
        ok = True
    elif args.target == "writer":
        from lab.bench.writer import run as run_writer

        result = run_writer(3000 if args.calls is None else args.calls, pg_url=args.pg_url)
        ok = all(
            result[store]["sampled_calls_whole"][0] == result[store]["sampled_calls_whole"][1]
            for store in ("sqlite", "postgresql")
            if store in result
        )
    elif args.target == "fastagi":
        from lab.bench.fastagi import run as run_fastagi

        result = run_fastagi(
            3000 if args.calls is None else args.calls, args.concurrency, args.config
        )
        ok = result["service"]["records"] == result["calls"]
    elif args.target == "dialer":
        from lab.bench.dialer import run_bench

        result = run_bench(
            pending=args.pending,
            dials=args.dials,
            sandbox=not args.no_sandbox,
            database_url=args.database_url,
            rate=args.originate_rate,
            config=args.config,
        )
        ok = result.get("duplicates", 0) == 0
    elif args.find_max:
        from lab.bench.ivr_load import find_max

        result = find_max(
            args.config,
            start=args.start,
            step=args.step,
            top=args.top,
            seconds=args.seconds,
            tries=args.tries,
        )
        ok = "errors" not in result
    else:
        from lab.bench.ivr_load import run_ivr_bench

        result = run_ivr_bench(args.rate, args.seconds, args.config, max_in_ivr=args.max_in_ivr)
        ok = "errors" not in result
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if ok else 1


def _answers(url: str, option: str) -> None:
    """The database at `url` can be opened, before a run of minutes meets it: else
    exit 2 naming the option (the reason, as the driver words it, never the URL)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ivr.adapters.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as e:
        raise argparse.ArgumentTypeError(
            f"argument {option}: cannot open the database: {driver_reason(e)}"
        ) from None
    finally:
        engine.dispose()


def register(add: AddCommand) -> None:
    p = add(
        "bench",
        cmd_bench,
        "run a benchmark: ivr, media, calllog, writer, fastagi, dialer, cases or speech",
    )
    p.add_argument(
        "target",
        choices=("ivr", "media", "calllog", "writer", "fastagi", "dialer", "cases", "speech"),
    )
    p.add_argument("--json", action="store_true", help="one line of JSON")
    ivr = p.add_argument_group("ivr")
    ivr.add_argument("--rate", type=float_range(0.1, 2000), default=200, help="SIPp calls/s")
    ivr.add_argument("--seconds", type=float_range(1, 3600), default=30, help="each run's length")
    ivr.add_argument(
        "--find-max",
        action="store_true",
        help="step the rate (--start, --step, --top) for the bare, dialplan-menu and IVR paths",
    )
    ivr.add_argument("--start", type=float_range(1, 2000), default=50, help="find-max: first rate")
    ivr.add_argument("--step", type=float_range(1, 1000), default=25, help="find-max: rate step")
    ivr.add_argument("--top", type=float_range(1, 2000), default=600, help="find-max: last rate")
    ivr.add_argument(
        "--tries",
        type=int_range(1, 5),
        default=FIND_MAX_TRIES,
        help=f"find-max: runs a path gets at a rate before it fails it (default {FIND_MAX_TRIES})",
    )
    ivr.add_argument(
        "--max-in-ivr",
        type=int_range(1, 100_000),
        default=None,
        help="admission limit for the run (default: admission.max_in_ivr)",
    )
    cases = p.add_argument_group("cases (also --queries, --pg-url, --keep)")
    cases.add_argument("--cases", type=int_range(1, 100_000_000), default=1_000_000)
    speech = p.add_argument_group("speech")
    speech.add_argument(
        "--streams", type=int_range(1, 200), default=10, help="speech: utterances at once"
    )
    speech.add_argument(
        "--rounds", type=int_range(1, 100), default=2, help="speech: batches of --streams"
    )
    media = p.add_argument_group("media")
    media.add_argument(
        "--talk-seconds",
        type=float_range(1, 600),
        default=8.0,
        help="media: how long each seat talks (RTP) once it answers",
    )
    media.add_argument(
        "--menu-seconds",
        type=float_range(MIN_KEY_MS / 1000, MAX_KEY_MS / 1000),
        default=3.0,
        help="media: how long each caller hears the welcome prompt before its key"
        " (long: every caller in the IVR at once, as admission.max_in_ivr counts them)",
    )
    calllog = p.add_argument_group("calllog")
    calllog.add_argument(
        "--calls",
        type=int_range(1, 100_000_000),
        default=None,
        help="calllog: generated calls (default 1000000); media: concurrent calls"
        " (default 100, at most 1000); writer: calls written per round, fastagi: dialogs"
        " (default 3000 each)",
    )
    calllog.add_argument(
        "--queries", type=int_range(1, 100_000), default=200, help="timed runs of each query"
    )
    calllog.add_argument(
        "--reports", type=int_range(2, 10_000), default=20, help="timed 400-day reports"
    )
    calllog.add_argument(
        "--pg-url",
        type=database_url("postgresql", skip=True),
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="calllog, writer: admin URL of the PostgreSQL server ('' to skip PostgreSQL)",
    )
    calllog.add_argument("--keep", action="store_true", help="keep the generated databases")
    fastagi = p.add_argument_group("fastagi (also --calls)")
    fastagi.add_argument(
        "--concurrency", type=int_range(1, 1000), default=200, help="fastagi: dialogs at once"
    )
    dialer = p.add_argument_group("dialer")
    dialer.add_argument(
        "--pending", type=int_range(1, 10_000_000), default=100_000, help="pending requests"
    )
    dialer.add_argument(
        "--dials", type=int_range(1, 100_000), default=60, help="calls placed in the sandbox"
    )
    dialer.add_argument(
        "--originate-rate", type=float_range(0.1, 1000), default=None, help="override the rate"
    )
    dialer.add_argument(
        "--database-url",
        type=database_url("sqlite", "postgresql"),
        default=None,
        help="default: a temporary SQLite",
    )
    dialer.add_argument("--no-sandbox", action="store_true", help="query benchmark only")
