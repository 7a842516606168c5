"""Send captured deliveries again, re-signed: :func:`replay`.

Anything :func:`slacklab.load` reads (a Socket Mode journal, a HAR, an ngrok
export, a receiver log), a capture, or a deliveries DataFrame you filtered goes
to an HTTP endpoint — your app, or :func:`slacklab.receive_http` — or into a
running :class:`~slacklab.sim.server.Simulator` as Socket Mode envelopes::

    result = slacklab.replay("capture.har", to="http://127.0.0.1:3000/slack/events",
                             signing_secret=os.environ["SLACK_SIGNING_SECRET"])
    result                        # what was sent and how the endpoint answered

    cap = slacklab.load("capture.har")
    mentions = cap.df[cap.df.event_type == "app_mention"]
    slacklab.replay(mentions, to=url, signing_secret=secret, edit=lambda p, row: {**p, "is_test": True})

Why re-sign: Slack signs ``v0:<timestamp>:<body>`` and receivers refuse timestamps
more than five minutes old, so a request replayed as recorded fails as *stale*
(and an edited one as *invalid*). :func:`replay` signs every body again with the
secret you give and a fresh ``X-Slack-Request-Timestamp``, so a receiver with
that secret says ``valid``, and one with another secret says ``invalid``.

What is sent: the ``payload`` column, which slacklab keeps with secrets masked
(the deprecated verification ``token``, ``response_url``…), so they arrive masked;
apps that verify signatures, as Slack asks, do not read them. Events go as JSON,
slash commands and interactivity form-encoded, like Slack. Every request carries
``X-Slacklab-Replay: 1`` (envelopes: ``"slacklab_replay": true``), so a slacklab
capture records it with ``replayed=True``. Deliveries whose captured signature was
``invalid`` are skipped unless ``include_invalid``: re-signing a forgery would launder
it. ``retry_headers=True`` keeps each
delivery's ``X-Slack-Retry-Num``/``-Reason``; ``False`` strips them. Other kinds
(``url_verification``…) and rows without a payload are skipped and counted.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from slacklab.errors import SlacklabError
from slacklab.http.signing import INVALID
from slacklab.loader import load
from slacklab.redact import mask_text
from slacklab.sim.http_rules import DELIVERABLE_KINDS, HttpTruth
from slacklab.sim.http_sender import HttpDelivery
from slacklab.sim.scenario import ScenarioItem
from slacklab.sim.server import Simulator

__all__ = ["REPLAY_HEADER", "Replayed", "replay"]

REPLAY_HEADER = "X-Slacklab-Replay"
"""Added (``1``) to every replayed request; the receiver records those rows with ``replayed=True``."""

Edit = Callable[[dict[str, Any], "pd.Series[Any]"], dict[str, Any] | None]


@dataclass(frozen=True)
class Replayed:
    """What :func:`replay` did: ``sent``, ``accepted`` (2xx), ``failed``, ``skipped`` (by reason),
    ``statuses`` (HTTP status → count) and the sender's ``truth`` (``None`` for envelopes)."""

    target: str
    sent: int
    accepted: int
    failed: int
    skipped: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    truth: HttpTruth | None = None

    def __repr__(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items()) or "none"
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(self.statuses.items())) or "—"
        return (
            f"<Replayed to {mask_text(self.target)}: {self.sent} sent, {self.accepted} accepted, "
            f"{self.failed} failed; statuses {statuses}; skipped {skipped}>"
        )


def _deliveries(data: Any, load_secret: str | None) -> pd.DataFrame:
    if isinstance(data, str | Path):
        data = load(data, load_secret)
    if isinstance(data, pd.DataFrame):
        return data
    if callable(getattr(data, "deliveries", None)):
        return data.deliveries()
    raise TypeError(f"replay() takes a path, a capture or a deliveries DataFrame, not {type(data).__name__}")


