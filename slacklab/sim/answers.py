"""What Slack does with a response payload in a Socket Mode ack (pure: no I/O, no clock).

An app may acknowledge an envelope that has ``accepts_response_payload: true``
with ``{"envelope_id": …, "payload": {…}}``. The simulator checks such an answer in
two steps:

* :func:`response_problem` (used by the delivery ledger): may this ack carry an
  answer at all? Not if the envelope is unknown, did not accept one, was acked
  already or the ack came after the deadline; not if the payload is not an object.
  An empty object (``{}``, which some SDKs always send) counts as no answer.
* :func:`judge` (used by the workspace, :class:`~slacklab.sim.webapi_methods.SlackState`):
  what the answer means for its payload type, as a :class:`Verdict`.

=====================  =========================================================  ================
answer to              fields Slack reads                                          effect
=====================  =========================================================  ================
slash command          ``text`` and/or ``blocks``; ``response_type``                ``in_channel``: a message
                       ``ephemeral`` (default) or ``in_channel``                   in the channel (and a
                                                                                   ``message`` event);
                                                                                   ``ephemeral``: shown to
                                                                                   the user only
``block_suggestion``   ``options`` (at most 100) or ``option_groups``              ``options``: the menu's
                                                                                   choices
``view_submission``    ``response_action``: ``errors`` (with ``errors``, block     the modal shows errors,
                       id → message), ``update`` / ``push`` (with a modal          is replaced, gets a view
                       ``view``), ``clear``                                         pushed, or closes
other interactive      nothing                                                      ``none``
=====================  =========================================================  ================

Anything else is recorded with an ``error`` saying what Slack would have done
instead (ignored it, or shown the user an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NO_RESPONSE", "Verdict", "answer_type", "judge", "response_problem"]

NO_RESPONSE: Any = object()
"""The ack carried no ``payload`` field (or an empty object)."""
RESPONSE_ACTIONS = ("errors", "update", "push", "clear")
MAX_OPTIONS = 100


@dataclass(frozen=True, slots=True)
class Verdict:
    """What Slack does with an answer: ``effect`` (``in_channel``, ``ephemeral``, ``options``,
    ``errors``, ``update``, ``push``, ``clear``, ``none``) or the ``error`` that makes it ignore it."""

    type: str
    effect: str | None
    error: str | None = None


def response_problem(*, known: bool, accepts: bool, late: bool, duplicate: bool, response: Any) -> str | None:
    """Why Slack would not use the answer in this ack, or ``None`` if it would."""
    if not known:
        return "an answer in the ack of an unknown envelope: ignored"
    if not accepts:
        return "this envelope did not accept a response payload (accepts_response_payload: false): ignored"
    if duplicate:
        return "the envelope was acked already: a second answer is ignored"
    if late:
        return "the ack came after the deadline: the answer is ignored (the user saw a timeout)"
    if not isinstance(response, Mapping):
        return f"the payload must be a JSON object, not {type(response).__name__}: ignored"
    return None


def answer_type(kind: str, request: Mapping[str, Any]) -> str:
    """``/deploy`` for a slash command, the interactive payload's ``type``, else the envelope's kind."""
    found = (
        request.get("command") if kind == "slash_commands" else request.get("type") if kind == "interactive" else kind
    )
    return str(found or kind)


def judge(kind: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> Verdict:
    """What Slack does with ``response``, the answer to an envelope of ``kind`` carrying ``request``."""
    type_ = answer_type(kind, request)
    if kind == "slash_commands":
        if not response.get("text") and not response.get("blocks") and not response.get("attachments"):
            return Verdict(type_, None, "a slash command's answer needs text or blocks: the user sees nothing")
        response_type = response.get("response_type", "ephemeral")
        if response_type not in ("ephemeral", "in_channel"):
            return Verdict(type_, None, f"response_type must be 'in_channel' or 'ephemeral', not {response_type!r}")
        return Verdict(type_, str(response_type))
    if type_ == "block_suggestion":
        options, groups = response.get("options"), response.get("option_groups")
        if not isinstance(options, list) and not isinstance(groups, list):
            return Verdict(
                type_, None, "block_suggestion answers need options (or option_groups): the menu stays empty"
            )
        bad_groups = any(not isinstance(g, Mapping) or not isinstance(g.get("options"), list) for g in groups or [])
        if not isinstance(options, list) and bad_groups:
            return Verdict(type_, None, "every option group needs a list of options: the menu shows an error")
        chosen = options if isinstance(options, list) else [o for g in groups or [] for o in g["options"]]
        if len(chosen) > MAX_OPTIONS:
            return Verdict(type_, None, f"{len(chosen)} options: Slack shows at most {MAX_OPTIONS}")
        if any(not isinstance(o, Mapping) or "text" not in o or "value" not in o for o in chosen):
            return Verdict(type_, None, "every option needs text and value: the menu shows an error")
        return Verdict(type_, "options")
    if type_ == "view_submission":
        action = response.get("response_action")
        if action not in RESPONSE_ACTIONS:
            return Verdict(type_, None, f"response_action must be one of {', '.join(RESPONSE_ACTIONS)}, not {action!r}")
        if action == "errors" and not (isinstance(response.get("errors"), Mapping) and response["errors"]):
            return Verdict(type_, None, "response_action errors needs errors: {block_id: message}")
        view = response.get("view")
        if action in ("update", "push") and not (isinstance(view, Mapping) and view.get("type") == "modal"):
            return Verdict(type_, None, f"response_action {action} needs a modal view")
        return Verdict(type_, str(action))
    return Verdict(type_, "none")
