"""The `hotline` command: one parser, one small function per subcommand.

Exit codes: 0 done, 1 not found / failed, 2 bad input or configuration
(named), 3 refused by a rule, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from cli import (
    backup_cmds,
    bench_cmds,
    callback_cmds,
    case_cmds,
    config_cmds,
    service_cmds,
    visitor_cmds,
    web_cmds,
)
from cli.common import Command, Parser, clip, common_options, nonempty

GROUPS = (
    config_cmds,
    service_cmds,
    web_cmds,
    callback_cmds,
    case_cmds,
    visitor_cmds,
    backup_cmds,
    bench_cmds,
)


def hotline_version() -> str:
    try:
        return version("hotline")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hotline", description=__doc__, parents=[common_options(True)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"hotline {hotline_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = common_options(False)

    def add(name: str, func: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[shared])
        p.add_argument(
            "--config", type=nonempty,
            help="config directory (default: $HOTLINE_CONFIG or ./config)",
        )  # fmt: skip
        p.set_defaults(func=func)
        return p

    for group in GROUPS:
        group.register(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ivr.adapters.asterisk.errors import AsteriskError
    from ivr.adapters.log import configure_logging
    from ivr.config import ConfigError
    from ivr.domain.text import squeezed

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a bad argument (argparse said which)
        return e.code if isinstance(e.code, int) else 2
    configure_logging(verbose=args.verbose, json_lines=args.log_format == "json")
    try:
        return int(args.func(args))
    except ConfigError as e:
        print(f"config error: {clip(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`hotline calls | head`): stop quietly, as Unix tools do,
        # and keep Python from failing again while flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (ValueError, argparse.ArgumentTypeError) as e:
        print(f"error: {clip(str(e))}", file=sys.stderr)
        return 2
    except (AsteriskError, OSError) as e:
        # what the machine refused (a port in use, the sandbox held, SIPp not starting):
        # said in one line, the traceback only with -v
        logging.getLogger("hotline").debug("failed", exc_info=True)
        print(f"error: {clip(squeezed(str(e)))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
