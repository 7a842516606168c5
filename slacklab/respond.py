"""Answers in the ack: responders registered on a capture, and the calls the listener makes to them.

A Socket Mode envelope with ``accepts_response_payload: true`` (a slash command,
``block_suggestion``, ``view_submission``…) may be acknowledged with a response
payload, ``{"envelope_id": …, "payload": {…}}``, and Slack uses it: a slash
command's reply appears, a dynamic menu gets its options, a modal shows errors.
From a notebook cell::

    cap.respond("/deploy", lambda p: {"text": f"deploying {p['text']}…"})
    cap.respond("block_suggestion", options_for, action_id="search")
    cap.respond("view_submission", check_form, callback_id="ticket_modal")
    cap.respond("interactive", fn, when=lambda p: p.get("type") == "block_actions")
    cap.responders                 # what is registered, and how each did so far
    cap.respond("/deploy", None)   # remove it again

A responder is ``fn(payload: dict) -> dict | str | None``: the dict is the response
payload (a ``str`` means ``{"text": …}``, as slack_sdk does; ``None`` sends an empty ack).

The listener (:mod:`slacklab.connection`) keeps its minimal ack path for every
other frame. For a matching envelope it journals the frame first, then calls
:meth:`Responders.match`, runs :meth:`ResponderCall.start` (the responder in a
daemon thread, off the listener's event loop) and waits for it up to the
responder's deadline (default 2.5 s, under Slack's 3 s) while it goes on reading
and acking other envelopes. On time: the ack carries the payload. Late, raising or
returning something unusable: an empty ack and a problem row
(:meth:`Capture.problems <slacklab.capture.Capture.problems>`). What was sent is
recorded, masked, in the ``response_payload`` column. See ``docs/responses.md``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from slacklab.errors import ResponderError
from slacklab.protocol import Envelope, build_ack, parse_frame
from slacklab.redact import mask_json_text, mask_text

__all__ = [
    "DEFAULT_DEADLINE",
    "INTERACTIVE_TYPES",
    "Outcome",
    "Responder",
    "ResponderCall",
    "Responders",
    "ack_with_payload",
    "run_responder",
]

DEFAULT_DEADLINE = 2.5
"""Seconds a responder may take before the listener sends an empty ack (Slack waits about 3 s)."""
LATE_REPORT_AFTER = 30.0
"""After an empty ack for a late responder, wait this long more to report how long it took."""
INTERACTIVE_TYPES = frozenset(
    {"block_actions", "block_suggestion", "view_submission", "view_closed", "shortcut", "message_action"}
)
"""The ``type`` values of ``interactive`` payloads a responder can be registered for by name."""
_KINDS = ("slash_commands", "interactive", "*")
_ACCEPTS_KEY = '"accepts_response_payload"'
_TRUE = re.compile(r"\s*:\s*true")

Fn = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Responder:
    """One registered responder: which envelopes it answers, and the function that answers."""

    kind: str
    """``slash_commands``, ``interactive`` or ``*`` (any envelope that accepts a response)."""
    type: str | None
    """The slash command (``/deploy``) or interactive type (``block_suggestion``); ``None``: any."""
    fn: Fn = field(compare=False)
    action_id: str | None = None
    callback_id: str | None = None
    when: Callable[[dict[str, Any]], bool] | None = field(default=None, compare=False)
    deadline: float = DEFAULT_DEADLINE

    @property
    def label(self) -> str:
        """How problems and the repr name it: ``/deploy``, ``block_suggestion action_id='search'``…"""
        text = self.type or self.kind
        if self.action_id is not None:
            text += f" action_id={self.action_id!r}"
        if self.callback_id is not None:
            text += f" callback_id={self.callback_id!r}"
        if self.when is not None:
            text += f" when {getattr(self.when, '__name__', 'predicate')}"
        return text

    @property
    def key(self) -> tuple[Any, ...]:
        """Registering again with the same key replaces it (a re-run cell)."""
        when = None if self.when is None else getattr(self.when, "__name__", repr(self.when))
        return (self.kind, self.type, self.action_id, self.callback_id, when)

    def matches(self, kind: str, payload: dict[str, Any]) -> bool:
        """Whether this responder answers an envelope of ``kind`` carrying ``payload``."""
        if self.kind != "*" and kind != self.kind:
            return False
        if self.type is not None:
            found = payload.get("command") if kind == "slash_commands" else payload.get("type")
            if found != self.type:
                return False
        if self.action_id is not None and self.action_id not in _action_ids(payload):
            return False
        if self.callback_id is not None and self.callback_id != _callback_id(payload):
            return False
        return self.when is None or bool(self.when(payload))

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        return f"<Responder {self.label} -> {name}, deadline {self.deadline:g} s>"


def _action_ids(payload: Mapping[str, Any]) -> set[str]:
    ids = {payload.get("action_id")}
    actions = payload.get("actions")
    if isinstance(actions, list):
        ids.update(a.get("action_id") for a in actions if isinstance(a, dict))
    return {i for i in ids if isinstance(i, str)}


def _callback_id(payload: Mapping[str, Any]) -> Any:
    view = payload.get("view")
    if isinstance(view, dict) and payload.get("type") in ("view_submission", "view_closed"):
        return view.get("callback_id")
    return payload.get("callback_id")


def _specificity(r: Responder) -> int:
    return sum(x is not None for x in (r.type, r.action_id, r.callback_id, r.when)) + (r.kind != "*")


def _parse_what(what: str) -> tuple[str, str | None]:
    """``/deploy`` → a slash command; ``block_suggestion`` → an interactive type; a kind → any of that kind."""
    if not isinstance(what, str) or not what:
        raise ResponderError(f"what to answer must be a slash command ('/deploy') or a type, not {what!r}")
    if what.startswith("/"):
        return "slash_commands", what
    if what in INTERACTIVE_TYPES:
        return "interactive", what
    if what in _KINDS:
        return what, None
    if what == "events_api":
        raise ResponderError(
            "events_api envelopes never accept a response payload (accepts_response_payload is false); "
            "answer events with Web API calls instead"
        )
    raise ResponderError(
        f"cannot answer {what!r}: use a slash command ('/deploy'), an interactive type "
        f"({', '.join(sorted(INTERACTIVE_TYPES))}) or a kind with when= ('slash_commands', 'interactive', '*')"
    )


@dataclass(slots=True)
class _Stats:
    answered: int = 0
    empty: int = 0
    late: int = 0
    failed: int = 0


class Responders:
    """The responders of one capture (thread-safe). Use :meth:`Capture.respond <slacklab.capture.Capture.respond>`.

    :attr:`active` is read on the listener's ack path: while it is false, no frame is even looked at.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], Responder] = {}
        self._order: list[Responder] = []
        self._stats: dict[tuple[Any, ...], _Stats] = {}
        self.active = False

    def set(
        self,
        what: str,
        fn: Fn | None,
        *,
        action_id: str | None = None,
        callback_id: str | None = None,
        when: Callable[[dict[str, Any]], bool] | None = None,
        deadline: float = DEFAULT_DEADLINE,
    ) -> Responder | None:
        """Register ``fn`` for ``what`` (replacing one with the same filters); ``fn=None`` removes it.

        Raises:
            ResponderError: ``what`` cannot carry a response, ``fn`` is not callable,
                or ``deadline`` is not between 0 and 3 s.
        """
        kind, type_ = _parse_what(what)
        if fn is not None and not callable(fn):
            raise ResponderError(f"the responder must be a function payload -> dict | None, not {type(fn).__name__}")
        if when is not None and not callable(when):
            raise ResponderError("when= must be a function payload -> bool")
        if not 0 < deadline < 3:
            raise ResponderError(f"deadline must be between 0 and 3 s (Slack waits about 3 s), not {deadline!r}")
        probe = Responder(kind, type_, fn or _none, action_id, callback_id, when, float(deadline))
        with self._lock:
            if fn is None:
                self._entries.pop(probe.key, None)
            else:
                self._entries[probe.key] = probe
                self._stats.setdefault(probe.key, _Stats())
            self._order = sorted(self._entries.values(), key=_specificity, reverse=True)
            self.active = bool(self._order)
        return None if fn is None else probe

    def __iter__(self) -> Iterator[Responder]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def clear(self) -> None:
        """Remove every responder."""
        with self._lock:
            self._entries.clear()
            self._order = []
            self.active = False

    def find(self, kind: str, payload: dict[str, Any]) -> Responder | None:
        """The responder for an envelope of ``kind`` with ``payload`` (the most specific first), if any."""
        for responder in self._order:
            try:
                if responder.matches(kind, payload):
                    return responder
            except Exception:  # a broken when= predicate: that responder does not match
                continue
        return None

    def match(self, raw: str | bytes, envelope_id: str) -> ResponderCall | None:
        """The call to make for a frame that accepts a response payload and has a responder, else ``None``."""
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        at = text.find(_ACCEPTS_KEY)  # a substring search, then a look right after it: ~0.2 µs per frame
        if at < 0 or not _TRUE.match(text, at + len(_ACCEPTS_KEY)):
            return None
        frame = parse_frame(text)
        if not isinstance(frame, Envelope) or not frame.accepts_response_payload:
            return None
        payload = frame.payload if isinstance(frame.payload, dict) else {}
        responder = self.find(frame.type, payload)
        if responder is None:
            return None
        return ResponderCall(responder, payload, envelope_id, self)

    def count(self, responder: Responder, outcome: str) -> None:
        """Count one ``answered`` / ``empty`` / ``late`` / ``failed`` call (shown in the repr)."""
        with self._lock:
            stats = self._stats.setdefault(responder.key, _Stats())
            setattr(stats, outcome, getattr(stats, outcome) + 1)

    def __repr__(self) -> str:
        if not self._order:
            return "<Responders: none (cap.respond('/deploy', fn) answers a slash command in its ack)>"
        lines = [f"<Responders: {len(self._order)} registered"]
        for r in self._order:
            s = self._stats.get(r.key, _Stats())
            name = getattr(r.fn, "__name__", type(r.fn).__name__)
            lines.append(
                f"  {r.label} -> {name} (deadline {r.deadline:g} s): answered {s.answered}, "
                f"empty {s.empty}, late {s.late}, failed {s.failed}"
            )
        return "\n".join(lines) + ">"


