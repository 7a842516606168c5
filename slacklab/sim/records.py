"""What the simulated Slack sent and what came back: the ledger's records and :class:`Truth` (pure).

:class:`~slacklab.sim.ledger.DeliveryLedger` keeps one :class:`EventRecord` per
submitted item, one :class:`DeliveryRecord` per envelope sent and one
:class:`AckRecord` per ack received, and hands out :class:`Send` instructions.
:meth:`~slacklab.sim.ledger.DeliveryLedger.snapshot` freezes them into a
:class:`Truth`, the ground truth a capture is checked against
(``Simulator.truth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AckRecord", "DeliveryRecord", "EventRecord", "Send", "Truth"]


@dataclass(frozen=True, slots=True)
class Send:
    """An envelope to write now: ``text`` (the JSON frame) on ``connection``."""

    connection: str
    envelope_id: str
    text: str
    event_key: str
    retry_attempt: int


@dataclass(slots=True)
class DeliveryRecord:
    """One envelope sent (ground truth). Times are in the ledger's clock."""

    envelope_id: str
    event_key: str
    event_index: int
    kind: str
    event_id: str | None
    event_type: str | None
    retry_attempt: int
    retry_reason: str
    connection: str
    sent_at: float
    deadline: float
    acked_at: float | None = None
    ack_late: bool | None = None
    timed_out: bool = False

    @property
    def status(self) -> str:
        """``acked``, ``timed_out`` (then redelivered or given up) or ``pending``."""
        if self.acked_at is not None:
            return "acked"
        return "timed_out" if self.timed_out else "pending"


@dataclass(frozen=True, slots=True)
class AckRecord:
    """One ack received. ``known`` false: no such envelope; ``duplicate``: it was acked before;
    ``late``: it came after the envelope's deadline."""

    envelope_id: str
    at: float
    connection: str | None
    event_key: str | None
    known: bool
    late: bool
    duplicate: bool


@dataclass(slots=True)
class EventRecord:
    """One submitted item and what became of it."""

    index: int
    kind: str
    payload: Mapping[str, Any] = field(repr=False)
    accepts_response_payload: bool
    event_key: str
    event_id: str | None
    event_type: str | None
    submitted_at: float
    attempts: int = 0
    acked_at: float | None = None
    acked_envelope: str | None = None
    exhausted: bool = False
    """All retries timed out without an ack."""
    replayed: bool = False
    """Sent again from a capture by ``slacklab.replay``: its envelopes carry ``"slacklab_replay": true``."""

    @property
    def settled(self) -> bool:
        return self.acked_at is not None or self.exhausted


@dataclass(frozen=True, slots=True)
class Truth:
    """An immutable snapshot of what Slack's side did (from :meth:`DeliveryLedger.snapshot`).

    * ``events`` — event keys (as given to :meth:`DeliveryLedger.submit`) in submission order;
    * ``deliveries`` — one dict per envelope sent: ``envelope_id``, ``event_key``,
      ``event_id``, ``kind``, ``event_type``, ``retry_attempt``, ``retry_reason``,
      ``connection``, ``sent_at``, ``deadline``, ``acked_at``, ``ack_late``, ``status``;
    * ``acks`` — one dict per ack received: ``envelope_id``, ``at``, ``connection``,
      ``event_key``, ``known``, ``late``, ``duplicate``;
    * ``event_rows`` — one dict per event: ``event_key``, ``kind``, ``event_type``,
      ``deliveries``, ``acked``, ``acked_at``, ``exhausted``, ``settled``, ``replayed``;
    * ``responses`` — one dict per ack that carried a response payload: ``envelope_id``,
      ``at``, ``connection``, ``event_key``, ``kind``, ``type`` (``/deploy``,
      ``block_suggestion``…), ``response`` (as sent), ``effect`` (what Slack did:
      ``in_channel``, ``options``, ``errors``…) and ``error`` (why it was ignored), see
      :mod:`slacklab.sim.answers`.

    ``pd.DataFrame(truth.deliveries)`` gives a table. Times are epoch seconds
    when the simulator made the snapshot, else the ledger's clock.
    """

    events: tuple[str, ...]
    deliveries: tuple[dict[str, Any], ...]
    acks: tuple[dict[str, Any], ...]
    event_rows: tuple[dict[str, Any], ...]
    queued: int
    in_flight: int
    responses: tuple[dict[str, Any], ...] = ()

    @property
    def acked_events(self) -> frozenset[str]:
        """Keys of events acked at least once."""
        return frozenset(r["event_key"] for r in self.event_rows if r["acked"])

    @property
    def unacked_events(self) -> tuple[str, ...]:
        """Keys of events never acked (still pending or given up), in order."""
        return tuple(r["event_key"] for r in self.event_rows if not r["acked"])

    @property
    def lost_events(self) -> tuple[str, ...]:
        """Keys of events whose retries were all used up without an ack."""
        return tuple(r["event_key"] for r in self.event_rows if r["exhausted"] and not r["acked"])

    @property
    def retries(self) -> tuple[dict[str, Any], ...]:
        """Deliveries with ``retry_attempt`` > 0."""
        return tuple(d for d in self.deliveries if d["retry_attempt"] > 0)

    def deliveries_of(self, key: str) -> tuple[dict[str, Any], ...]:
        """Every delivery of the event with this key, in order."""
        return tuple(d for d in self.deliveries if d["event_key"] == key)

    def summary(self) -> dict[str, int]:
        """Counts: events, deliveries, retries, acks (late, unknown, duplicate), acked/unacked/lost events."""
        return {
            "events": len(self.events),
            "deliveries": len(self.deliveries),
            "retries": len(self.retries),
            "acks": len(self.acks),
            "late_acks": sum(1 for a in self.acks if a["late"]),
            "unknown_acks": sum(1 for a in self.acks if not a["known"]),
            "duplicate_acks": sum(1 for a in self.acks if a["duplicate"]),
            "acked_events": len(self.acked_events),
            "unacked_events": len(self.unacked_events),
            "lost_events": len(self.lost_events),
            "queued": self.queued,
            "in_flight": self.in_flight,
        }
