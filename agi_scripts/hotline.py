#!/usr/bin/env python3
"""Process-per-call AGI entry point: `AGI(/path/to/agi_scripts/hotline.py[,CONFIG_DIR])`.

Thin and lazy: nothing heavy is imported before Asterisk has connected.
"""

import sys


def open_runtime(config_dir):  # type: ignore[no-untyped-def]
    """The composition root's runtime, imported once Asterisk has connected."""
    from ivr.bootstrap import build_runtime

    return build_runtime(config_dir, migrate_db=False)


def main() -> int:
    from ivr.adapters.asterisk.agi_script import main as run

    return run(sys.argv[1:], open_runtime)


if __name__ == "__main__":
    sys.exit(main())
