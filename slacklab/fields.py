"""Which columns a Slack payload fills, per event family (pure: no I/O, no pandas).

:func:`extract` turns one payload (the Socket Mode envelope's ``payload`` or an
HTTP body) into the event columns of :data:`slacklab.schema.COLUMNS`; the other
columns (where and when it arrived, retries, acks) come from the carrier, in
:func:`slacklab.schema.make_row`, which calls this for every delivery. What each
column means for each family is tabulated in ``docs/columns.md``.

Slack's shapes differ by family, and one field may change JSON type between
families (``channel`` is an id string in messages and an object in
``channel_created``; ``user`` is an id in messages and an object in
``user_change``), so nothing here assumes a type: every read goes through
:func:`_s` / :func:`_id`. The rules, in brief:

* **wrapper** (``event_callback``): ``team_id``, ``api_app_id``, ``enterprise_id``,
  ``context_team_id``, ``context_enterprise_id``, ``is_ext_shared_channel``;
  ``is_enterprise_install`` from ``authorizations[0]``.
* **messages**: ``ts`` is the message the delivery is about: the edited one
  (``message.ts``) for ``message_changed``/``message_replied``, ``deleted_ts`` for
  ``message_deleted``; text, user and ``bot_id`` follow it. ``event_ts`` is always
  the event's own.
* **other events**: ``item`` (reactions, pins), ``*_id`` fields (``file_shared``),
  ``assistant_thread`` (assistant events), ``function.callback_id``
  (``function_executed``) and ``channel``/``user`` objects.
* **interactive**: ``event_subtype`` is the ``action_id`` (``block_actions``,
  ``block_suggestion``) or ``callback_id`` (shortcuts, message actions, views);
  ``ts`` is the message acted on; ``event_ts`` is the ``action_ts``.
* **slash commands**: form fields (``channel_id``, ``user_id``, ``enterprise_id``,
  ``is_enterprise_install`` as the string ``"true"``).

Hand-written rather than a schema library: this runs once per delivery on the
capture path and reads a dozen keys; a validating model (pydantic, slack_sdk's
typed models, which cover only some families) would cost more than it saves.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["FIELDS", "event_time_seconds", "extract"]

#: The columns :func:`extract` returns (every key is always present, ``None`` when absent).
FIELDS: tuple[str, ...] = (
    "team_id",
    "api_app_id",
    "enterprise_id",
    "context_team_id",
    "context_enterprise_id",
    "is_enterprise_install",
    "is_ext_shared_channel",
    "event_id",
    "event_time",
    "event_type",
    "event_subtype",
    "channel",
    "user",
    "bot_id",
    "text",
    "ts",
    "event_ts",
    "thread_ts",
    "trigger_id",
)
_EMPTY: dict[str, Any] = dict.fromkeys(FIELDS)
_NO: dict[str, Any] = {}

# Message subtypes whose ``message`` member is the message the event is about.
_INNER_MESSAGE = frozenset(("message_changed", "message_replied"))


def _s(value: Any) -> str | None:
    """A non-empty string or None (ids sometimes arrive as numbers)."""
    if type(value) is str:
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _id(value: Any) -> str | None:
    """An id that may be a plain string or an object with an ``id`` (``{"id": "C1"}``)."""
    if type(value) is dict:
        return _s(value.get("id"))
    return _s(value)


def _d(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else an empty one (never mutated)."""
    return value if type(value) is dict else _NO


def _text(value: Any) -> str | None:
    """Text as sent (an empty string stays empty: it is what the user typed)."""
    return value if type(value) is str else None


def _flag(value: Any) -> bool | None:
    """A boolean that may arrive as JSON ``true`` or, in forms, as ``"true"``/``"false"``."""
    if type(value) is bool:
        return value
    if type(value) is str:
        low = value.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
    return None


def event_time_seconds(value: Any) -> float | None:
    """Epoch seconds from ``event_time`` (seconds; some docs show microseconds)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds <= 0:  # NaN, infinity or nonsense
        return None
    while seconds > 1e11:  # milliseconds or microseconds, not seconds
        seconds /= 1000.0
    # pandas' nanosecond timestamps end in 2262 (~9.2e9 s): anything later is garbage, not a time.
    return seconds if seconds < 9e9 else None


def extract(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The event columns of one payload (every name in :data:`FIELDS`; ``None`` when absent).

    ``kind`` is the Socket Mode envelope type (``events_api``, ``slash_commands``,
    ``interactive``) or, for HTTP bodies that are not events, the body's ``type``
    (``url_verification``, ``app_rate_limited``). Never raises on odd shapes: a
    field of the wrong JSON type is treated as absent. Next: hand the result to
    :func:`slacklab.schema.make_row`, or read ``docs/columns.md`` for the meaning.
    """
    out = _EMPTY.copy()
    out["team_id"] = _id(payload.get("team_id")) or _id(payload.get("team"))
    out["api_app_id"] = _s(payload.get("api_app_id"))
    out["trigger_id"] = _s(payload.get("trigger_id"))
    if kind == "slash_commands":
        _slash(payload, out)
    elif kind == "interactive":
        _interactive(payload, out)
    else:
        _event_callback(payload, out)
    return out


def _slash(payload: dict[str, Any], out: dict[str, Any]) -> None:
    out["event_type"] = _s(payload.get("command")) or "slash_command"
    out["channel"] = _s(payload.get("channel_id"))
    out["user"] = _s(payload.get("user_id"))
    out["text"] = _text(payload.get("text"))
    out["enterprise_id"] = _s(payload.get("enterprise_id"))
    out["is_enterprise_install"] = _flag(payload.get("is_enterprise_install"))


