"""Slack's HTTP side, simulated: deliver a scenario to a Request URL the way Slack would.

:class:`HttpDelivery` plays the items of a :class:`~slacklab.sim.scenario.Scenario`
(anything with ``.at``, ``.kind``, ``.payload``) to a URL — usually a
:func:`slacklab.http.receiver.receive_http` endpoint — so the same events (same
``event_id``\\s, same payloads) the Socket Mode :class:`~slacklab.sim.server.Simulator`
plays can be captured over HTTP too, and the two compared::

    cap = slacklab.receive_http(signing_secret=FAKE_SIGNING_SECRET)
    with HttpDelivery(scenario, cap.url, speed=20) as sender:
        sender.wait_done(timeout=60)
    sender.truth.summary()        # what was sent, answered, retried, given up

What it does (Slack's rules, in :mod:`slacklab.sim.http_rules`; see ``docs/http-vs-socket.md``):

* a signed ``url_verification`` challenge first (unanswered: nothing else is sent);
* each item at ``at / speed`` s after the clock starts (:meth:`start`, or :meth:`start_clock`
  with ``hold_clock=True``), ``event_time`` stamped with that moment (``event_times="wall"``),
  encoded as Slack does and signed with a fresh timestamp;
* no 2xx within ``timeout`` (Slack: 3 s): **events** are retried after ``retry_delays`` with
  ``X-Slack-Retry-Num``/``-Reason``, unless the answer said ``X-Slack-No-Retry: 1``;
* ``disable``: sustained failures turn delivery off; ``drop``: items Slack never sends;
  ``forge``: an attacker's ``invalid`` or ``stale`` copy of an item, beside Slack's delivery.

Everything it did is in :attr:`HttpDelivery.truth` (an :class:`HttpTruth`).
One scheduler thread (daemon) plus a few sender threads; :meth:`close`
aborts requests in flight and joins them all.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from slacklab.http.signing import MAX_SKEW_SECONDS, sign
from slacklab.redact import mask_text
from slacklab.sim.http_post import Answer, Poster, send_challenge
from slacklab.sim.http_rules import (
    DELIVERABLE_KINDS,
    FAKE_SIGNING_SECRET,
    FORGERIES,
    RETRY_DELAYS,
    DisableRule,
    HttpTruth,
    delivery_ids,
    encode_body,
    retry_delay,
)
from slacklab.sim.playback import EVENT_TIMES, happened_at, stamp_times

__all__ = [
    "DELIVERABLE_KINDS",
    "FAKE_SIGNING_SECRET",
    "RETRY_DELAYS",
    "DisableRule",
    "HttpDelivery",
    "HttpTruth",
    "encode_body",
]

log = logging.getLogger("slacklab.sim.http_sender")

_FORGER_SECRET = "forged-by-someone-without-the-secret"


class _Item(Protocol):
    @property
    def at(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


@dataclass(slots=True)
class _Event:
    index: int
    kind: str
    payload: Mapping[str, Any]
    at: float
    ids: dict[str, Any]
    attempts: int = 0
    outcome: str = "pending"
    happened: float | None = None


@dataclass(order=True, slots=True)
class _Job:
    due: float
    seq: int
    event: _Event = field(compare=False)
    attempt: int = field(compare=False, default=0)
    reason: str | None = field(compare=False, default=None)
    forged: str | None = field(compare=False, default=None)


class HttpDelivery:
    """Deliver scenario items to ``url`` over HTTP like Slack (see the module docstring).

    Args:
        items: a :class:`~slacklab.sim.scenario.Scenario` or items with ``.at``,
            ``.kind``, ``.payload`` (kinds other than events, slash commands and
            interactivity are not sent and count as ``not_sent``).
        url: the Request URL (``http://`` or ``https://``).
        signing_secret: signs every request (default :data:`FAKE_SIGNING_SECRET`).
        speed: simulated seconds per wall second (``None``: as fast as possible);
            divides item times and retry delays.
        timeout: wall seconds to wait for an answer (Slack: 3).
        retry_delays: simulated seconds before each retry; ``()`` disables retries.
        verify_url: send the ``url_verification`` challenge first.
        drop: item indices (in time order) never to send (play lost events).
        forge: item index → ``"invalid"`` or ``"stale"``: an attacker's copy sent too.
        disable: Slack's disabling rule (:class:`DisableRule`); ``None``: never disabled.
        event_times: ``"wall"`` stamps each event with when it happens in this run;
            ``"scenario"`` sends payloads exactly as given (replays).
        hold_clock: wait for :meth:`start_clock` before sending items (after the challenge).
        headers: extra headers on every request (``X-Slacklab-Replay: 1`` for replays).
        item_headers: item index → extra headers for that item's first attempt.
        workers: requests in flight at once.
        start: start now (else call :meth:`start` or use ``with``).

    Next: :meth:`wait_done`, then :attr:`truth`; :meth:`close` when finished.
    """

    def __init__(
        self,
        items: Iterable[_Item],
        url: str,
        *,
        signing_secret: str = FAKE_SIGNING_SECRET,
        speed: float | None = 1.0,
        timeout: float = 3.0,
        retry_delays: Iterable[float] = RETRY_DELAYS,
        verify_url: bool = True,
        drop: Collection[int] = (),
        forge: Mapping[int, str] | None = None,
        disable: DisableRule | None = DisableRule(),  # noqa: B008 - frozen, so sharing it is safe
        event_times: str = "wall",
        hold_clock: bool = False,
        headers: Mapping[str, str] | None = None,
        item_headers: Mapping[int, Mapping[str, str]] | None = None,
        workers: int = 4,
        start: bool = False,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http:// or https:// URL, not {mask_text(url)!r}")
        speed = math.inf if speed is None else float(speed)
        if not speed > 0:
            raise ValueError("speed must be > 0 (or None for as fast as possible)")
        if timeout <= 0 or workers < 1:
            raise ValueError("timeout must be > 0 and workers >= 1")
        if event_times not in EVENT_TIMES:
            raise ValueError(f"event_times must be one of {EVENT_TIMES}, not {event_times!r}")
        self.forge = dict(forge or {})
        if bad := {v for v in self.forge.values() if v not in FORGERIES}:
            raise ValueError(f"forge values must be {' or '.join(FORGERIES)}, not {sorted(bad)}")
        self.url = url
        self.signing_secret = signing_secret
        sign(signing_secret, 0, b"")  # validates and registers the secret for masking
        self.speed = speed
        self.timeout = float(timeout)
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.verify_url = verify_url
        self.disable = disable
        self.event_times = event_times
        self.headers = dict(headers or {})
        self.item_headers = {int(k): dict(v) for k, v in (item_headers or {}).items()}
        self.workers = workers
        ordered = sorted(enumerate(items), key=lambda pair: (float(pair[1].at), pair[0]))
        self._events = [self._event(n, item) for n, (_, item) in enumerate(ordered)]
        dropped = set(drop)
        for event in self._events:
            if event.kind not in DELIVERABLE_KINDS:
                event.outcome = "not_sent"
            elif event.index in dropped:
                event.outcome = "dropped"
        self._attempts: list[dict[str, Any]] = []
        self._history: list[tuple[float, str, bool]] = []  # (simulated s, event key, ok) for the DisableRule
        self._url_verified: bool | None = None
        self._disabled_at: float | None = None
        self._lock = threading.Condition()
        self._heap: list[_Job] = []
        self._seq = 0
        self._poster = Poster(parts, self.timeout)
        self._closing = False
        self._hold = hold_clock
        self._clock: tuple[float, float] | None = None  # (monotonic, epoch) when the clock started
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        if start:
            self.start()

    @staticmethod
    def _event(index: int, item: _Item) -> _Event:
        payload = dict(item.payload)
        return _Event(index, item.kind, payload, float(item.at), delivery_ids(item.kind, payload))

    # ------------------------------------------------------------ lifecycle

    def start(self) -> HttpDelivery:
        """Start delivering in a daemon thread; returns at once."""
        with self._lock:
            if self._thread is not None:
                return self
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="slacklab-http-send")
            self._thread = threading.Thread(target=self._run, name="slacklab-http-delivery", daemon=True)
            self._thread.start()
        return self

    def start_clock(self, at: float | None = None, epoch: float | None = None) -> None:
        """Start the scenario clock at monotonic ``at`` (default now), ``epoch`` being the same moment
        in epoch seconds; :class:`~slacklab.sim.dual.DualSimulator` gives both transports one clock this way."""
        mono = time.monotonic() if at is None else at
        with self._lock:
            if self._clock is None:
                self._clock = (mono, time.time() - (time.monotonic() - mono) if epoch is None else epoch)
            self._lock.notify_all()

    @property
    def url_verified(self) -> bool | None:
        """Whether the Request URL answered the challenge (``None``: not yet, or not tried)."""
        with self._lock:
            return self._url_verified

    def close(self, timeout: float = 10.0) -> None:
        """Stop: no new requests, abort those in flight, join every thread. Idempotent."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self._poster.abort_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> HttpDelivery:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _settled(self) -> bool:
        return all(e.outcome != "pending" for e in self._events)

    @property
    def done(self) -> bool:
        """True when every item is settled (delivered, given up, dropped, disabled or not sent) or it was closed."""
        with self._lock:
            return self._closing or self._settled()

    def wait_done(self, timeout: float | None = None) -> bool:
        """Block until :attr:`done` (or ``timeout`` seconds); returns :attr:`done`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not (self._closing or self._settled()):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(0.5 if left is None else min(left, 0.5))
        return self.done

    @property
    def truth(self) -> HttpTruth:
        """An immutable snapshot of everything sent and answered so far."""
        with self._lock:
            rows = tuple(
                {
                    "index": e.index,
                    **e.ids,
                    "attempts": e.attempts,
                    "delivered": e.outcome == "delivered",
                    "outcome": e.outcome,
                    "happened_at": e.happened,
                }
                for e in self._events
            )
            attempts = tuple(dict(a) for a in self._attempts)
            return HttpTruth(attempts, rows, self._url_verified, self._disabled_at)

    def __repr__(self) -> str:
        s = self.truth.summary()
        disabled = ", delivery disabled" if s["disabled_at"] is not None else ""
        return (
            f"<HttpDelivery to {mask_text(self.url)}: {s['delivered']}/{s['items']} delivered, "
            f"{s['attempts']} attempts, {s['retries']} retries, {s['failed']} failed{disabled}>"
        )

    # ------------------------------------------------------------ scheduling

    def _wall(self, simulated: float) -> float:
        return 0.0 if math.isinf(self.speed) else simulated / self.speed

    def _sim_now(self) -> float:
        assert self._clock is not None
        return 0.0 if math.isinf(self.speed) else (time.monotonic() - self._clock[0]) * self.speed

    def _push(self, job: _Job) -> None:
        heapq.heappush(self._heap, job)
        self._lock.notify_all()

    def _run(self) -> None:
        try:
            if self.verify_url and not self._verify():
                with self._lock:
                    for event in self._events:
                        if event.outcome == "pending":
                            event.outcome = "not_sent"
                    self._lock.notify_all()
                return
            self._schedule()
        finally:
            assert self._pool is not None
            self._pool.shutdown(wait=False)  # workers finish what they hold, then exit

    def _schedule(self) -> None:
        if not self._hold:
            self.start_clock()
        with self._lock:
            while self._clock is None and not self._closing:
                self._lock.wait(0.5)
            if self._closing or self._clock is None:
                return
            mono, epoch = self._clock
            for event in self._events:
                event.happened = happened_at(epoch, event.at, self.speed)
                if self.event_times == "wall":
                    event.payload = stamp_times(event.kind, event.payload, event.happened)
                due = mono + self._wall(event.at)
                if event.outcome == "pending":
                    self._seq += 1
                    self._push(_Job(due, self._seq, event))
                if event.index in self.forge:
                    self._seq += 1
                    self._push(_Job(due, self._seq, event, forged=self.forge[event.index]))
            while not self._closing:
                now = time.monotonic()
                while self._heap and self._heap[0].due <= now:
                    assert self._pool is not None
                    self._pool.submit(self._attempt, heapq.heappop(self._heap))
                if not self._heap and self._settled():
                    return
                wait = self._heap[0].due - now if self._heap else 0.5
                self._lock.wait(min(max(wait, 0.0), 0.5))

    def _verify(self) -> bool:
        echoed, record = send_challenge(self._poster, self.signing_secret)
        with self._lock:
            self._url_verified = echoed
            self._attempts.append(record)
            self._lock.notify_all()
        if not echoed:
            log.warning("the Request URL did not answer the url_verification challenge; nothing will be sent")
        return echoed

    def _attempt(self, job: _Job) -> None:
        event = job.event
        try:
            body, content_type = encode_body(event.kind, event.payload)
        except (TypeError, ValueError) as exc:  # a payload JSON cannot carry: give up on it, loudly
            log.warning("item %d cannot be encoded (%s); not sent", event.index, exc.__class__.__name__)
            with self._lock:
                event.outcome = "not_sent"
                self._lock.notify_all()
            return
        extra: dict[str, str] = dict(self.headers)
        if job.attempt:
            extra.update({"X-Slack-Retry-Num": str(job.attempt), "X-Slack-Retry-Reason": job.reason or ""})
        elif not job.forged:
            extra.update(self.item_headers.get(event.index, {}))
        sent_at = time.time()
        answer = self._post(body, content_type, extra.items(), forged=job.forged)
        with self._lock:
            if answer.outcome == "not_sent":  # closed before it went out
                self._lock.notify_all()
                return
            record = {
                "index": event.index,
                **event.ids,
                "retry_attempt": job.attempt,
                "retry_reason": job.reason,
                "sent_at": sent_at,
                "status": answer.status,
                "ms": answer.ms,
                "outcome": answer.outcome,
                "no_retry": answer.no_retry,
                "happened_at": event.happened,
                "forged": job.forged,
            }
            self._attempts.append(record)
            if not job.forged:
                self._settle(job, answer)
            self._lock.notify_all()

    def _settle(self, job: _Job, answer: Answer) -> None:
        """Book one of Slack's own attempts: delivered, retried, given up, or disabled (under the lock)."""
        event = job.event
        event.attempts += 1
        if answer.outcome == "aborted":
            return  # closed while in flight: neither delivered nor given up
        ok = answer.outcome == "ok"
        self._history.append((self._sim_now(), str(event.ids["event_key"]), ok))
        if ok:
            event.outcome = "delivered"
        elif (
            self._disabled_at is None
            and self.disable is not None
            and self.disable.disabled(self._history, self._sim_now())
        ):
            self._disabled_at = time.time()
            # info, not warning: the scenario asked for it (disable=...) and truth.http records it; a
            # warning printed in red under the notebook cell that demonstrates it read as a fault.
            log.info("event delivery disabled after sustained failures (as Slack does)")
            event.outcome = "disabled"
            for queued in self._heap:
                if queued.event.outcome == "pending":
                    queued.event.outcome = "disabled"
            self._heap.clear()
        elif self._disabled_at is not None:
            event.outcome = "disabled"
        else:
            delay = retry_delay(event.kind, answer.outcome, answer.no_retry, job.attempt, self.retry_delays)
            if delay is None or self._closing:
                event.outcome = "failed"
            else:
                self._seq += 1
                due = time.monotonic() + self._wall(delay)
                self._push(_Job(due, self._seq, event, job.attempt + 1, answer.outcome))

    # ------------------------------------------------------------------ I/O

    def _post(
        self, body: bytes, content_type: str, extra: Iterable[tuple[str, str]], *, forged: str | None = None
    ) -> Answer:
        stamp = int(time.time()) - (2 * MAX_SKEW_SECONDS if forged == "stale" else 0)
        headers = {
            "Content-Type": content_type,
            "Accept": "application/json,*/*",
            **sign(_FORGER_SECRET if forged == "invalid" else self.signing_secret, stamp, body),
            **dict(extra),
        }
        return self._poster.post(body, headers)
