"""One web process asking for its agent to go away, for the cross-process staffing test
(tests/web/test_agent_board.py): started with multiprocessing's spawn, it builds its own
runtime over the test's database, as a second web process (cheroot worker, another host's
app) on the same database would, and shares nothing with the test's process but that
database and two barriers."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from conftest import REPO


def go_away(
    url: str, data_dir: str, agent: str, user_id: int, at: str, ready: Any, checked: Any, out: Any
) -> None:
    """Put `agent` away (meal) through web.presence.set_status; put (agent, done) in `out`.
    The staffing check waits at `checked` (at most 3 s) for the other process's check."""
    from ivr.bootstrap import build_runtime
    from web import presence
    from web.security import CurrentUser
    from web.settings import WebSettings

    rt = build_runtime(
        str(REPO / "config"), {"HOTLINE_DATABASE_URL": url, "HOTLINE_DATA_DIR": data_dir}
    )
    now = datetime.fromisoformat(at)
    rt.clock = lambda: now
    check = presence.away_refusal

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        why = check(*args, **kwargs)
        try:
            checked.wait(3.0)  # the other process checks before this one changes anything
        except threading.BrokenBarrierError:
            pass  # the other could not check meanwhile: the checks are one at a time
        return why

    presence.away_refusal = slow_check  # type: ignore[assignment]
    try:
        ready.wait(60.0)  # both runtimes built: the requests start together
        user = CurrentUser(user_id, agent, "agent", agent)
        r = presence.set_status(rt, WebSettings(), user, "away", "meal")
        out.put((agent, r.done))
    except Exception as e:  # noqa: BLE001 (the test reads it)
        out.put((agent, repr(e)))
    finally:
        rt.close()
