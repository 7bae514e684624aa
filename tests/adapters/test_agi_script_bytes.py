"""The process-per-call AGI script logs a call whose caller name is not UTF-8.

Asterisk passes the SIP From display name to the script as it came, bytes and
all. The script runs as Asterisk would run it (agi_scripts/hotline.py, the
environment block on stdin, Asterisk's replies after it) against a migrated
database on SQLite and PostgreSQL, under a strict UTF-8 locale and under the C
locale (where Python reads stdin with surrogateescape).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ivr.adapters.asterisk.agi_script import PystChannel, utf8_lines
from ivr.adapters.db.calllog import SqlCallLog
from ivr.domain.calllog import Outcome

REPO = Path(__file__).resolve().parents[2]
UID = "1795312800.17"


def env_block(name: bytes, uid: bytes = UID.encode()) -> bytes:
    lines = [
        b"agi_request: " + str(REPO / "agi_scripts" / "hotline.py").encode(),
        b"agi_channel: PJSIP/anonymous-00000011",
        b"agi_language: en",
        b"agi_type: PJSIP",
        b"agi_uniqueid: " + uid,
        b"agi_callerid: 13800000042",
        b"agi_calleridname: " + name,
        b"agi_context: hotline-inbound",
        b"agi_extension: 4001",
        b"agi_priority: 6",
        b"agi_accountcode: hotline-in",
    ]
    return b"\n".join(lines) + b"\n\n"


NAME = b"\xff\xfeWang \xe9 Wu"  # not UTF-8 (Latin-1 and stray bytes)


def test_the_env_reader_turns_bytes_that_are_not_utf8_into_replacement_characters() -> None:
    from asterisk.agi import AGI

    stdin = io.TextIOWrapper(io.BytesIO(env_block(NAME)), encoding="ascii", errors="strict")
    agi = AGI(stdin=utf8_lines(stdin), stdout=io.StringIO(), stderr=io.StringIO())
    channel = PystChannel(agi)
    assert channel.env["agi_calleridname"] == "\ufffd\ufffdWang \ufffd Wu"
    assert channel.env["agi_callerid"] == "13800000042"


def run_script(
    block: bytes, replies: bytes, db_url: str, data_dir: Path, locale: str = "C.UTF-8"
) -> subprocess.CompletedProcess[bytes]:
    """agi_scripts/hotline.py as Asterisk runs it: the block and the replies on stdin."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": locale,
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_DATA_DIR": str(data_dir),
        "HOTLINE_NOW": "2026-11-23T10:00:00+08:00",
    }
    return subprocess.run(
        [sys.executable, str(REPO / "agi_scripts" / "hotline.py"), str(REPO / "config")],
        input=block + replies,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "uid",
    [b"", b" ", b"\x00", b"\xe2\x80\x8b", None],
    ids=["empty", "blank", "nul", "zwsp", "absent"],
)
def test_a_call_without_a_uniqueid_goes_to_the_fallback_unlogged(
    engine: Engine, call_log: SqlCallLog, db_url: str, tmp_path: Path, uid: bytes | None
) -> None:
    """As the FastAGI handler does: records are keyed by the uniqueid, and the menu's
    events of every such call went into one record under ''. The dialplan's fallback
    records the call under its own uid."""
    block = env_block(b"Wang", uid or b"")
    if uid is None:
        block = block.replace(b"agi_uniqueid: \n", b"")
    proc = run_script(block, b"200 result=1\n" * 4, db_url, tmp_path)
    out = proc.stdout.decode()
    assert out.splitlines() == ['SET VARIABLE "HOTLINE_ROUTE_KIND" ""'], proc.stderr[-2000:]
    assert b"agi_uniqueid" in proc.stderr and b"Traceback" not in proc.stderr
    assert call_log.get_call("") is None and call_log.last_id() == 0
    spool = tmp_path / "spool" / "calllog.jsonl"
    assert not spool.exists() or not spool.read_bytes().strip()


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_the_agi_script_logs_a_caller_whose_name_is_not_utf8(
    engine: Engine, call_log: SqlCallLog, db_url: str, tmp_path: Path, locale: str
) -> None:
    # SET VARIABLE (call id) succeeds; the first prompt fails and CHANNEL STATUS
    # says the channel is gone: the caller hung up in the menu.
    replies = b"200 result=1\n200 result=-1\n200 result=-1\n"
    proc = run_script(env_block(NAME), replies, db_url, tmp_path, locale)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    rec = call_log.get_call(UID)
    assert rec is not None, proc.stderr.decode(errors="replace")[-2000:]
    assert (rec.source, rec.caller) == ("agi", "+8613800000042")  # stored in E.164 (site.region CN)
    assert rec.caller_name == "\ufffd\ufffdWang \ufffd Wu"
    assert rec.outcome is Outcome.ABANDONED_IN_MENU
    assert not list(tmp_path.glob("*.rejected"))
