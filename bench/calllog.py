"""Benchmark of the call-log page query and the board's statistics on a million calls.

    python bench/calllog.py --calls 1000000 --json     (same as `hotline bench calllog`)

The logic lives in web/bench_calllog.py.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from web.bench_calllog import run

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--config", default=None)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    result = run(a.calls, a.config, pg_url=a.pg_url, queries=a.queries, keep=a.keep)
    print(json.dumps(result) if a.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
