"""One row schema for a delivery, whatever carried it (Socket Mode or HTTP).

A *delivery* is one arrival of a payload: a Socket Mode envelope or an HTTP
request. Retries are separate deliveries of the same event. This module is
pure (no pandas, no I/O): it turns a Slack payload plus delivery metadata
into a plain ``dict`` row keyed by :data:`COLUMNS`. ``slacklab.table`` turns
rows into typed DataFrames.

Columns (in this order, which is also the CSV order):

=================  ==========================================================
source             ``"socket"`` or ``"http"``
received_at        when slacklab received it (UTC)
connection         Socket Mode connection id (``c1``, ``c2``…); HTTP: ``None``
envelope_id        Socket Mode envelope id; HTTP: ``None``
kind               ``events_api``, ``slash_commands``, ``interactive``, ``url_verification``…
event_key          de-duplication key (see :func:`event_key`)
event_id           Events API ``event_id``
event_type         inner event type (``message``…), slash ``/command``, or interactive type
event_subtype      message subtype, or the interactive ``action_id`` / ``callback_id``
event_time         when Slack dispatched the event (UTC)
team_id            workspace id
api_app_id         app id
enterprise_id      Enterprise Grid org id (``None`` outside Grid)
context_team_id    the workspace the event happened in (Slack Connect / Grid: may differ from ``team_id``)
context_enterprise_id  the org the event happened in
is_enterprise_install  the app is installed org-wide (Grid)
is_ext_shared_channel  the event came from a Slack Connect (externally shared) channel
channel            channel id
user               user id
bot_id             the bot that posted (bot messages, apps' own posts)
text               message or command text
ts                 the ``ts`` of the message the delivery is about (or ``event_ts``)
event_ts           the event's own ``event_ts``
thread_ts          thread parent ``ts``
trigger_id         slash command / interactivity trigger
retry_attempt      0 for the first delivery, then 1, 2, 3
retry_reason       ``timeout`` (Socket Mode), ``http_timeout``… (HTTP)
accepts_response_payload  Socket Mode: the ack may carry a response payload
ack_ms             Socket Mode: receipt to ack sent, in milliseconds
signature          HTTP: ``valid``/``invalid``/``stale``/``missing``/``unchecked``/``unverifiable``
http_status        HTTP: the response status recorded
response_ms        HTTP: the response time recorded
replayed           the delivery was replayed by ``slacklab replay``, not sent by Slack
payload            the whole payload as JSON, secrets masked
response_payload   Socket Mode: the response payload sent in the ack (``cap.respond``), as JSON, masked
=================  ==========================================================
"""

from __future__ import annotations

from typing import Any

from slacklab.fields import event_time_seconds, extract

__all__ = [
    "BOOL_COLUMNS",
    "COLUMNS",
    "DATETIME_COLUMNS",
    "FLOAT_COLUMNS",
    "INT_COLUMNS",
    "event_key",
    "event_time_seconds",
    "make_row",
    "payload_fields",
]

COLUMNS: tuple[str, ...] = (
    "source",
    "received_at",
    "connection",
    "envelope_id",
    "kind",
    "event_key",
    "event_id",
    "event_type",
    "event_subtype",
    "event_time",
    "team_id",
    "api_app_id",
    "enterprise_id",
    "context_team_id",
    "context_enterprise_id",
    "is_enterprise_install",
    "is_ext_shared_channel",
    "channel",
    "user",
    "bot_id",
    "text",
    "ts",
    "event_ts",
    "thread_ts",
    "trigger_id",
    "retry_attempt",
    "retry_reason",
    "accepts_response_payload",
    "ack_ms",
    "signature",
    "http_status",
    "response_ms",
    "replayed",
    "payload",
    "response_payload",
)
DATETIME_COLUMNS = ("received_at", "event_time")
INT_COLUMNS = ("retry_attempt", "http_status")
FLOAT_COLUMNS = ("ack_ms", "response_ms")
BOOL_COLUMNS = ("is_enterprise_install", "is_ext_shared_channel", "accepts_response_payload", "replayed")


def payload_fields(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The event columns of a payload of the given ``kind``: see :func:`slacklab.fields.extract`."""
    return extract(kind, payload)


def event_key(
    *,
    event_id: str | None,
    team_id: str | None,
    api_app_id: str | None,
    trigger_id: str | None,
    envelope_id: str | None,
) -> str | None:
    """The de-duplication key of a delivery.

    Events: ``app/team/event_id`` (the same event can reach several apps);
    slash commands and interactivity: ``trigger:<trigger_id>``; otherwise the
    envelope id, so unknown envelopes still count once each.
    """
    if event_id:
        return f"{api_app_id or '-'}/{team_id or '-'}/{event_id}"
    if trigger_id:
        return f"trigger:{trigger_id}"
    if envelope_id:
        return f"envelope:{envelope_id}"
    return None


def make_row(
    *,
    source: str,
    kind: str,
    payload: dict[str, Any],
    received_at: float,
    connection: str | None = None,
    envelope_id: str | None = None,
    retry_attempt: int = 0,
    retry_reason: str | None = None,
    ack_ms: float | None = None,
    signature: str | None = None,
    http_status: int | None = None,
    response_ms: float | None = None,
    accepts_response_payload: bool | None = None,
    replayed: bool | None = None,
    response_payload: str | None = None,
) -> dict[str, Any]:
    """Build one delivery row. ``received_at`` is epoch seconds (UTC).

    The ``payload`` column holds the payload *object*; ``slacklab.table``
    masks and serialises it when it builds a DataFrame, off the listener's
    hot path.
    """
    fields = payload_fields(kind, payload)
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(fields)
    row.update(
        source=source,
        received_at=received_at,
        connection=connection,
        envelope_id=envelope_id,
        kind=kind,
        retry_attempt=retry_attempt,
        retry_reason=retry_reason or None,
        ack_ms=ack_ms,
        signature=signature,
        http_status=http_status,
        response_ms=response_ms,
        accepts_response_payload=accepts_response_payload,
        replayed=replayed,
        payload=payload,
        response_payload=response_payload,
    )
    row["event_key"] = event_key(
        event_id=row["event_id"],
        team_id=row["team_id"],
        api_app_id=row["api_app_id"],
        trigger_id=row["trigger_id"],
        envelope_id=envelope_id,
    )
    return row
