"""The one error of the configuration package."""

from __future__ import annotations

import re
import unicodedata

from ivr.domain.text import REFUSED_CATEGORIES

MAX_RUN = 200  # a longer run of characters without a space is cut in a message
MAX_MESSAGE = 500  # an item or a reason longer than this is cut
_RUN = re.compile(rf"\S{{{MAX_RUN + 1},}}")


def one_line(text: str) -> str:
    """`text` fit for one line of a terminal or a log: control and format characters
    (CR, LF, NUL, bidirectional overrides) as escapes, a long run of characters cut
    to its start and its length (a 100 kB value is not echoed whole).

    >>> one_line("prompts.a\\r\\nb"), one_line("'" + "x" * 300 + "'")[-14:]
    ('prompts.a\\\\r\\\\nb', '...(302 chars)')
    """
    text = "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in REFUSED_CATEGORIES
        else ch
        for ch in text
    )
    text = _RUN.sub(lambda m: f"{m.group()[:100]}...({len(m.group())} chars)", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


class ConfigError(Exception):
    """A configuration problem: which file, which item, and why (each on one line and
    of bounded length, whatever value the file held)."""

    def __init__(self, file: str, item: str, reason: str) -> None:
        file, item, reason = one_line(file), one_line(item), one_line(reason)
        self.file, self.item, self.reason = file, item, reason
        super().__init__(f"{file}: {item}: {reason}" if item else f"{file}: {reason}")
