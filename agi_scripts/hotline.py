#!/usr/bin/env python3
"""Process-per-call AGI entry point: `AGI(/path/to/agi_scripts/hotline.py[,CONFIG_DIR])`.

Thin and lazy: nothing heavy is imported before Asterisk has connected.
"""

import sys


def main() -> int:
    from ivr.adapters.asterisk.agi_script import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