def _items(
    df: pd.DataFrame, edit: Edit | None, speed: float, include_invalid: bool
) -> tuple[list[ScenarioItem], list[dict[str, str]], Counter[str]]:
    """Scenario items (``at``: seconds after the first, divided by ``speed``), their retry headers, and skips."""
    skipped: Counter[str] = Counter()
    items: list[ScenarioItem] = []
    retry: list[dict[str, str]] = []
    if df.empty:
        return items, retry, skipped
    ordered = df.sort_values("received_at", kind="stable")
    times = pd.to_datetime(ordered["received_at"], utc=True)
    start = times.min()
    for (_, row), when in zip(ordered.iterrows(), times, strict=True):
        kind = row.get("kind")
        if kind not in DELIVERABLE_KINDS:
            skipped[f"{kind or 'unknown'} (not a delivery to replay)"] += 1
            continue
        if row.get("signature") == INVALID and not include_invalid:
            skipped["invalid signature in the capture (forged?)"] += 1
            continue
        raw = row.get("payload")
        try:
            payload = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            skipped["no payload"] += 1
            continue
        if edit is not None:
            payload = edit(payload, row)
            if payload is None:
                skipped["edit returned None"] += 1
                continue
        offset = (when - start).total_seconds() if pd.notna(when) and pd.notna(start) else 0.0
        at = 0.0 if math.isinf(speed) else offset / speed
        items.append(ScenarioItem(at, str(kind), payload))
        attempt = pd.to_numeric(row.get("retry_attempt"), errors="coerce")
        headers: dict[str, str] = {}
        if pd.notna(attempt) and attempt > 0:
            reason = row.get("retry_reason")
            headers = {"X-Slack-Retry-Num": str(int(attempt)), "X-Slack-Retry-Reason": str(reason or "")}
        retry.append(headers)
    return items, retry, skipped


def replay(
    data: Any,
    to: str | Simulator,
    *,
    signing_secret: str | None = None,
    edit: Edit | None = None,
    retry_headers: bool = True,
    speed: float | None = None,
    timeout: float = 3.0,
    load_secret: str | None = None,
    include_invalid: bool = False,
    wait: float = 60.0,
) -> Replayed:
    """Send captured deliveries to ``to`` again, re-signed with a fresh timestamp (see the module docstring).

    Args:
        data: a path :func:`slacklab.load` reads, a capture, or a deliveries DataFrame (filter it first).
        to: an ``http(s)://`` Request URL, or a running :class:`~slacklab.sim.server.Simulator`
            (then they go out as Socket Mode envelopes to whoever is connected).
        signing_secret: signs each request (HTTP); default ``SLACK_SIGNING_SECRET``.
        edit: ``(payload, row) -> payload`` applied first; return ``None`` to skip a delivery.
        retry_headers: keep each delivery's retry headers (``False``: strip them).
        speed: ``None`` sends as fast as possible; a number keeps the original spacing
            divided by it (``1``: as it happened).
        timeout: seconds to wait for each answer (HTTP).
        load_secret: the secret to check signatures with when ``data`` is a path (optional).
        include_invalid: also replay deliveries whose captured signature was ``invalid``
            (skipped by default: re-signing a forgery would launder it).
        wait: seconds to wait for everything to be sent and answered.

    Raises:
        SlacklabError: no signing secret for an HTTP target, or a target that is neither.

    Next: read the :class:`Replayed` result; a slacklab capture at the target has ``replayed=True`` rows.
    """
    df = _deliveries(data, load_secret)
    rate = math.inf if speed is None else float(speed)
    if not rate > 0:
        raise ValueError("speed must be > 0, or None for as fast as possible")
    items, retry, skipped = _items(df, edit, rate, include_invalid)
    if isinstance(to, Simulator):
        added = to.add(items, replayed=True)
        return Replayed(f"simulator {to.ws_url}", added, added, 0, dict(skipped))
    if not isinstance(to, str) or not to.startswith(("http://", "https://")):
        raise SlacklabError(f"replay() sends to an http(s):// URL or a Simulator, not {mask_text(str(to))!r}")
    secret = signing_secret or os.environ.get("SLACK_SIGNING_SECRET", "").strip() or None
    if secret is None:
        raise SlacklabError(
            "replay() re-signs every request and needs the receiving app's signing secret: "
            "pass signing_secret=... or set SLACK_SIGNING_SECRET"
        )
    sender = HttpDelivery(
        items,
        to,
        signing_secret=secret,
        speed=None if math.isinf(rate) else 1.0,  # item times are already wall seconds
        timeout=timeout,
        retry_delays=(),
        verify_url=False,
        disable=None,
        event_times="scenario",
        headers={REPLAY_HEADER: "1"},
        item_headers={i: h for i, h in enumerate(retry) if h and retry_headers},
        workers=1,  # one at a time: the order stays the captured order
    )
    with sender:
        sender.wait_done(timeout=wait)
    truth = sender.truth
    statuses = Counter(int(a["status"]) for a in truth.attempts if a["status"] is not None)
    accepted = sum(1 for a in truth.attempts if a["outcome"] == "ok")
    return Replayed(
        to, len(truth.attempts), accepted, len(truth.attempts) - accepted, dict(skipped), dict(statuses), truth
    )
