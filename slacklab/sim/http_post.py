"""One POST the way Slack's HTTP side makes it, with Slack's 3-second rule: :class:`Poster` (I/O).

:class:`~slacklab.sim.http_sender.HttpDelivery` (and :func:`slacklab.replay`) send
every request through a :class:`Poster`, which keeps the connections in flight so
:meth:`Poster.abort_all` can cut them when the sender closes. Each answer is an
:class:`Answer` whose ``outcome`` uses Slack's retry reasons: ``ok``,
``http_timeout`` (no answer within ``timeout``, or one that came too late),
``http_error`` (not 2xx), ``connection_failed``, or ``aborted`` (closed meanwhile).
"""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult

from slacklab.http.signing import sign
from slacklab.sim.http_rules import challenge_in

__all__ = ["USER_AGENT", "Answer", "Poster", "send_challenge"]

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
_MAX_ANSWER = 64 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """How one POST ended: ``status`` (``None`` without one), ``body``, ``no_retry``
    (``X-Slack-No-Retry: 1`` on a non-2xx answer), ``outcome`` and ``ms``."""

    status: int | None
    body: bytes
    no_retry: bool
    outcome: str
    ms: float


class Poster:
    """POSTs to one URL (``parts`` from :func:`urllib.parse.urlsplit`), ``timeout`` wall seconds each."""

    def __init__(self, parts: SplitResult, timeout: float) -> None:
        self.parts = parts
        self.timeout = timeout
        self._lock = threading.Lock()
        self._active: set[http.client.HTTPConnection] = set()
        self._closed = False

    def abort_all(self) -> None:
        """Refuse new requests and cut those in flight (their outcome is ``aborted``)."""
        with self._lock:
            self._closed = True
            active = list(self._active)
        for conn in active:
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def post(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Send one request; never raises for network trouble (see :class:`Answer`).

        ``outcome`` is ``not_sent`` when :meth:`abort_all` came first.
        """
        parts = self.parts
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        with self._lock:
            if self._closed:
                return Answer(None, b"", False, "not_sent", 0.0)
            self._active.add(conn)
        started = time.perf_counter()
        try:
            conn.request("POST", target, body=body, headers={"User-Agent": USER_AGENT, **headers})
            response = conn.getresponse()
            answer_body = response.read(_MAX_ANSWER)
            status = response.status
            no_retry = (response.getheader("X-Slack-No-Retry") or "").strip() == "1"
        except TimeoutError:
            return self._failed("http_timeout", started)
        except (OSError, http.client.HTTPException):
            return self._failed("aborted" if self._closed else "connection_failed", started)
        finally:
            conn.close()
            with self._lock:
                self._active.discard(conn)
        ms = (time.perf_counter() - started) * 1000.0
        if ms > self.timeout * 1000.0:
            outcome = "http_timeout"  # answered, but after Slack had given up
        else:
            outcome = "ok" if 200 <= status < 300 else "http_error"
        return Answer(status, answer_body, no_retry and outcome == "http_error", outcome, ms)

    @staticmethod
    def _failed(outcome: str, started: float) -> Answer:
        return Answer(None, b"", False, outcome, (time.perf_counter() - started) * 1000.0)


def send_challenge(poster: Poster, signing_secret: str) -> tuple[bool, dict[str, Any]]:
    """Slack's first request to a new Request URL: a signed ``url_verification`` challenge.

    Returns whether the answer echoed the challenge, and the attempt record for the truth.
    """
    challenge = secrets.token_urlsafe(24)
    body = json.dumps(
        {"token": "SIMULATED-verification-token", "challenge": challenge, "type": "url_verification"}
    ).encode()
    headers = {"Content-Type": "application/json", **sign(signing_secret, int(time.time()), body)}
    answer = poster.post(body, headers)
    text = answer.body.decode("utf-8", "replace").strip()
    echoed = answer.outcome == "ok" and challenge in (text, challenge_in(text))
    record = {
        **dict.fromkeys(("index", "event_key", "event_id", "trigger_id", "happened_at", "forged")),
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
    return echoed, record
