"""Slack's side of delivery bookkeeping, as a pure object driven by ``now`` (no I/O, no clock).

:class:`DeliveryLedger` decides which envelope goes to which connection, when an
unacknowledged envelope is redelivered, and records the **ground truth** a
listener's capture can be checked against. The simulator
(:mod:`slacklab.sim.server`) owns the sockets and calls it; tests drive it with a
fake ``now``.

The rules (Socket Mode facts and observations in ``docs/slack-protocol.md``
§2.4–2.9):

* a connection is *eligible* once it was sent ``hello`` and until it is retired
  (``refresh_requested``…) or closed;
* each delivery gets a **new** ``envelope_id`` (uuid-shaped, derived from the
  ledger's seed and a counter, so runs are reproducible);
* an envelope not acknowledged within ``ack_timeout`` is redelivered with a new
  ``envelope_id``, the same payload, ``retry_attempt`` + 1 and
  ``retry_reason: "timeout"``, at most ``max_retries`` times, on any eligible
  connection (chosen by the injected RNG);
* with no eligible connection, deliveries wait in a queue;
* one ack (on any connection, even late) settles the event; acks for unknown or
  already-acked envelopes are recorded, never errors;
* :meth:`DeliveryLedger.slow_app` plays an app that takes ``delay`` seconds to ack
  the first delivery of every n-th event: its ack counts from ``now + delay``, so
  with ``delay`` over ``ack_timeout`` the event is redelivered meanwhile;
* an ack may carry a response payload: :meth:`DeliveryLedger.response_problem` says
  whether Slack would use it, :meth:`DeliveryLedger.record_response` keeps it (``Truth.responses``);
* :meth:`DeliveryLedger.add_consumer` plays another consumer of the same app
  (another instance, another machine): an eligible connection that acks at once and
  that nobody here reads, so the deliveries it takes are missing from the capture.

Events are identified by the ``key`` the caller passes to :meth:`submit`: the
simulator uses ``slacklab.schema.event_key`` (``app/team/event_id`` for events,
``trigger:<id>`` for slash commands and interactivity), so the truth lines up with
a listener's capture. The ledger is a core module and does not import the
schema itself.

Call order for a driver::

    ledger = DeliveryLedger(ack_timeout=3.0, seed=0)
    ledger.add_connection("s1", now); ledger.hello_sent("s1", now)
    ledger.submit("events_api", payload, now, key="A0SIMAPP/T0SIMTEAM/Ev0ABC")
    for send in ledger.poll(now):        # also on every wake-up
        transmit(send.connection, send.text)
    ledger.ack(envelope_id, now, connection="s1")   # when the client acks
    wake_at = ledger.next_deadline()
    truth = ledger.snapshot()            # an immutable Truth
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import uuid
from collections import deque
from collections.abc import Collection, Mapping
from typing import Any

from slacklab.sim.answers import answer_type, response_problem
from slacklab.sim.records import AckRecord, DeliveryRecord, EventRecord, Send, Truth

__all__ = ["AckRecord", "DeliveryLedger", "DeliveryRecord", "EventRecord", "Send", "Truth"]

_RESPONSE_KINDS = frozenset({"slash_commands", "interactive"})


class DeliveryLedger:
    """Connections, envelopes, deadlines, acks and redeliveries, with no I/O.

    Args:
        ack_timeout: seconds (in the caller's clock) before an unacked envelope is redelivered.
        max_retries: redeliveries per event (Slack: 3, so at most 4 deliveries).
        seed: seeds the envelope ids and, unless ``rng`` is given, the connection choice.
        rng: the RNG that picks a connection for each delivery.
        max_in_flight: at most this many unacked, unexpired envelopes at once (``None``: no cap).
    """

    def __init__(
        self,
        *,
        ack_timeout: float = 3.0,
        max_retries: int = 3,
        seed: int = 0,
        rng: random.Random | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError("ack_timeout must be > 0")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1 or None")
        self.ack_timeout = float(ack_timeout)
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self._seed = seed
        self._rng = rng if rng is not None else random.Random(seed)
        self._serial = 0
        self._connections: dict[str, str] = {}  # id -> "open" | "eligible" | "retiring" | "closed"
        self._events: list[EventRecord] = []
        self._deliveries: list[DeliveryRecord] = []
        self._by_envelope: dict[str, DeliveryRecord] = {}
        self._outstanding: dict[str, DeliveryRecord] = {}
        self._deadlines: list[tuple[float, int, str]] = []  # heap of (deadline, serial, envelope_id)
        self._queue: deque[tuple[int, int]] = deque()  # (event index, retry attempt)
        self._acks: list[AckRecord] = []
        self._unsettled = 0
        self._consumers: set[str] = set()
        self._held = 0
        self._slow: tuple[float, int] | None = None  # (delay, every)
        self._slow_keys: frozenset[str] | None = None
        self._delayed_acks: list[tuple[float, int, str, str | None]] = []  # heap of (at, serial, envelope, connection)
        self._responses: list[dict[str, Any]] = []

    # ------------------------------------------------------------ connections

    def add_connection(self, connection: str, now: float) -> None:
        """A WebSocket was accepted; not eligible until :meth:`hello_sent`."""
        self._connections[connection] = "open"

    def hello_sent(self, connection: str, now: float) -> None:
        """``hello`` went out on ``connection``: it may now receive deliveries."""
        if self._connections.get(connection) in (None, "open"):
            self._connections[connection] = "eligible"

    def retire(self, connection: str, now: float) -> None:
        """Stop delivering to ``connection`` (refresh, disconnect sent); it may still ack."""
        if self._connections.get(connection) != "closed":
            self._connections[connection] = "retiring"

    def close(self, connection: str, now: float) -> None:
        """The socket is gone. Its unacked envelopes are redelivered when their deadline passes."""
        self._connections[connection] = "closed"

    def add_consumer(self, connection: str, now: float) -> None:
        """Another consumer of the same app connects: eligible at once, acks every envelope it gets."""
        self._connections[connection] = "eligible"
        self._consumers.add(connection)

    def slow_app(self, delay: float | None, every: int = 1, keys: Collection[str] | None = None) -> None:
        """Acks of the first delivery of every ``every``-th event (or of the events with these
        ``keys``) count ``delay`` s late (``None``: off)."""
        if every < 1:
            raise ValueError("every must be >= 1")
        self._slow = None if delay is None or delay <= 0 else (float(delay), int(every))
        self._slow_keys = None if keys is None else frozenset(keys)

    def _is_slow(self, event: EventRecord) -> bool:
        assert self._slow is not None
        if self._slow_keys is not None:
            return event.event_key in self._slow_keys
        return (event.index + 1) % self._slow[1] == 0

    def connection_state(self, connection: str) -> str | None:
        """``open`` (no hello yet), ``eligible``, ``retiring``, ``closed`` or ``None`` if unknown."""
        return self._connections.get(connection)

    @property
    def eligible(self) -> tuple[str, ...]:
        """Connections that may receive deliveries, in the order they were added."""
        return tuple(c for c, s in self._connections.items() if s == "eligible")

    # ----------------------------------------------------------------- events

    def submit(
        self,
        kind: str,
        payload: Mapping[str, Any],
        now: float,
        *,
        key: str | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
        accepts_response_payload: bool | None = None,
        replayed: bool = False,
    ) -> EventRecord:
        """Queue a new event for its first delivery; returns its record.

        ``key`` identifies the event in the truth (default ``item:<n>``);
        ``event_id`` and ``event_type`` are copied into the records as given.
        ``accepts_response_payload`` defaults to true for ``slash_commands`` and
        ``interactive``, false otherwise. ``replayed`` marks its envelopes
        (``"slacklab_replay": true``) as sent again from a capture, not by Slack.
        """
        index = len(self._events)
        key = key or f"item:{index}"
        record = EventRecord(
            index=index,
            kind=kind,
            payload=payload,
            accepts_response_payload=(
                kind in _RESPONSE_KINDS if accepts_response_payload is None else accepts_response_payload
            ),
            event_key=key,
            event_id=event_id,
            event_type=event_type,
            submitted_at=now,
            replayed=replayed,
        )
        self._events.append(record)
        self._unsettled += 1
        self._queue.append((index, 0))
        return record

    def _envelope_id(self) -> str:
        self._serial += 1
        digest = hashlib.sha256(f"slacklab-sim:{self._seed}:{self._serial}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def _expire(self, now: float) -> None:
        """Apply delayed acks and deadlines up to ``now``, in time order (an ack at a deadline wins)."""
        while True:
            ack_at = self._delayed_acks[0][0] if self._delayed_acks else None
            deadline = self._deadlines[0][0] if self._deadlines else None
            if ack_at is not None and ack_at <= now and (deadline is None or ack_at <= deadline):
                at, _, envelope_id, connection = heapq.heappop(self._delayed_acks)
                self._apply_ack(envelope_id, at, connection)
            elif deadline is not None and deadline <= now:
                self._expire_one()
            else:
                return

    def _expire_one(self) -> None:
        _, _, envelope_id = heapq.heappop(self._deadlines)
        delivery = self._outstanding.pop(envelope_id, None)
        if delivery is None:
            return  # acked in time
        delivery.timed_out = True
        event = self._events[delivery.event_index]
        if event.settled:
            return
        if delivery.retry_attempt < self.max_retries:
            self._queue.append((event.index, delivery.retry_attempt + 1))
        else:
            event.exhausted = True
            self._unsettled -= 1

    def poll(self, now: float, *, dispatch: bool = True) -> list[Send]:
        """Expire deadlines (queueing redeliveries), then, if ``dispatch``, assign queued
        deliveries to eligible connections. Returns what to transmit now."""
        self._expire(now)
        sends: list[Send] = []
        if not dispatch:
            return sends
        eligible = self.eligible
        while self._queue and eligible:
            if self.max_in_flight is not None and len(self._outstanding) >= self.max_in_flight:
                break
            index, attempt = self._queue.popleft()
            event = self._events[index]
            if event.settled:
                continue
            connection = eligible[0] if len(eligible) == 1 else self._rng.choice(eligible)
            send = self._send(event, attempt, connection, now)
            if connection in self._consumers:
                self.ack(send.envelope_id, now, connection=connection)  # the other consumer's, unseen here
            else:
                sends.append(send)
        return sends

    def _send(self, event: EventRecord, attempt: int, connection: str, now: float) -> Send:
        envelope_id = self._envelope_id()
        reason = "timeout" if attempt else ""
        frame: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": event.payload,
            "type": event.kind,
            "accepts_response_payload": event.accepts_response_payload,
        }
        if event.kind == "events_api":
            frame["retry_attempt"] = attempt
            frame["retry_reason"] = reason
        if event.replayed:
            frame["slacklab_replay"] = True
        delivery = DeliveryRecord(
            envelope_id=envelope_id,
            event_key=event.event_key,
            event_index=event.index,
            kind=event.kind,
            event_id=event.event_id,
            event_type=event.event_type,
            retry_attempt=attempt,
            retry_reason=reason,
            connection=connection,
            sent_at=now,
            deadline=now + self.ack_timeout,
        )
        event.attempts += 1
        self._deliveries.append(delivery)
        self._by_envelope[envelope_id] = delivery
        self._outstanding[envelope_id] = delivery
        heapq.heappush(self._deadlines, (delivery.deadline, self._serial, envelope_id))
        text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
        return Send(connection, envelope_id, text, event.event_key, attempt)

    def ack(self, envelope_id: str, now: float, *, connection: str | None = None) -> AckRecord:
        """Record an ack from the client. Unknown and repeated acks are recorded too.

        Under :meth:`slow_app` the ack of a slow event's first delivery is held and
        counts from ``now + delay`` (:meth:`poll` applies it); the record returned then
        says when it will count.
        """
        delivery = self._by_envelope.get(envelope_id)
        if self._slow is not None and delivery is not None and delivery.retry_attempt == 0:
            delay = self._slow[0]
            if self._is_slow(self._events[delivery.event_index]) and delivery.acked_at is None:
                self._held += 1
                heapq.heappush(self._delayed_acks, (now + delay, self._held, envelope_id, connection))
                late = now + delay > delivery.deadline
                return AckRecord(envelope_id, now + delay, connection, delivery.event_key, True, late, False)
        return self._apply_ack(envelope_id, now, connection)

    def _apply_ack(self, envelope_id: str, now: float, connection: str | None) -> AckRecord:
        delivery = self._by_envelope.get(envelope_id)
        if delivery is None:
            record = AckRecord(envelope_id, now, connection, None, False, False, False)
        else:
            duplicate = delivery.acked_at is not None
            late = now > delivery.deadline
            record = AckRecord(envelope_id, now, connection, delivery.event_key, True, late, duplicate)
            if not duplicate:
                delivery.acked_at = now
                delivery.ack_late = late
                self._outstanding.pop(envelope_id, None)
                event = self._events[delivery.event_index]
                if event.acked_at is None:
                    if not event.exhausted:
                        self._unsettled -= 1
                    event.acked_at = now
                    event.acked_envelope = envelope_id
        self._acks.append(record)
        return record

    def request(self, envelope_id: str) -> tuple[str, Mapping[str, Any]] | None:
        """``(kind, payload)`` of the event an envelope carried, or ``None`` if unknown."""
        delivery = self._by_envelope.get(envelope_id)
        return None if delivery is None else (delivery.kind, self._events[delivery.event_index].payload)

    def response_problem(self, record: AckRecord, response: Any) -> str | None:
        """Why Slack would ignore the response payload that came with the ack ``record`` (``None``: it uses it)."""
        delivery = self._by_envelope.get(record.envelope_id)
        accepts = delivery is not None and self._events[delivery.event_index].accepts_response_payload
        late, dup = record.late, record.duplicate
        return response_problem(known=record.known, accepts=accepts, late=late, duplicate=dup, response=response)

    def record_response(self, record: AckRecord, response: Any, *, effect: str | None, error: str | None) -> None:
        """Keep an answer that came with an ack, with what Slack did (``effect``) or why not (``error``)."""
        kind, request = self.request(record.envelope_id) or (None, {})
        self._responses.append(
            {"envelope_id": record.envelope_id, "at": record.at, "connection": record.connection}
            | {"event_key": record.event_key, "kind": kind, "type": kind and answer_type(kind, request)}
            | {"response": response, "effect": effect, "error": error}
        )

    # ----------------------------------------------------------------- status

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`poll` has something to expire (or a held ack to apply), or ``None``."""
        while self._deadlines and self._deadlines[0][2] not in self._outstanding:
            heapq.heappop(self._deadlines)
        times = [heap[0][0] for heap in (self._deadlines, self._delayed_acks) if heap]
        return min(times) if times else None

    @property
    def in_flight(self) -> int:
        """Envelopes sent, not acked, deadline not yet processed."""
        return len(self._outstanding)

    @property
    def queued(self) -> int:
        """Deliveries waiting for an eligible connection (or for room under ``max_in_flight``)."""
        return sum(1 for index, _ in self._queue if not self._events[index].settled)

    @property
    def done(self) -> bool:
        """Every submitted event was acked or gave up after its last retry."""
        return self._unsettled == 0

    @property
    def unsettled(self) -> int:
        """Events neither acked nor given up yet."""
        return self._unsettled

    @property
    def events(self) -> tuple[EventRecord, ...]:
        return tuple(self._events)

    def delivery(self, envelope_id: str) -> DeliveryRecord | None:
        """The record of one envelope, or ``None``."""
        return self._by_envelope.get(envelope_id)

    def snapshot(self, clock_offset: float = 0.0) -> Truth:
        """An immutable :class:`Truth`; ``clock_offset`` is added to every time (e.g. to make epoch seconds)."""

        def t(value: float | None) -> float | None:
            return None if value is None else value + clock_offset

        deliveries = tuple(
            {
                "envelope_id": d.envelope_id,
                "event_key": d.event_key,
                "event_id": d.event_id,
                "kind": d.kind,
                "event_type": d.event_type,
                "retry_attempt": d.retry_attempt,
                "retry_reason": d.retry_reason,
                "connection": d.connection,
                "sent_at": t(d.sent_at),
                "deadline": t(d.deadline),
                "acked_at": t(d.acked_at),
                "ack_late": d.ack_late,
                "status": d.status,
            }
            for d in self._deliveries
        )
        acks = tuple(
            {
                "envelope_id": a.envelope_id,
                "at": t(a.at),
                "connection": a.connection,
                "event_key": a.event_key,
                "known": a.known,
                "late": a.late,
                "duplicate": a.duplicate,
            }
            for a in self._acks
        )
        rows = tuple(
            {
                "event_key": e.event_key,
                "kind": e.kind,
                "event_type": e.event_type,
                "deliveries": e.attempts,
                "acked": e.acked_at is not None,
                "acked_at": t(e.acked_at),
                "exhausted": e.exhausted,
                "settled": e.settled,
                "replayed": e.replayed,
            }
            for e in self._events
        )
        return Truth(
            events=tuple(e.event_key for e in self._events),
            deliveries=deliveries,
            acks=acks,
            event_rows=rows,
            queued=self.queued,
            in_flight=self.in_flight,
            responses=tuple({**r, "at": t(r["at"])} for r in self._responses),
        )

    def __repr__(self) -> str:
        return (
            f"<DeliveryLedger events={len(self._events)} deliveries={len(self._deliveries)} "
            f"in_flight={self.in_flight} queued={self.queued} eligible={list(self.eligible)}>"
        )
