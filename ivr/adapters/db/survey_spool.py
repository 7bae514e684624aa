"""Never lose a survey either: the call log's disk spool in front of the surveys table.

A database outage (server down, SQLite locked past its busy timeout, tables missing
during a deploy) appends the call's `SurveyResult` to its own JSON-lines spool
(``surveys.jsonl`` beside the call log's, flushed and fsync'ed, 0600, flock-shared by
every process) and the caller hears the survey end as usual; the next survey written,
or the service's periodic replay, puts the spooled rows in first. A row the database
refuses for good goes to ``surveys.jsonl.rejected``. Replays are harmless: the table
keeps one row per call (``ON CONFLICT DO NOTHING``).

What a spooled survey does not do: the "not resolved" key's hook (reopen or escalate
the call's case) runs at the survey's end only, so while the database is down it is
logged and not retried; the row keeps `not_resolved` for the reports and the board.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Final, cast, get_type_hints

from ivr.adapters.db.spool import (
    TRANSIENT_ERRORS,
    SpoolFormatError,
    SpoolingCallLog,
    decode_value,
    encode_value,
)
from ivr.adapters.db.survey import SqlSurveys
from ivr.domain.survey import SurveyResult

_HINTS: Final = get_type_hints(SurveyResult)


def encode_survey(result: SurveyResult) -> str:
    """One JSON line for `result` (instants ISO 8601 with their offset)."""
    data = {f.name: encode_value(getattr(result, f.name)) for f in fields(result)}
    return json.dumps({"type": "SurveyResult", "survey": data})


def decode_survey(line: str) -> SurveyResult:
    """The survey encoded in `line`; SpoolFormatError if it is none."""
    try:
        obj = json.loads(line)
        if obj["type"] != "SurveyResult":
            raise ValueError(obj["type"])
        data = obj["survey"]
        kwargs = {
            f.name: decode_value(_HINTS[f.name], data[f.name])
            for f in fields(SurveyResult)
            if f.name in data
        }
        return SurveyResult(**kwargs)
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise SpoolFormatError(
            f"spool line of {len(line)} characters is not a survey ({type(err).__name__})"
        ) from err


class _Rows:
    """The surveys table as a spool target (one transaction per row: idempotent)."""

    def __init__(self, inner: SqlSurveys) -> None:
        self.inner = inner

    def record(self, event: Any) -> object:
        return self.inner.record(cast(SurveyResult, event))

    def record_many(self, events: Sequence[Any]) -> object:
        for e in events:
            self.inner.record(cast(SurveyResult, e))
        return None


class SpoolingSurveys:
    """The `SurveyStore` port: the surveys table, or the spool while it is unavailable."""

    def __init__(self, inner: SqlSurveys, spool_path: Path, *, retry_interval: float = 1.0) -> None:
        self._inner = inner
        self.spool = SpoolingCallLog(
            _Rows(inner),
            spool_path,
            retry_interval=retry_interval,
            encode=encode_survey,
            decode=decode_survey,
            what="surveys",
        )

    def record(self, result: SurveyResult) -> bool:
        """Store the call's survey: False when the call already had one (read from the
        database); True when stored, or spooled for later (the database is down)."""
        spool = cast(Any, self.spool)
        if self.spool.pending():
            spool.record_many((result,))  # replays what waits first, keeps the order
            return True
        try:
            return self._inner.record(result)
        except TRANSIENT_ERRORS as err:
            self.spool.note_failure(err)
            spool.spool((result,))
            return True

    def replay(self) -> int:
        """Put spooled surveys into the database; how many were applied."""
        return self.spool.replay()
