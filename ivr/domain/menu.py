"""The voice menu as data, and the caller's walk through it as a step function.

`step(menu, state, event)` returns the next state, what the channel should do
next, and a record of what happened. Nothing here knows about Asterisk: a
Twilio webhook or a speech recogniser can drive the same function by turning
what the caller said or pressed into `Key` and `Timeout` events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

# Prompt names the flow itself plays; config/prompts.yaml must define them.
PROMPT_INVALID = "invalid"
PROMPT_TIMEOUT = "timeout"
REQUIRED_PROMPTS: tuple[str, ...] = (PROMPT_INVALID, PROMPT_TIMEOUT)

VALID_KEYS = frozenset("0123456789*#")
INPUT_KEY, INPUT_SPEECH = "key", "speech"  # how a caller chose (StepRecord.input)


class TargetKind(StrEnum):
    MENU = "menu"  # go to another node
    ROUTE = "route"  # leave the menu for a routing branch
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    OPERATOR = "operator"  # a person, or voicemail when closed
    REPEAT = "repeat"
    LANGUAGE = "language"
    HANGUP = "hangup"


ARG_KINDS = frozenset({TargetKind.MENU, TargetKind.ROUTE, TargetKind.LANGUAGE})


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.arg}" if self.arg else self.kind.value


def parse_target(text: str) -> Target:
    """Parse "route:enquiries", "menu:billing", "callback", ...

    >>> parse_target("route:complaints")
    Target(kind=<TargetKind.ROUTE: 'route'>, arg='complaints')
    """
    name, _, arg = str(text).partition(":")
    try:
        kind = TargetKind(name.strip())
    except ValueError:
        known = ", ".join(k.value for k in TargetKind)
        raise ValueError(f"unknown target {text!r} (known: {known})") from None
    arg = arg.strip()
    if kind in ARG_KINDS and not arg:
        raise ValueError(f"target {text!r} needs a name after ':'")
    if kind not in ARG_KINDS and arg:
        raise ValueError(f"target {text!r} takes no argument")
    return Target(kind, arg)


@dataclass(frozen=True)
class MenuNode:
    id: str
    prompt: str
    options: Mapping[str, Target]
    on_failure: Target
    timeout_seconds: float = 5.0
    max_attempts: int = 3  # failed attempts (timeout or invalid key) before on_failure
    # After a failed attempt the apology is followed by `reprompt` (a short list of
    # the options) instead of the whole `prompt` again; the whole prompt is for the
    # repeat key. "" replays `prompt`.
    reprompt: str = ""
    # Silences (timeouts) before on_failure: a caller who presses nothing may not be
    # able to, and should not wait through every attempt. 0: as max_attempts.
    max_timeouts: int = 0
    # Spoken phrases per language per key, for speech input: {"en": {"1": ("enquiry",)}}.
    phrases: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def hints(self, language: str) -> tuple[str, ...]:
        """Every phrase of this node in `language`, in key order (speech recognition hints)."""
        by_key = self.phrases.get(language, {})
        return tuple(p for key in sorted(by_key) for p in by_key[key])

    def key_for_speech(self, language: str, said: str) -> str | None:
        """The option whose phrase the caller said (the longest phrase found in what was
        recognised, compared without case, spaces or punctuation), or None.

        >>> node = MenuNode("m", "p", {}, Target(TargetKind.HANGUP),
        ...                 phrases={"en": {"1": ("enquiry",), "2": ("complaint",)}})
        >>> node.key_for_speech("en", "I have a Complaint."), node.key_for_speech("en", "hello")
        ('2', None)
        """
        heard = fold_phrase(said)
        best: tuple[int, str] | None = None
        for key, phrases in self.phrases.get(language, {}).items():
            for phrase in phrases:
                folded = fold_phrase(phrase)
                if folded and folded in heard and (best is None or len(folded) > best[0]):
                    best = (len(folded), key)
        return best[1] if best else None


def fold_phrase(text: str) -> str:
    """Lower case, letters and digits only (any script): "Enquiry, please!" -> "enquiryplease"."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True)
class Menu:
    start: str
    nodes: Mapping[str, MenuNode]

    def node(self, node_id: str) -> MenuNode:
        return self.nodes[node_id]

    def reachable(self) -> set[str]:
        """Node ids reachable from the start node."""
        seen: set[str] = set()
        todo = [self.start]
        while todo:
            nid = todo.pop()
            if nid in seen or nid not in self.nodes:
                continue
            seen.add(nid)
            node = self.nodes[nid]
            for t in (*node.options.values(), node.on_failure):
                if t.kind is TargetKind.MENU:
                    todo.append(t.arg)
        return seen


# --- events from the channel -------------------------------------------------


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Key:
    digit: str


@dataclass(frozen=True)
class Timeout:
    pass


@dataclass(frozen=True)
class Spoken:
    """What the recogniser heard, already matched to an option's key (domain/speech.py);
    `key` None: nothing the node offers, or below the confidence floor (an invalid
    attempt, like a wrong key)."""

    key: str | None
    phrase: str
    confidence: float


Event = Start | Key | Timeout | Spoken


