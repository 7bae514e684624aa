"""A FastAGI server in a process of its own, under a given open-file limit.

For tests/unit/test_fastagi_abuse.py: the real FastAgiServer with the real
route table (Handlers over the shipped config, a call log in memory), on an
ephemeral port. It sets its soft RLIMIT_NOFILE first, prints the port on
stdout, logs to stderr at INFO, and stops cleanly when stdin closes.

    python tests/fastagi_child.py --nofile 1024 --env-timeout 2
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.adapters.asterisk.fastagi import FastAgiServer
from ivr.adapters.asterisk.fastagi_limits import FastAgiLimits
from ivr.adapters.asterisk.handlers import Handlers
from ivr.app.ivr_session import IvrDeps
from ivr.app.ports import NoHistory, StaticPresence
from ivr.config import load_config
from ivr.domain.calllog import CallEvent

CONFIG = Path(__file__).resolve().parents[1] / "config"
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # open hours


class DiscardCallLog:
    def record(self, event: CallEvent) -> None:
        return None


async def serve(limits: FastAgiLimits) -> None:
    cfg = load_config(CONFIG, env={})
    deps = IvrDeps(
        menu=cfg.menu,
        roster=cfg.roster,
        policy=cfg.policy,
        default_language=cfg.site.default_language,
        log=DiscardCallLog(),
        history=NoHistory(),
        presence=StaticPresence(),
        clock=lambda: MONDAY_10,
    )
    server = FastAgiServer(Handlers(deps).routes(), "127.0.0.1", 0, limits=limits)
    await server.start()
    print(server.port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    await server.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nofile", type=int, default=1024)
    p.add_argument("--env-timeout", type=float, default=5.0)
    p.add_argument("--max-dialogs", type=int, default=FastAgiLimits().max_dialogs)
    p.add_argument("--fd-reserve", type=int, default=FastAgiLimits().fd_reserve)
    args = p.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    limits = FastAgiLimits(
        max_dialogs=args.max_dialogs,
        env_timeout_seconds=args.env_timeout,
        fd_reserve=args.fd_reserve,
    )
    asyncio.run(serve(limits))


if __name__ == "__main__":
    main()
