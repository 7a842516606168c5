"""Slack's HTTP delivery rules, without the sockets: bodies, retries, disabling, and the truth record.

Everything :class:`~slacklab.sim.http_sender.HttpDelivery` decides is here, as plain
functions and frozen data, so tests can check the rules without a server:

* :func:`encode_body` – the body and ``Content-Type`` Slack uses for each kind;
* :func:`retry_delay` – whether a failed attempt is retried, and after how long
  (Slack's Events API docs: up to 3 retries, nearly at once, after 1 minute, after
  5 minutes; none for slash commands and interactivity; none after
  ``X-Slack-No-Retry: 1`` on a non-2xx answer);
* :class:`DisableRule` – Slack's automatic disabling of event delivery after
  sustained failures (more than 95 % of delivery attempts failing within 60
  minutes, for apps receiving at least 1,000 events an hour). The docs give the
  thresholds but not how the window is counted (sliding or fixed, attempts or
  events), so this is one reading of them; lower ``min_events`` to watch it
  happen in a small scenario;
* :class:`HttpTruth` – what the HTTP side did, the ground truth a capture is checked against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from slacklab.schema import event_key, payload_fields

__all__ = [
    "DELIVERABLE_KINDS",
    "FAKE_SIGNING_SECRET",
    "FORGERIES",
    "RETRY_DELAYS",
    "DisableRule",
    "HttpTruth",
    "challenge_in",
    "delivery_ids",
    "encode_body",
    "retry_delay",
]

FAKE_SIGNING_SECRET = "sim-signing-secret-not-real"
"""The simulator's signing secret: obviously fake; give it to the receiver to check signatures."""
RETRY_DELAYS: tuple[float, ...] = (1.0, 60.0, 300.0)
"""Simulated seconds before retry 1, 2 and 3 (Slack: nearly immediately, 1 minute, 5 minutes)."""
DELIVERABLE_KINDS: tuple[str, ...] = ("events_api", "slash_commands", "interactive")
FORGERIES: tuple[str, ...] = ("invalid", "stale")
"""Kinds of forged request :class:`HttpDelivery` can send: a wrong signature, or a 10-minute-old replay."""
_FORM = "application/x-www-form-urlencoded"


def _form_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_body(kind: str, payload: Mapping[str, Any]) -> tuple[bytes, str]:
    """The HTTP body and ``Content-Type`` Slack uses for a payload of this kind."""
    if kind == "slash_commands":
        return urlencode({k: _form_value(v) for k, v in payload.items()}).encode(), _FORM
    if kind == "interactive":
        return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode(), _FORM
    return json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json"


def retry_delay(kind: str, outcome: str, no_retry: bool, attempt: int, delays: Sequence[float]) -> float | None:
    """Simulated seconds until the next try after attempt number ``attempt`` ended with ``outcome``.

    ``None``: no retry (delivered, aborted, not an event, ``X-Slack-No-Retry``, or retries used up).
    """
    if outcome in ("ok", "aborted") or kind != "events_api" or no_retry or attempt >= len(delays):
        return None
    return float(delays[attempt])


@dataclass(frozen=True, slots=True)
class DisableRule:
    """When Slack turns event delivery off for an app that keeps failing (see the module docstring).

    Disabled once, within the last ``window`` simulated seconds, at least
    ``min_events`` distinct events were attempted and more than ``failure_ratio``
    of the attempts failed. Slack's numbers are the defaults; ``DisableRule(min_events=10)``
    shows it in a small scenario, ``None`` in :class:`HttpDelivery` turns it off.
    """

    window: float = 3600.0
    failure_ratio: float = 0.95
    min_events: int = 1000

    def disabled(self, attempts: Sequence[tuple[float, str, bool]], now: float) -> bool:
        """Whether delivery is disabled at ``now``, given ``(time, event_key, ok)`` per attempt (simulated s)."""
        recent = [(key, ok) for at, key, ok in attempts if now - self.window <= at <= now]
        if not recent or len({key for key, _ in recent}) < self.min_events:
            return False
        failed = sum(1 for _, ok in recent if not ok)
        return failed / len(recent) > self.failure_ratio