# --- what the channel should do next -------------------------------------------


@dataclass(frozen=True)
class Ask:
    """Play these prompts (in order) and wait up to `timeout_seconds` for one key."""

    prompts: tuple[str, ...]
    language: str
    timeout_seconds: float
    # The keys the node offers (how the channel collects one: '#' among them must
    # not end key collection). Not part of what is asked, so not compared.
    keys: str = field(default="", compare=False)


@dataclass(frozen=True)
class Leave:
    """The menu is done: hand the call to routing with this target."""

    target: Target
    language: str


Action = Ask | Leave


@dataclass(frozen=True)
class FlowState:
    node: str
    language: str
    attempts: int = 0
    timeouts: int = 0
    done: bool = False


@dataclass(frozen=True)
class StepRecord:
    """What happened at one step, for the call log."""

    node: str
    event: str  # start | key | invalid | timeout | repeat | language | leave
    key: str = ""
    detail: str = ""
    input: str = ""  # what the caller used: key | speech ("" for start and timeouts)
    phrase: str = ""  # speech: what the recogniser heard
    confidence: float | None = None  # speech: the recogniser's confidence, 0-1


def start(menu: Menu, language: str) -> tuple[FlowState, Action, StepRecord]:
    state = FlowState(node=menu.start, language=language)
    node = menu.node(menu.start)
    return state, _ask(node, state, ()), StepRecord(node.id, "start")


def step(menu: Menu, state: FlowState, event: Event) -> tuple[FlowState, Action, StepRecord]:
    """Advance the flow by one caller event."""
    if state.done:
        raise ValueError("the menu flow has already finished")
    if isinstance(event, Start):
        return start(menu, state.language)
    node = menu.node(state.node)
    if isinstance(event, Timeout):
        silent = replace(state, timeouts=state.timeouts + 1)
        return _failed(menu, silent, node, PROMPT_TIMEOUT, StepRecord(node.id, "timeout"))
    if isinstance(event, Spoken):
        return _spoken(menu, state, node, event)
    target = node.options.get(event.digit)
    if target is None:
        record = StepRecord(node.id, "invalid", event.digit, input=INPUT_KEY)
        return _failed(menu, state, node, PROMPT_INVALID, record)
    new, action, record = _chosen(menu, state, node, event.digit, target)
    return new, action, replace(record, input=INPUT_KEY)


def _spoken(
    menu: Menu, state: FlowState, node: MenuNode, event: Spoken
) -> tuple[FlowState, Action, StepRecord]:
    """A phrase counts like its key; one not understood like a wrong key."""
    said, conf = event.phrase, event.confidence
    target = node.options.get(event.key) if event.key else None
    if event.key is None or target is None:
        record = StepRecord(node.id, "invalid", "", "", INPUT_SPEECH, said, conf)
        return _failed(menu, state, node, PROMPT_INVALID, record)
    new, action, record = _chosen(menu, state, node, event.key, target)
    return new, action, replace(record, input=INPUT_SPEECH, phrase=said, confidence=conf)


def _chosen(
    menu: Menu, state: FlowState, node: MenuNode, digit: str, target: Target
) -> tuple[FlowState, Action, StepRecord]:
    if target.kind is TargetKind.REPEAT:
        return state, _ask(node, state, ()), StepRecord(node.id, "repeat", digit)
    if target.kind is TargetKind.LANGUAGE:
        new = replace(state, language=target.arg)
        return new, _ask(node, new, ()), StepRecord(node.id, "language", digit, target.arg)
    if target.kind is TargetKind.MENU:
        nxt = menu.node(target.arg)
        new = replace(state, node=nxt.id, attempts=0, timeouts=0)
        return new, _ask(nxt, new, ()), StepRecord(node.id, "key", digit, str(target))
    done = replace(state, done=True)
    return done, Leave(target, state.language), StepRecord(node.id, "key", digit, str(target))


def _failed(
    menu: Menu, state: FlowState, node: MenuNode, apology: str, record: StepRecord
) -> tuple[FlowState, Action, StepRecord]:
    attempts = state.attempts + 1
    silences = node.max_timeouts or node.max_attempts
    if attempts >= node.max_attempts or state.timeouts >= silences:
        if attempts >= node.max_attempts:
            detail = f"{attempts} failed attempts: {node.on_failure}"
        else:
            detail = f"{state.timeouts} silences: {node.on_failure}"
        if node.on_failure.kind is TargetKind.MENU:
            nxt = menu.node(node.on_failure.arg)
            new = replace(state, node=nxt.id, attempts=0, timeouts=0)
            return new, _ask(nxt, new, (apology,)), replace(record, detail=detail)
        done = replace(state, attempts=attempts, done=True)
        return done, Leave(node.on_failure, state.language), replace(record, detail=detail)
    new = replace(state, attempts=attempts)
    return new, _ask(node, new, (apology,), node.reprompt), record


def _ask(node: MenuNode, state: FlowState, before: tuple[str, ...], prompt: str = "") -> Ask:
    keys = "".join(sorted(node.options))
    return Ask((*before, prompt or node.prompt), state.language, node.timeout_seconds, keys)
