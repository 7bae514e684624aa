"""The one rule for text that people type into the hotline (a case's matter and
summary, a note, a reason, an agent's name): which characters it may hold.

The web app's parameters (web/params.py), the command line's arguments
(cli/common.py) and the use cases that store such text (ivr/app/cases.py) all ask
`bad_character`, so a character refused at one door is refused at every door.
Refused: control characters (NUL, CR, LF...), format characters (the
bidirectional marks and overrides that make a line read as something else, zero
width joiners), lone surrogates (what bytes that are not UTF-8 decode to: no
store or terminal takes them), private-use and unassigned code points, and the
Unicode line and paragraph separators. Free text meant to hold several lines (a
summary, a note) may hold line feeds and tabs: `MULTILINE`.
"""

from __future__ import annotations

import unicodedata
from typing import Final

REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
MULTILINE: Final = "\n\t"  # what a summary or a note may hold besides


def bad_character(text: str, allowed: str = "") -> str | None:
    """The first character of `text` it may not hold (outside `allowed`), as U+XXXX, or None.

    >>> bad_character("chen"), bad_character("a\\x00b"), bad_character("\\u202eabc")
    (None, 'U+0000', 'U+202E')
    >>> bad_character("line 1\\nline 2", MULTILINE), bad_character("line 1\\r\\nline 2", MULTILINE)
    (None, 'U+000D')
    >>> bad_character("\\u5f20\\u3000\\u4e09"), bad_character("\\ud800")
    (None, 'U+D800')
    """
    for ch in text:
        if ch not in allowed and unicodedata.category(ch) in REFUSED_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def one_line_feed(text: str) -> str:
    """`text` with each CR LF as a line feed (what a browser's or a terminal's line
    end becomes before `bad_character(text, MULTILINE)` is asked).

    >>> one_line_feed("a\\r\\nb\\nc")
    'a\\nb\\nc'
    """
    return text.replace("\r\n", "\n")


def squeezed(text: str, most: int | None = None) -> str:
    """`text` on one line, for a log line or an error message: every run of white space
    (line ends, tabs) as one space, cut to `most` characters when given.

    >>> squeezed("connection failed:\\n\\tIs the server running?"), squeezed("abcdef", 3)
    ('connection failed: Is the server running?', 'abc')
    """
    flat = " ".join(text.split())
    return flat if most is None else flat[:most]


MAX_LOGGED: Final = 64  # characters of a caller-supplied value a log line quotes


def logged(value: str, most: int = MAX_LOGGED) -> str:
    """A value someone else supplied (a call id, a route name, a reply line) as a log
    line quotes it: on one line, at most `most` characters, and its length said when
    cut. An AGI line may be 8 KB: quoted whole, one call's warnings filled the log.

    >>> logged("1732330800.2"), logged("x" * 8000, 4), logged("a\\n\\u202eb")
    ('1732330800.2', 'xxxx...(8000 chars)', 'a b')
    """
    shown_part = "".join(
        " " if unicodedata.category(ch) in REFUSED_CATEGORIES else ch for ch in value[:most]
    )
    flat = " ".join(shown_part.split())  # no control character, line break or bidi mark
    return flat if len(value) <= most else f"{flat}...({len(value)} chars)"


def shown(text: str, most: int = 30) -> str:
    r"""A value as an error message echoes it: quoted, escaped (control characters
    too), and cut to `most` characters.

    >>> shown("/tmp/d\x01x"), shown("abcdef", 3)
    ("'/tmp/d\\x01x'", "'abc'...")
    """
    return repr(text[:most]) + ("..." if len(text) > most else "")
