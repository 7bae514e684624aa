"""Confidentiality (REQUIREMENTS §7): the one way a caller number is shown masked.

Logs, the `hotline calls` command and the web app all use `mask_number`; a full
number is shown only where a role allows it, and that read is audited.
"""

from __future__ import annotations

from collections.abc import Callable


def mask_number(number: str | None) -> str:
    """Hide the middle of a caller number: the first three and last four characters stay.

    >>> mask_number("13800000001")
    '138****0001'
    >>> mask_number("+8613800000001")
    '+86****0001'
    >>> mask_number("1001")
    '**01'
    >>> mask_number(None)
    ''
    """
    n = number or ""
    if len(n) >= 8:
        return f"{n[:3]}{'*' * 4}{n[-4:]}"
    if len(n) > 2:
        return "*" * (len(n) - 2) + n[-2:]
    return "*" * len(n)


def mask_in(value: object, number: str, mask: Callable[[str], str] = mask_number) -> object:
    """`value` (text, or lists/tuples/dicts of them) with every occurrence of `number`
    masked: a call record names its caller in several places (caller, a callback
    route's target, the routing trace). `mask` may know more of numbers than this
    module (the web's, with the country code of an E.164 number).

    >>> mask_in({"caller": "13800000001", "trace": ["route: callback 13800000001"]},
    ...         "13800000001")
    {'caller': '138****0001', 'trace': ['route: callback 138****0001']}
    """
    if len(number) < 3:
        return value
    if isinstance(value, str):
        return value.replace(number, mask(number))
    if isinstance(value, dict):
        return {k: mask_in(v, number, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_in(v, number, mask) for v in value]
    return value