@dataclass(frozen=True, slots=True)
class HttpTruth:
    """What the HTTP side did (ground truth), from :attr:`HttpDelivery.truth`.

    * ``attempts`` — one dict per request sent: ``index`` (item), ``event_key``,
      ``event_id``, ``trigger_id``, ``kind``, ``event_type``, ``retry_attempt``,
      ``retry_reason``, ``sent_at`` (epoch s), ``status``, ``ms``, ``outcome``
      (``ok``, ``http_timeout``, ``http_error``, ``connection_failed``,
      ``aborted``), ``no_retry``, ``happened_at`` (epoch s the event happened, as
      stamped in ``event_time``) and ``forged`` (``None``, or ``invalid``/``stale``
      for an attacker's copy sent by the ``forge`` knob; never retried);
    * ``event_rows`` — one dict per item: the same ids, ``attempts``,
      ``delivered`` (a 2xx came back) and ``outcome`` (``delivered``,
      ``failed`` — given up —, ``dropped`` — never sent on purpose —,
      ``disabled`` — not sent because Slack had disabled delivery —, ``pending``
      or ``not_sent``) and ``happened_at``;
    * ``url_verified`` — whether the challenge was answered (``None``: not tried);
    * ``disabled_at`` — epoch seconds delivery was disabled by the :class:`DisableRule`, or ``None``.

    ``pd.DataFrame(truth.attempts)`` gives a table.
    """

    attempts: tuple[dict[str, Any], ...]
    event_rows: tuple[dict[str, Any], ...]
    url_verified: bool | None
    disabled_at: float | None = None

    @property
    def forged(self) -> tuple[dict[str, Any], ...]:
        """The attacker's requests (the ``forge`` knob), not Slack's."""
        return tuple(a for a in self.attempts if a.get("forged"))

    def summary(self) -> dict[str, Any]:
        """Counts: items by outcome, attempts, retries, timeouts, errors, No-Retry stops."""
        outcomes = [r["outcome"] for r in self.event_rows]
        attempts = [a for a in self.attempts if a["kind"] != "url_verification" and not a.get("forged")]
        return {
            "items": len(self.event_rows),
            "delivered": outcomes.count("delivered"),
            "failed": outcomes.count("failed"),
            "dropped": outcomes.count("dropped"),
            "pending": outcomes.count("pending"),
            "not_sent": outcomes.count("not_sent"),
            "disabled": outcomes.count("disabled"),
            "attempts": len(attempts),
            "retries": sum(1 for a in attempts if a["retry_attempt"] > 0),
            "http_timeouts": sum(1 for a in attempts if a["outcome"] == "http_timeout"),
            "http_errors": sum(1 for a in attempts if a["outcome"] == "http_error"),
            "connection_failures": sum(1 for a in attempts if a["outcome"] == "connection_failed"),
            "no_retry_stops": sum(1 for a in attempts if a["no_retry"]),
            "forged": len(self.forged),
            "url_verified": self.url_verified,
            "disabled_at": self.disabled_at,
        }

    def keys(self, outcome: str) -> tuple[str, ...]:
        """Event keys of the items with this outcome (``delivered``, ``failed``, ``dropped``…)."""
        return tuple(r["event_key"] for r in self.event_rows if r["outcome"] == outcome)


def challenge_in(text: str) -> str | None:
    """The challenge from a JSON (``{"challenge": ...}``) or form (``challenge=...``) answer."""
    try:
        data = json.loads(text)
    except ValueError:
        form = parse_qs(text)
        return form.get("challenge", [None])[0]
    return data.get("challenge") if isinstance(data, dict) else None


def delivery_ids(kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``event_key`` (as a capture computes it), ``event_id``, ``trigger_id``, ``kind`` and ``event_type`` of a payload."""
    f = payload_fields(kind, dict(payload))
    key = event_key(
        event_id=f.get("event_id"),
        team_id=f.get("team_id"),
        api_app_id=f.get("api_app_id"),
        trigger_id=f.get("trigger_id"),
        envelope_id=None,
    )
    return {
        "event_key": key,
        "event_id": f.get("event_id"),
        "trigger_id": f.get("trigger_id"),
        "kind": kind,
        "event_type": f.get("event_type"),
    }
