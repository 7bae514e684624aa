"""Dialer benchmark: `python bench/dialer.py --pending 100000 --json` (same as
`hotline bench dialer`). Runs the sandbox part too unless --no-sandbox; only
one sandbox may run on a machine, so wrap it in `flock /tmp/hotline-e2e.lock`.

Prints {"pending", "due_query_p95_ms", "configured_rate", "achieved_rate",
"duplicates", ...}; exits 1 when a duplicate dial was seen.
"""

from __future__ import annotations

import argparse
import json
import sys

from ivr.dialer.bench import run_bench


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/dialer.py", description=__doc__)
    p.add_argument("--pending", type=int, default=100_000)
    p.add_argument("--dials", type=int, default=60)
    p.add_argument("--rate", type=float, default=None)
    p.add_argument("--database-url", default=None)
    p.add_argument("--config", default=None)
    p.add_argument("--no-sandbox", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run_bench(
        args.pending, args.dials, not args.no_sandbox, args.database_url, args.rate, args.config
    )
    print(json.dumps(result, indent=2 if args.json else None))
    return 0 if result["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
