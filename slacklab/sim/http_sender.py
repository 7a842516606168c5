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

What it does, after Slack's Events API docs (``docs/slack-protocol.md`` (HTTP delivery, signing)):

* first a signed ``url_verification`` challenge; if the answer does not echo
  the challenge nothing else is sent (Slack would not save the URL);
* each item at ``at / speed`` seconds: events as the JSON ``event_callback``
  body, slash commands form-encoded (``command=...&text=...``), interactivity
  as ``payload=<json>``; every request signed (``X-Slack-Signature``) with a
  fake secret and a fresh ``X-Slack-Request-Timestamp``;
* a delivery fails when no 2xx comes within ``timeout`` (Slack: 3 s), the
  status is not 2xx, or the connection fails. Failed **events** are retried
  (Slack does not retry slash commands or interactivity: the user sees an
  error) after ``retry_delays`` simulated seconds — nearly at once, then
  1 min, then 5 min, divided by ``speed`` — with ``X-Slack-Retry-Num`` 1, 2, 3
  and ``X-Slack-Retry-Reason`` ``http_timeout``, ``http_error`` or
  ``connection_failed``. A non-2xx answer carrying ``X-Slack-No-Retry: 1``
  stops the retries of that one event;
* ``drop`` (item indices) plays Slack never sending some items, so a
  comparison has known gaps.

Everything it did is in :attr:`HttpDelivery.truth` (an :class:`HttpTruth`).
One scheduler thread (daemon) plus a few sender threads; :meth:`close`
aborts requests in flight and joins them all.
"""

from __future__ import annotations

import heapq
import http.client
import json
import logging
import math
import secrets
import socket
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from slacklab.http.signing import sign
from slacklab.redact import mask_text
from slacklab.schema import event_key, payload_fields

__all__ = [
    "DELIVERABLE_KINDS",
    "FAKE_SIGNING_SECRET",
    "RETRY_DELAYS",
    "HttpDelivery",
    "HttpTruth",
    "encode_body",
]

log = logging.getLogger("slacklab.sim.http_sender")

FAKE_SIGNING_SECRET = "sim-signing-secret-not-real"
"""The simulator's signing secret: obviously fake; give it to the receiver to check signatures."""
RETRY_DELAYS: tuple[float, ...] = (1.0, 60.0, 300.0)
"""Simulated seconds before retry 1, 2 and 3 (Slack: nearly immediately, 1 minute, 5 minutes)."""
DELIVERABLE_KINDS: tuple[str, ...] = ("events_api", "slash_commands", "interactive")
_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
_FORM = "application/x-www-form-urlencoded"
_MAX_ANSWER = 64 * 1024


class _Item(Protocol):
    at: float
    kind: str
    payload: Mapping[str, Any]


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


@dataclass(frozen=True, slots=True)
class HttpTruth:
    """What the HTTP side did (ground truth), from :attr:`HttpDelivery.truth`.

    * ``attempts`` — one dict per request sent: ``index`` (item), ``event_key``,
      ``event_id``, ``trigger_id``, ``kind``, ``event_type``, ``retry_attempt``,
      ``retry_reason``, ``sent_at`` (epoch s), ``status``, ``ms``, ``outcome``
      (``ok``, ``http_timeout``, ``http_error``, ``connection_failed``,
      ``aborted``) and ``no_retry``;
    * ``event_rows`` — one dict per item: the same ids, ``attempts``,
      ``delivered`` (a 2xx came back) and ``outcome`` (``delivered``,
      ``failed`` — given up —, ``dropped`` — never sent on purpose —,
      ``pending`` or ``not_sent``);
    * ``url_verified`` — whether the challenge was answered (``None``: not tried).

    ``pd.DataFrame(truth.attempts)`` gives a table.
    """

    attempts: tuple[dict[str, Any], ...]
    event_rows: tuple[dict[str, Any], ...]
    url_verified: bool | None

    def summary(self) -> dict[str, Any]:
        """Counts: items by outcome, attempts, retries, timeouts, errors, No-Retry stops."""
        outcomes = [r["outcome"] for r in self.event_rows]
        attempts = [a for a in self.attempts if a["kind"] != "url_verification"]
        return {
            "items": len(self.event_rows),
            "delivered": outcomes.count("delivered"),
            "failed": outcomes.count("failed"),
            "dropped": outcomes.count("dropped"),
            "pending": outcomes.count("pending"),
            "not_sent": outcomes.count("not_sent"),
            "attempts": len(attempts),
            "retries": sum(1 for a in attempts if a["retry_attempt"] > 0),
            "http_timeouts": sum(1 for a in attempts if a["outcome"] == "http_timeout"),
            "http_errors": sum(1 for a in attempts if a["outcome"] == "http_error"),
            "connection_failures": sum(1 for a in attempts if a["outcome"] == "connection_failed"),
            "no_retry_stops": sum(1 for a in attempts if a["no_retry"]),
            "url_verified": self.url_verified,
        }

    def keys(self, outcome: str) -> tuple[str, ...]:
        """Event keys of the items with this outcome (``delivered``, ``failed``, ``dropped``…)."""
        return tuple(r["event_key"] for r in self.event_rows if r["outcome"] == outcome)


