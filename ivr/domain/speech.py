"""Speech input, pure: the grammar a recogniser may hear at a menu node, and what
a recognition result means for the menu.

The recogniser (adapters/speech) decodes only the words of the node's phrases in
the caller's language (a vosk grammar: twenty times faster than free decoding,
and nothing outside the menu can come back), plus the model's "[unk]" for
anything else. Its result is a phrase and a confidence; below the configured
floor, or a phrase no option owns, it is an invalid attempt like a wrong key.
"""

from __future__ import annotations

from collections.abc import Sequence

from ivr.domain.menu import MenuNode, Spoken

UNKNOWN = "[unk]"  # vosk's word for "something else" (models without it ignore it)


def grammar(node: MenuNode, language: str) -> tuple[str, ...]:
    """The phrases of `node` in `language`, lower case, each once, in key order, then
    UNKNOWN; () when the node has no phrases in that language (speech off there).

    >>> from ivr.domain.menu import Target, TargetKind
    >>> node = MenuNode("m", "p", {}, Target(TargetKind.HANGUP),
    ...                 phrases={"ko": {"2": ("불만 접수",), "1": ("예약", "Booking")}})
    >>> grammar(node, "ko"), grammar(node, "en")
    (('예약', 'booking', '불만 접수', '[unk]'), ())
    """
    phrases = [" ".join(p.casefold().split()) for p in node.hints(language)]
    unique = tuple(dict.fromkeys(p for p in phrases if p))
    return (*unique, UNKNOWN) if unique else ()


def confidence(word_confidences: Sequence[float]) -> float:
    """A phrase is as sure as its least sure word; no words: 0.

    >>> confidence([1.0, 0.62]), confidence([])
    (0.62, 0.0)
    """
    return min(word_confidences, default=0.0)


def understand(
    node: MenuNode, language: str, phrase: str, conf: float, min_confidence: float
) -> Spoken:
    """The menu event for what the recogniser heard: the option's key, or None when
    the phrase is no option's or the confidence is below `min_confidence`.

    >>> from ivr.domain.menu import Target, TargetKind
    >>> node = MenuNode("m", "p", {}, Target(TargetKind.HANGUP), phrases={"ko": {"1": ("예약",)}})
    >>> understand(node, "ko", "예약", 0.9, 0.6).key, understand(node, "ko", "예약", 0.5, 0.6).key
    ('1', None)
    """
    key = node.key_for_speech(language, phrase) if conf >= min_confidence else None
    return Spoken(key, phrase, round(conf, 3))


def incomplete(text: str, phrases: Sequence[str]) -> bool:
    """True when `text` is only the first word(s) of a longer phrase: the end-pointer
    closed an utterance at the pause inside "불만 접수", and the rest is to come.

    >>> incomplete("불만", ["불만 접수", "예약"]), incomplete("불만 접수", ["불만 접수"])
    (True, False)
    >>> incomplete("예약", ["예약", "예약 취소"])  # a phrase in its own right
    False
    """
    said = " ".join(text.casefold().split())
    folded = [" ".join(p.casefold().split()) for p in phrases]
    return bool(said) and said not in folded and any(p.startswith(said + " ") for p in folded)
