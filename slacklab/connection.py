"""One Socket Mode connection's I/O: ``apps.connections.open``, the WebSocket handshake, the read loop.

The :class:`~slacklab.listener.Listener` runs these on its own event loop and
feeds what happens to its :class:`~slacklab.supervisor.Supervisor`. The read
loop is the ack path, and does for each frame only what the ack needs:

1. :func:`~slacklab.protocol.peek_envelope` reads ``type`` and ``envelope_id``
   from the frame's bytes (the frame is not decoded to text, the payload not parsed);
2. the exact frame is appended to the journal (written to the OS) — if that
   fails, nothing more is acked and the listener stops;
3. the ack is sent;
4. the raw frame goes to :meth:`Capture.add_raw <slacklab.capture.Capture.add_raw>`,
   which builds the row later, off this path.

An envelope that accepts a response payload and has a responder
(:meth:`Capture.respond <slacklab.capture.Capture.respond>`) leaves this path after
step 2: :meth:`ConnectionReader._answer` acks it once the responder answered (or
its deadline passed), while the loop goes on reading. Nothing changes for other
frames while no responder is registered.

``hello`` and ``disconnect`` frames (rare) are parsed fully and reported to
the supervisor. A frame that was journaled is always handed to the capture,
even when its ack could not be sent because the socket closed meanwhile, so the
journal and the live capture agree row for row.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import Opcode

from slacklab.capture import Capture
from slacklab.errors import SlackAPIError, TokenError
from slacklab.journal import JournalWriter
from slacklab.protocol import Disconnect, Hello, ack_for, describe_close, parse_frame, peek_envelope
from slacklab.redact import mask_text
from slacklab.respond import LATE_REPORT_AFTER, ResponderCall
from slacklab.supervisor import (
    ApiAnswered,
    ApiFailed,
    ApiUnreachable,
    Closed,
    DisconnectReceived,
    Event,
    Fatal,
    HelloReceived,
)

__all__ = [
    "ConnectionReader",
    "check_app_token",
    "is_loopback",
    "open_connection_url",
    "open_url_event",
    "open_websocket",
]

log = logging.getLogger("slacklab.listener")


def check_app_token(token: str | None) -> str:
    """Return the token if it looks like an app-level token; raise :class:`TokenError` otherwise.

    The message names the problem, never the token's value.
    """
    if not token:
        raise TokenError(
            "No app-level token: pass app_token=... or set SLACK_APP_TOKEN "
            "(an xapp- token with the connections:write scope, from your app's Basic Information page)."
        )
    token = token.strip()
    if token.startswith(("xoxb-", "xoxp-", "xoxe-", "xoxa-")):
        kind = token[:4]
        raise TokenError(
            f"That is a {kind}- token; Socket Mode needs an app-level xapp- token "
            "(Basic Information → App-Level Tokens, scope connections:write)."
        )
    if not token.startswith("xapp-"):
        raise TokenError("The app token must start with 'xapp-' (an app-level token with connections:write).")
    return token


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (no proxy for it)."""
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


async def open_connection_url(api_url: str, app_token: str, timeout: float) -> str:
    """Call ``apps.connections.open`` and return the WebSocket URL.

    slack_sdk's :class:`AsyncWebClient` (aiohttp), so the call is a coroutine that
    a stop cancels at once: no helper thread is left blocked on a socket.

    Raises:
        SlackAPIError: Slack answered ``ok: false`` (``.error`` names Slack's code;
            ``.retry_after`` is set for ``ratelimited``).
        OSError / aiohttp.ClientError / SlackClientError / TimeoutError: no answer.
    """
    client = AsyncWebClient(
        base_url=api_url,
        timeout=max(1, round(timeout)),
        trust_env_in_session=not is_loopback(api_url),  # HTTPS_PROXY and friends, as urllib would
        retry_handlers=[],  # the supervisor decides when to retry
    )
    try:
        response = await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"http_{exc.response.status_code}")
        raw = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        retry_after: float | None = None
        if raw is not None:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        if exc.response.status_code == 429 and error.startswith("http_"):
            error = "ratelimited"
        raise SlackAPIError(error, f"apps.connections.open failed: {error}", retry_after) from None
    url = response.get("url")
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise SlackAPIError("invalid_response", "apps.connections.open returned no WebSocket URL")
    return url


async def open_url_event(conn: str, api_url: str, app_token: str, timeout: float) -> Event:
    """:func:`open_connection_url` as the supervisor's event (:class:`ApiAnswered`, ``ApiFailed``, ``ApiUnreachable``)."""
    try:
        url = await open_connection_url(api_url, app_token, timeout)
    except SlackAPIError as exc:
        return ApiFailed(conn, exc.error, exc.retry_after)
    except (OSError, aiohttp.ClientError, SlackClientError, TimeoutError, ValueError) as exc:
        words = mask_text(str(exc))[:120]
        return ApiUnreachable(conn, exc.__class__.__name__ + (f" ({words})" if words else ""))
    return ApiAnswered(conn, url)