def _interactive(payload: dict[str, Any], out: dict[str, Any]) -> None:
    kind = _s(payload.get("type")) or "interactive"
    out["event_type"] = kind
    actions = payload.get("actions")
    first = _d(actions[0]) if type(actions) is list and actions else _NO
    view, container, message = _d(payload.get("view")), _d(payload.get("container")), _d(payload.get("message"))
    team = _d(payload.get("team"))
    if kind == "block_actions":
        subtype = _s(first.get("action_id"))
    elif kind == "block_suggestion":
        subtype = _s(payload.get("action_id"))
        out["text"] = _text(payload.get("value"))  # what the user typed so far
    else:  # shortcut, message_action, view_submission, view_closed, legacy interactive_message…
        subtype = _s(payload.get("callback_id")) or _s(view.get("callback_id"))
    out["event_subtype"] = subtype or _s(first.get("action_id")) or _s(payload.get("callback_id"))
    out["channel"] = _id(payload.get("channel")) or _s(container.get("channel_id"))
    out["user"] = _id(payload.get("user"))
    if message:
        out["text"] = _text(message.get("text"))
        out["thread_ts"] = _s(message.get("thread_ts"))
        out["bot_id"] = _s(message.get("bot_id"))
    out["event_ts"] = _s(first.get("action_ts")) or _s(payload.get("action_ts"))
    out["ts"] = (
        _s(payload.get("message_ts")) or _s(container.get("message_ts")) or _s(message.get("ts")) or out["event_ts"]
    )
    enterprise = payload.get("enterprise")
    out["enterprise_id"] = _id(enterprise) or _s(team.get("enterprise_id"))
    out["is_enterprise_install"] = _flag(payload.get("is_enterprise_install"))
    if not out["api_app_id"]:
        out["api_app_id"] = _s(view.get("app_id"))


def _event_callback(payload: dict[str, Any], out: dict[str, Any]) -> None:
    """``event_callback`` bodies and the other JSON bodies (``url_verification``, ``app_rate_limited``)."""
    out["event_id"] = _s(payload.get("event_id"))
    out["event_time"] = event_time_seconds(payload.get("event_time"))
    out["enterprise_id"] = _s(payload.get("enterprise_id"))
    out["context_team_id"] = _s(payload.get("context_team_id"))
    out["context_enterprise_id"] = _s(payload.get("context_enterprise_id"))
    shared = payload.get("is_ext_shared_channel")
    out["is_ext_shared_channel"] = shared if type(shared) is bool else None
    auths = payload.get("authorizations")
    if type(auths) is list and auths:
        auth = _d(auths[0])
        out["is_enterprise_install"] = _flag(auth.get("is_enterprise_install"))
        if out["enterprise_id"] is None:
            out["enterprise_id"] = _s(auth.get("enterprise_id"))
    event = payload.get("event")
    if type(event) is not dict:
        out["event_type"] = _s(payload.get("type"))
        return
    etype = _s(event.get("type"))
    out["event_type"] = etype
    event_ts = _s(event.get("event_ts"))
    out["event_ts"] = event_ts
    if etype == "message" or etype == "app_mention":
        _message(event, out)
    else:
        _other_event(etype, event, out)
    if out["ts"] is None:
        out["ts"] = event_ts


def _message(event: dict[str, Any], out: dict[str, Any]) -> None:
    subtype = _s(event.get("subtype"))
    out["event_subtype"] = subtype
    out["channel"] = _id(event.get("channel"))
    if subtype in _INNER_MESSAGE:
        about = _d(event.get("message"))
        # an edit keeps the message's ts; the previous version carries it too
        ts = _s(about.get("ts")) or _s(_d(event.get("previous_message")).get("ts"))
    elif subtype == "message_deleted":
        about = _d(event.get("previous_message"))
        ts = _s(event.get("deleted_ts")) or _s(about.get("ts"))
    else:
        about = event
        ts = _s(event.get("ts"))
    out["ts"] = ts or _s(event.get("ts"))
    out["user"] = _id(about.get("user")) or _id(event.get("user"))
    out["bot_id"] = _s(about.get("bot_id")) or _s(event.get("bot_id"))
    text = about.get("text")
    out["text"] = text if type(text) is str else _text(event.get("text"))
    out["thread_ts"] = _s(about.get("thread_ts")) or _s(event.get("thread_ts"))


def _other_event(etype: str | None, event: dict[str, Any], out: dict[str, Any]) -> None:
    out["event_subtype"] = _s(event.get("subtype"))
    item = _d(event.get("item"))
    thread = _d(event.get("assistant_thread"))
    channel = event.get("channel")
    out["channel"] = (
        _id(channel) or _s(item.get("channel")) or _s(event.get("channel_id")) or _s(thread.get("channel_id"))
    )
    out["user"] = (
        _id(event.get("user"))
        or _s(event.get("user_id"))
        or _s(thread.get("user_id"))
        or (_s(channel.get("creator")) if type(channel) is dict else None)
    )
    out["bot_id"] = _s(event.get("bot_id"))
    out["ts"] = _s(item.get("ts")) or _s(event.get("ts"))
    out["thread_ts"] = _s(event.get("thread_ts")) or _s(thread.get("thread_ts"))
    if etype == "function_executed":
        out["event_subtype"] = _s(_d(event.get("function")).get("callback_id"))
    text = event.get("text")
    if type(text) is str:
        out["text"] = text
