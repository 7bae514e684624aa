"""Log lines that carry the call they belong to.

Whatever code runs on behalf of a call (a FastAGI dialog, an AGI script) sets
`CALL_ID` for its context; every record then has a `call_id` field (``-`` when
there is none), in the text format as ``[call=...]`` and in the JSON format as
a key. The JSON format writes one object per line for a log collector.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

CALL_ID: ContextVar[str] = ContextVar("hotline_call_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [call=%(call_id)s]: %(message)s"


class CallIdFilter(logging.Filter):
    """Adds `record.call_id` from the current context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_id"):
            record.call_id = CALL_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, call_id, message."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "call_id": getattr(record, "call_id", CALL_ID.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(*, verbose: bool = False, json_lines: bool = False) -> None:
    """The process's one log handler, on stderr: WARNING, or INFO when verbose."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CallIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