async def open_websocket(
    url: str,
    *,
    open_timeout: float,
    ping_interval: float,
    ping_timeout: float,
    close_timeout: float,
    max_frame_bytes: int,
) -> ClientConnection | str:
    """Open the WebSocket; returns the connection, or the problem in plain words."""
    try:
        return await connect(
            url,
            proxy=None if is_loopback(url) else True,
            open_timeout=open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_frame_bytes,
            max_queue=None,
            compression=None,  # no permessage-deflate: inflating each frame would cost CPU on the ack path
            user_agent_header="slacklab websockets",
        )
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
        return f"{exc.__class__.__name__}: {mask_text(str(exc))[:120]}"


_BURST = 64
"""Most frames journaled in one write."""


def _waiting_frames(ws: ClientConnection) -> Any:
    """The queue of frames websockets has received but ``recv()`` has not returned yet, if it shows one.

    Not public API (``recv_messages.frames.queue``, a deque of frames): when a websockets
    version lacks it, every frame is journaled on its own, as before.
    """
    queue = getattr(getattr(getattr(ws, "recv_messages", None), "frames", None), "queue", None)
    return queue if isinstance(queue, collections.deque) else None


def _whole_message_waiting(queue: collections.deque[Any]) -> bool:
    """True if the next waiting frame is a whole text or binary message (``recv()`` returns it at once)."""
    if not queue:
        return False
    frame = queue[0]
    return bool(getattr(frame, "fin", False)) and getattr(frame, "opcode", None) in (Opcode.TEXT, Opcode.BINARY)


