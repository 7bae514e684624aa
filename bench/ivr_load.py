#!/usr/bin/env python3
"""IVR load benchmark; same as `hotline bench ivr`. Usage: bench/ivr_load.py RATE SECONDS"""

import json
import sys

from ivr.bench_ivr import run_ivr_bench

if __name__ == "__main__":
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 200
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    print(json.dumps(run_ivr_bench(rate, seconds), indent=2))