def _none(payload: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a responder did: the ack to send, the masked payload to record, a problem, how long it took."""

    ack: str
    recorded: str | None
    problem: str | None
    seconds: float


def ack_with_payload(envelope_id: str, payload: Mapping[str, Any] | None) -> str:
    """The ack text, with ``payload`` when there is one (``{"envelope_id": …, "payload": …}``)."""
    if payload is None:
        return build_ack(envelope_id)
    return json.dumps({"envelope_id": envelope_id, "payload": payload}, ensure_ascii=False, separators=(",", ":"))


def run_responder(responder: Responder, payload: dict[str, Any], envelope_id: str) -> Outcome:
    """Call the responder (in any thread) and turn what it returns into an :class:`Outcome`. Never raises."""
    label = responder.label
    started = time.perf_counter()
    problem: str | None = None
    answer: Any = None
    try:
        answer = responder.fn(json.loads(json.dumps(payload)))  # its own copy
    except Exception as exc:
        problem = f"responder for {label} raised {type(exc).__name__}: {mask_text(str(exc))[:300]}"
    seconds = time.perf_counter() - started
    if isinstance(answer, str):
        answer = {"text": answer}
    if problem is None and answer is not None and not isinstance(answer, dict):
        problem = f"responder for {label} returned a {type(answer).__name__}; it must return a dict or None"
    if problem is None and answer:
        try:
            ack = ack_with_payload(envelope_id, answer)
        except (TypeError, ValueError) as exc:
            problem = f"responder for {label} returned something that is not JSON ({mask_text(str(exc))[:200]})"
        else:
            return Outcome(ack, mask_json_text(answer), None, seconds)
    if problem is not None:
        problem += "; sent an empty ack"
    return Outcome(build_ack(envelope_id), None, problem, seconds)


@dataclass(slots=True)
class ResponderCall:
    """One envelope to answer: start the responder, then settle what happened with :meth:`late_problem`."""

    responder: Responder
    payload: dict[str, Any]
    envelope_id: str
    responders: Responders

    @property
    def deadline(self) -> float:
        return self.responder.deadline

    def start(self) -> Future[Outcome]:
        """Run the responder in a daemon thread (a hung one never blocks the listener or the interpreter's exit)."""
        future: Future[Outcome] = Future()
        future.set_running_or_notify_cancel()

        def work() -> None:
            future.set_result(run_responder(self.responder, self.payload, self.envelope_id))

        threading.Thread(target=work, name="slacklab-responder", daemon=True).start()
        return future

    def settled(self, outcome: Outcome) -> str | None:
        """The answer went (or an empty ack for a failure): count it; returns the problem, if any."""
        kind = "failed" if outcome.problem else "answered" if outcome.recorded else "empty"
        self.responders.count(self.responder, kind)
        return outcome.problem

    def late_problem(self, outcome: Outcome | None, waited: float) -> str:
        """The problem row of a responder that missed its deadline (``outcome``: if it finished after all)."""
        self.responders.count(self.responder, "late")
        label, deadline = self.responder.label, self.deadline
        if outcome is None:
            return (
                f"responder for {label} was still running after {waited:.1f} s; "
                f"sent an empty ack at its {deadline:g} s deadline"
            )
        took = f"took {outcome.seconds:.1f} s" if not outcome.problem else f"failed after {outcome.seconds:.1f} s"
        return f"responder for {label} {took}; sent an empty ack at its {deadline:g} s deadline and dropped its answer"