class ConnectionReader:
    """Reads one WebSocket: journal, ack, hand to the capture; reports to the supervisor via ``report``.

    Call :meth:`run` as a task; it ends when the socket closes, and reports
    :class:`~slacklab.supervisor.Closed` last. :attr:`last_frame` is the
    monotonic time of the latest frame (the supervisor's drain clock).
    """

    def __init__(
        self,
        conn: str,
        ws: ClientConnection,
        *,
        capture: Capture,
        journal: JournalWriter | None,
        report: Callable[[Event], None],
        max_frame_bytes: int,
    ) -> None:
        self.conn = conn
        self.ws = ws
        self.capture = capture
        self.journal = journal
        self.report = report
        self.max_frame_bytes = max_frame_bytes
        self.last_frame = time.monotonic()
        self.acks_sent = 0
        self.closing_why = ""
        self._answers: set[asyncio.Task[None]] = set()  # envelopes waiting for a responder

    def __repr__(self) -> str:
        return f"<ConnectionReader {self.conn}: {self.acks_sent} acks sent, close code {self.ws.close_code}>"

    async def close(self, why: str, timeout: float) -> None:
        """Close with a close frame; drop the TCP connection if that takes longer than ``timeout``."""
        if not self.closing_why:
            self.closing_why = why
        self.capture.record_connection_closed(self.conn, time.time(), why)
        try:
            await asyncio.wait_for(self.ws.close(1000, "bye"), timeout=max(0.01, timeout))
        except (TimeoutError, OSError, ConnectionClosed):
            self.ws.transport.abort()

    async def run(self) -> None:
        """The read loop (see the module docstring)."""
        ws, conn, capture, journal = self.ws, self.conn, self.capture, self.journal
        recv, add_raw = ws.recv, capture.add_raw
        responders = capture.responders
        ack_ms: float | None
        waiting = _waiting_frames(ws)
        why = ""
        try:
            while True:
                # bytes, not str: the journal writes bytes and the row builder parses bytes, so
                # decoding here (and encoding again for the journal) would be wasted on the ack path
                raws = [await recv(decode=False)]
                # Frames that arrived together (a burst) are journaled in one write, then acked:
                # journal-before-ack holds for each, at one system call for all of them.
                while waiting is not None and len(raws) < _BURST and _whole_message_waiting(waiting):
                    raws.append(await recv(decode=False))
                received = time.time()
                t0 = self.last_frame = time.monotonic()
                if journal is not None and not journal.frames(received, conn, raws):
                    why = "the journal could not be written"
                    self._journal_failed(journal)
                    return
                done = 0
                try:
                    for raw in raws:
                        envelope_id, control = peek_envelope(raw)
                        if envelope_id is not None and responders.active:  # answers in the ack: slacklab/respond.py
                            call = responders.match(raw, envelope_id)
                            if call is not None:  # acked and recorded by the task
                                done += 1
                                task = asyncio.ensure_future(self._answer(call, raw, received, t0))
                                self._answers.add(task)
                                task.add_done_callback(self._answers.discard)
                                continue
                        ack_ms = None if envelope_id is None else await self._ack(envelope_id, received, t0)
                        done += 1
                        add_raw(raw, received_at=received, connection=conn, ack_ms=ack_ms)
                        if control:
                            self._control(raw)
                finally:
                    for raw in raws[done:]:  # journaled, so recorded too (the ack could not go out)
                        add_raw(raw, received_at=received, connection=conn)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            why = why or "listener stopped"
            raise
        except Exception as exc:  # keep the listener alive; the supervisor replaces the connection
            log.exception("unexpected error reading %s", conn)
            why = f"reader error {exc.__class__.__name__}"
            ws.transport.abort()
        finally:
            self._closed(why)

    async def _ack(self, envelope_id: str, received: float, t0: float) -> float:
        """Ack a journaled envelope; returns the milliseconds since ``t0`` (its receipt)."""
        await self.ws.send(ack_for(envelope_id))
        ack_ms = round((time.monotonic() - t0) * 1000.0, 3)  # µs resolution, as journaled
        self.acks_sent += 1
        if self.journal is not None:
            self.journal.ack(received, self.conn, envelope_id, ack_ms)
        return ack_ms

    async def _answer(self, call: ResponderCall, raw: str | bytes, received: float, t0: float) -> None:
        """Ack ``raw`` with its responder's payload, or empty at the responder's deadline; then record it."""
        conn, journal, capture = self.conn, self.journal, self.capture
        future, begun = asyncio.wrap_future(call.start()), time.monotonic()
        outcome, ack_ms, response = None, None, None
        try:
            try:
                outcome = await asyncio.wait_for(asyncio.shield(future), call.deadline)
            except TimeoutError:
                pass
            response = outcome.recorded if outcome is not None else None
            await self.ws.send(outcome.ack if outcome is not None else ack_for(call.envelope_id))
            ack_ms = round((time.monotonic() - t0) * 1000.0, 3)
            self.acks_sent += 1
            if journal is not None:
                journal.ack(received, conn, call.envelope_id, ack_ms, response)
        except ConnectionClosed:
            capture.record_problem(
                time.time(),
                conn,
                f"the connection closed before the answer to {call.responder.label} was sent; Slack redelivers it",
            )
            return
        finally:
            answer = (ack_ms, response) if response is not None and ack_ms is not None else ack_ms
            capture.add_journaled(raw, received_at=received, connection=conn, acks={(conn, call.envelope_id): answer})
        if outcome is not None:
            problem = call.settled(outcome)
        else:  # late: report how long it took once it is done
            try:
                outcome = await asyncio.wait_for(future, LATE_REPORT_AFTER)
            except TimeoutError:
                pass
            except asyncio.CancelledError:  # the listener stops
                capture.record_problem(time.time(), conn, call.late_problem(None, time.monotonic() - begun))
                raise
            problem = call.late_problem(outcome, time.monotonic() - begun)
        if problem:
            capture.record_problem(time.time(), conn, problem)

    def _control(self, raw: str | bytes) -> None:
        frame = parse_frame(raw)
        if isinstance(frame, Hello):
            self.report(HelloReceived(self.conn, frame.num_connections))
        elif isinstance(frame, Disconnect):
            self.report(DisconnectReceived(self.conn, frame.reason))

    def _journal_failed(self, journal: JournalWriter) -> None:
        # Not on disk, so not acknowledged: stop rather than ack what a crash would lose.
        error = journal.error
        explanation = (
            f"cannot write the journal {journal.path} "
            f"({error.strerror if error is not None and error.strerror else error}); stopped "
            "without acknowledging, so nothing is acked that is not on disk. Free some space "
            "(or choose another journal) and start again."
        )
        self.report(Fatal(explanation))

    def _closed(self, why: str) -> None:
        ws = self.ws
        code, reason = ws.close_code, ws.close_reason or ""
        sent = ws.protocol.close_sent
        now = time.time()
        if not why and sent is not None and sent.code == 1009:
            # websockets refused a frame over max_size: it sent 1009 and dropped the connection
            why = (
                f"a frame was larger than max_frame_bytes ({self.max_frame_bytes} bytes); refused, "
                "so Slack redelivers it (up to 3 times)"
            )
            self.capture.record_problem(now, self.conn, why)
        why = why or self.closing_why or describe_close(code, reason)
        if self.journal is not None:
            self.journal.closed_connection(now, self.conn, why)
        self.capture.record_connection_closed(self.conn, now, why)
        self.report(Closed(self.conn, code, reason, why))