@dataclass(slots=True)
class _Event:
    index: int
    kind: str
    payload: Mapping[str, Any]
    at: float
    ids: dict[str, Any]
    attempts: int = 0
    outcome: str = "pending"


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int | None
    body: bytes
    no_retry: bool
    outcome: str
    ms: float


@dataclass(order=True, slots=True)
class _Job:
    due: float
    seq: int
    event: _Event = field(compare=False)
    attempt: int = field(compare=False, default=0)
    reason: str | None = field(compare=False, default=None)


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
        drop: item indices never to send (play lost events).
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
        self.url = url
        self._parts = parts
        self.signing_secret = signing_secret
        sign(signing_secret, 0, b"")  # validates and registers the secret for masking
        self.speed = speed
        self.timeout = float(timeout)
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.verify_url = verify_url
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
        self._url_verified: bool | None = None
        self._lock = threading.Condition()
        self._heap: list[_Job] = []
        self._seq = 0
        self._active: set[http.client.HTTPConnection] = set()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        if start:
            self.start()

    @staticmethod
    def _event(index: int, item: _Item) -> _Event:
        payload = dict(item.payload)
        f = payload_fields(item.kind, payload)
        ids = {
            "event_key": event_key(
                event_id=f.get("event_id"),
                team_id=f.get("team_id"),
                api_app_id=f.get("api_app_id"),
                trigger_id=f.get("trigger_id"),
                envelope_id=None,
            ),
            "event_id": f.get("event_id"),
            "trigger_id": f.get("trigger_id"),
            "kind": item.kind,
            "event_type": f.get("event_type"),
        }
        return _Event(index, item.kind, payload, float(item.at), ids)

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

    def close(self, timeout: float = 10.0) -> None:
        """Stop: no new requests, abort those in flight, join every thread. Idempotent."""
        with self._lock:
            self._closing = True
            active = list(self._active)
            self._lock.notify_all()
        for conn in active:
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> HttpDelivery:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def done(self) -> bool:
        """True when every item is settled (delivered, given up, dropped or not sent) or it was closed."""
        with self._lock:
            return self._closing or all(e.outcome != "pending" for e in self._events)

    def wait_done(self, timeout: float | None = None) -> bool:
        """Block until :attr:`done` (or ``timeout`` seconds); returns :attr:`done`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not (self._closing or all(e.outcome != "pending" for e in self._events)):
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
                }
                for e in self._events
            )
            return HttpTruth(tuple(dict(a) for a in self._attempts), rows, self._url_verified)

    def __repr__(self) -> str:
        s = self.truth.summary()
        return (
            f"<HttpDelivery to {mask_text(self.url)}: {s['delivered']}/{s['items']} delivered, "
            f"{s['attempts']} attempts, {s['retries']} retries, {s['failed']} failed>"
        )

    # ------------------------------------------------------------ scheduling

    def _wall(self, simulated: float) -> float:
        return 0.0 if math.isinf(self.speed) else simulated / self.speed

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
        start = time.monotonic()
        with self._lock:
            for event in self._events:
                if event.outcome == "pending":
                    self._seq += 1
                    self._push(_Job(start + self._wall(event.at), self._seq, event))
            while not self._closing:
                now = time.monotonic()
                while self._heap and self._heap[0].due <= now:
                    assert self._pool is not None
                    self._pool.submit(self._attempt, heapq.heappop(self._heap))
                if not self._heap and all(e.outcome != "pending" for e in self._events):
                    return
                wait = self._heap[0].due - now if self._heap else 0.5
                self._lock.wait(min(max(wait, 0.0), 0.5))

    def _verify(self) -> bool:
        challenge = secrets.token_urlsafe(24)
        body = json.dumps(
            {"token": "SIMULATED-verification-token", "challenge": challenge, "type": "url_verification"}
        ).encode()
        answer = self._post(body, "application/json", ())
        text = answer.body.decode("utf-8", "replace").strip()
        echoed = answer.outcome == "ok" and challenge in (text, _challenge_in(text))
        with self._lock:
            self._url_verified = echoed
            self._attempts.append(
                {
                    "index": None,
                    "event_key": None,
                    "event_id": None,
                    "trigger_id": None,
                    "kind": "url_verification",
                    "event_type": "url_verification",
                    "retry_attempt": 0,
                    "retry_reason": None,
                    "sent_at": time.time() - answer.ms / 1000,
                    "status": answer.status,
                    "ms": answer.ms,
                    "outcome": answer.outcome,
                    "no_retry": False,
                }
            )
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
        extra = (
            (("X-Slack-Retry-Num", str(job.attempt)), ("X-Slack-Retry-Reason", job.reason or "")) if job.attempt else ()
        )
        sent_at = time.time()
        answer = self._post(body, content_type, extra)
        with self._lock:
            if answer.outcome == "not_sent":  # closed before it went out
                self._lock.notify_all()
                return
            event.attempts += 1
            self._attempts.append(
                {
                    "index": event.index,
                    **event.ids,
                    "retry_attempt": job.attempt,
                    "retry_reason": job.reason,
                    "sent_at": sent_at,
                    "status": answer.status,
                    "ms": answer.ms,
                    "outcome": answer.outcome,
                    "no_retry": answer.no_retry,
                }
            )
            if answer.outcome == "ok":
                event.outcome = "delivered"
            elif answer.outcome == "aborted":
                pass  # closed while in flight: neither delivered nor given up
            elif (
                event.kind == "events_api"
                and not answer.no_retry
                and job.attempt < len(self.retry_delays)
                and not self._closing
            ):
                self._seq += 1
                due = time.monotonic() + self._wall(self.retry_delays[job.attempt])
                self._push(_Job(due, self._seq, event, job.attempt + 1, answer.outcome))
            else:
                event.outcome = "failed"
            self._lock.notify_all()

    # ------------------------------------------------------------------ I/O

    def _post(self, body: bytes, content_type: str, extra: Iterable[tuple[str, str]]) -> _Answer:
        parts = self._parts
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "Accept": "application/json,*/*",
            **sign(self.signing_secret, int(time.time()), body),
            **dict(extra),
        }
        with self._lock:
            if self._closing:
                return _Answer(None, b"", False, "not_sent", 0.0)
            self._active.add(conn)
        started = time.perf_counter()
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            answer_body = response.read(_MAX_ANSWER)
            status = response.status
            no_retry = (response.getheader("X-Slack-No-Retry") or "").strip() == "1"
        except TimeoutError:
            return self._failed("http_timeout", started)
        except (OSError, http.client.HTTPException):
            return self._failed("aborted" if self._closing else "connection_failed", started)
        finally:
            conn.close()
            with self._lock:
                self._active.discard(conn)
        ms = (time.perf_counter() - started) * 1000.0
        if ms > self.timeout * 1000.0:
            outcome = "http_timeout"  # answered, but after Slack had given up
        else:
            outcome = "ok" if 200 <= status < 300 else "http_error"
        return _Answer(status, answer_body, no_retry and outcome == "http_error", outcome, ms)

    def _failed(self, outcome: str, started: float) -> _Answer:
        return _Answer(None, b"", False, outcome, (time.perf_counter() - started) * 1000.0)


def _challenge_in(text: str) -> str | None:
    """The challenge from a JSON (``{"challenge": ...}``) or form (``challenge=...``) answer."""
    try:
        data = json.loads(text)
    except ValueError:
        form = parse_qs(text)
        return form.get("challenge", [None])[0]
    return data.get("challenge") if isinstance(data, dict) else None
