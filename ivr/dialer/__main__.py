"""`python -m ivr.dialer [--config DIR]`: the dialer process, same as `hotline dialer`."""

from __future__ import annotations

import argparse
import logging
import sys

from ivr.dialer_cli import cmd_dialer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.dialer", description=__doc__)
    parser.add_argument("--config", default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return cmd_dialer(args)


if __name__ == "__main__":
    sys.exit(main())
