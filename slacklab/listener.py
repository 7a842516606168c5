"""The Socket Mode listener: the only code that talks to Slack.

:class:`Listener` runs in its own daemon thread with its own asyncio event
loop — never the notebook's (Jupyter already runs one; a long cell on it
would stall acks). For every frame it:

1. writes the raw text to the journal (flushed to the OS),
2. sends the ack,
3. hands the parsed delivery to the :class:`~slacklab.capture.Capture`.

Nothing on this path touches pandas, matplotlib or widgets. The decisions
(what a ``disconnect`` means, which API errors are fatal, backoff) come from
the pure core in :mod:`slacklab.protocol`; this module only does the I/O.

``apps.connections.open`` goes through ``slack_sdk``'s ``WebClient`` with a
configurable base URL, so the simulator (or any stand-in) can play Slack.
The WebSocket is the ``websockets`` library's asyncio client: slack_sdk's own
Socket Mode clients hide ``disconnect`` frames and offer no raw hook, and we
want every frame journaled before it is acked.

Most users call :func:`slacklab.listen`, which picks real Slack or the
simulator; ``Listener`` is the piece underneath.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from slacklab.capture import Capture
from slacklab.errors import SlackAPIError, TokenError
from slacklab.journal import JournalWriter
from slacklab.protocol import (
    Action,
    ConnectionProtocol,
    Decision,
    Envelope,
    Hello,
    backoff_delays,
    decide_api_error,
    describe_close,
)
from slacklab.redact import install_log_filter, mask_text

__all__ = ["DEFAULT_API_URL", "Listener", "check_app_token", "open_connection_url"]

log = logging.getLogger("slacklab.listener")

DEFAULT_API_URL = "https://slack.com/api/"

# One running listener per app token in this process: re-running a notebook
# cell must not leave the old connection taking a share of the app's events.
_registry_lock = threading.Lock()
_registry: dict[str, Listener] = {}

# While a listener runs, Python switches threads every 0.5 ms instead of 5 ms. Each
# frame's journal write and ack send release the GIL; with a busy notebook cell in the
# main thread, every release used to cost the listener a full 5 ms interval to get the
# GIL back, so acks queued for seconds (benchmarks/results/listener-busy-*.md). The busy
# cell keeps the same speed either way; the old interval comes back when the last
# listener ends.
LISTENING_SWITCH_INTERVAL = 0.0005
_switch_users = 0
_saved_switch_interval: float | None = None


def _hold_switch_interval() -> None:
    global _switch_users, _saved_switch_interval
    with _registry_lock:
        _switch_users += 1
        current = sys.getswitchinterval()
        if _switch_users == 1 and current > LISTENING_SWITCH_INTERVAL:
            _saved_switch_interval = current
            sys.setswitchinterval(LISTENING_SWITCH_INTERVAL)


def _release_switch_interval() -> None:
    global _switch_users, _saved_switch_interval
    with _registry_lock:
        _switch_users = max(0, _switch_users - 1)
        if _switch_users == 0 and _saved_switch_interval is not None:
            if sys.getswitchinterval() == LISTENING_SWITCH_INTERVAL:  # nobody else changed it meanwhile
                sys.setswitchinterval(_saved_switch_interval)
            _saved_switch_interval = None


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


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def open_connection_url(client: WebClient, app_token: str) -> str:
    """Call ``apps.connections.open`` and return the WebSocket URL.

    Raises:
        SlackAPIError: Slack answered ``ok: false`` (``.error`` names Slack's code;
            ``.retry_after`` is set for ``ratelimited``).
        OSError / SlackClientError: the request did not reach Slack.
    """
    try:
        response = client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"http_{exc.response.status_code}")
        retry_after: float | None = None
        raw = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        if isinstance(raw, list):
            raw = raw[0] if raw else None
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


@dataclass
class _Conn:
    id: str
    ws: ClientConnection
    proto: ConnectionProtocol
    task: asyncio.Task[None] | None = None


class Listener:
    """A background Socket Mode client that journals, acks and captures every envelope.

    Args:
        app_token: an ``xapp-`` app-level token (checked; never shown).
        api_url: Web API base URL (default ``https://slack.com/api/``; the
            simulator passes its own).
        journal: path of the append-only JSON Lines journal, or ``None``.
        capture: the :class:`Capture` to fill (a new one by default).
        ping_interval, ping_timeout: WebSocket keepalive; a connection whose
            pong does not come back in time is replaced.
        close_timeout: how long to wait for a clean close before dropping.
        debug_reconnects: ask Slack for short (~360 s) connections, to see
            refreshes happen during a workshop.
        max_frame_bytes: frames larger than this close the connection with
            a clear problem row (Slack then redelivers elsewhere).
        seed: seeds the backoff jitter (tests).

    Call :meth:`start` (returns at once), then read ``listener.capture``;
    :meth:`stop` is idempotent and leaves no thread behind.
    """

    def __init__(
        self,
        app_token: str,
        *,
        api_url: str | None = None,
        journal: str | Path | None = None,
        capture: Capture | None = None,
        ping_interval: float = 10.0,
        ping_timeout: float = 10.0,
        close_timeout: float = 2.0,
        open_timeout: float = 10.0,
        debug_reconnects: bool = False,
        max_frame_bytes: int = 4 * 1024 * 1024,
        seed: int | None = None,
    ) -> None:
        self._token = check_app_token(app_token)
        self.api_url = api_url or DEFAULT_API_URL
        if not self.api_url.endswith("/"):
            self.api_url += "/"
        self.capture = capture or Capture(source="socket", label="socket")
        self.journal_path = Path(journal) if journal else None
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.open_timeout = open_timeout
        self.debug_reconnects = debug_reconnects
        self.max_frame_bytes = max_frame_bytes
        self._rng = random.Random(seed)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._journal: JournalWriter | None = None
        self._conns: dict[str, _Conn] = {}
        self._n_opened = 0
        self.acks_sent = 0
        self.reconnects = 0
        self.error: BaseException | None = None
        """The unexpected exception that ended the listener thread, if any."""
        self.capture._attach_stopper(self.stop)
        self.capture.journal_path = self.journal_path

    # ------------------------------------------------------------ control

    def start(self) -> Capture:
        """Start listening in the background and return the capture at once.

        A listener already running in this process for the same app token is
        stopped first (a re-run notebook cell), with a note saying so.
        """
        if self._thread is not None:
            return self.capture
        key = _fingerprint(self._token)
        with _registry_lock:
            previous = _registry.get(key)
            _registry[key] = self
        if previous is not None and previous is not self and not previous._stopped.is_set():
            previous.capture.stop()  # also stops whatever was started with it (a simulator)
            self.capture.note(
                "Stopped the previous listener for this app token (a re-run cell), so it does not "
                "take a share of this app's events."
            )
            log.info("stopped the previous listener for the same app token")
        install_log_filter()  # websockets and slack_sdk log the ticket URL at DEBUG
        if self.journal_path is not None:
            self._journal = JournalWriter(self.journal_path)
        self.capture.set_state("connecting", f"connecting to {self._api_host()}")
        self._thread = threading.Thread(target=self._run, name="slacklab-listener", daemon=True)
        _hold_switch_interval()  # released when the thread ends (_run)
        self._thread.start()
        return self.capture

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection, flush the journal and end the thread. Safe to call twice."""
        self._stopping.set()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with _registry_lock:
            key = _fingerprint(self._token)
            if _registry.get(key) is self:
                del _registry[key]

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        open_ = sum(1 for c in self._conns.values() if c.ws.close_code is None)
        return (
            f"<Listener {self._api_host()} {self.capture.state}: {open_} open connections, "
            f"{self.acks_sent} acks sent, {self.reconnects} reconnects>"
        )

    def _api_host(self) -> str:
        return urlsplit(self.api_url).netloc or self.api_url

    # ------------------------------------------------------- thread + loop

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # never lose an error silently
            self.error = exc
            log.exception("listener thread failed")
            self.capture.set_state("failed", f"listener failed: {exc.__class__.__name__}: {exc}")
        finally:
            if self._journal is not None:
                self._journal.close()
            _release_switch_interval()
            self._stopped.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stopping.is_set():
            self._stop_event.set()
        self._events: asyncio.Queue[tuple[str, str, Decision]] = asyncio.Queue()
        self._api = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="slacklab-api")
        self._client = WebClient(base_url=self.api_url, timeout=int(max(1, self.open_timeout)))
        self._backoff = backoff_delays(self._rng.random)
        final: Decision | None = None
        try:
            final = await self._supervise()
        finally:
            for conn in list(self._conns.values()):
                await self._close(conn, "listener stopped")
            tasks = [c.task for c in self._conns.values() if c.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._api.shutdown(wait=True, cancel_futures=True)
        if final is not None and final.action is Action.STOP:
            failed = self.capture.state == "failed"
            self.capture.set_state("failed" if failed else "stopped", final.explanation)
            self._journal_note(f"stopped: {final.explanation}")
        else:
            self.capture.set_state("stopped", "stopped by the user")
            self._journal_note("stopped by the user")

    async def _supervise(self) -> Decision | None:
        """Keep one live connection; react to what the readers report."""
        assert self._stop_event is not None
        stop_wait = asyncio.ensure_future(self._stop_event.wait())
        try:
            decision = await self._connect_new()
            if decision is not None:
                return decision
            while not self._stop_event.is_set():
                get = asyncio.ensure_future(self._events.get())
                done, _ = await asyncio.wait({get, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return None
                what, conn_id, decision = get.result()
                outcome = await self._handle(what, conn_id, decision)
                if outcome is not None:
                    return outcome
            return None
        finally:
            stop_wait.cancel()

    async def _handle(self, what: str, conn_id: str, decision: Decision) -> Decision | None:
        conn = self._conns.get(conn_id)
        if what == "closed":
            # Its reader is done: forget it, or a long capture keeps every dead socket and its buffers.
            self._conns.pop(conn_id, None)
        if decision.action is Action.STOP:
            return decision
        if what == "hello":
            # A new connection is live: retire the ones it replaces.
            for other in list(self._conns.values()):
                if other.id != conn_id and other.proto.state.value == "retiring":
                    await self._close(other, "replaced by " + conn_id)
            self._backoff = backoff_delays(self._rng.random)
            self.capture.set_state("listening", f"listening on {conn_id}")
            return None
        if decision.action is Action.REPLACE:
            log.info("%s: %s", conn_id, decision.explanation)  # routine: the connections table shows it
            self.reconnects += 1
            return await self._connect_new()
        if decision.action is Action.RECONNECT:
            if conn is not None and what == "frame":  # too_many_websockets: close first
                await self._close(conn, decision.reason)
                return None  # its "closed" report follows and triggers the reconnect
            if what == "closed" and self._live_connections() == 0:
                self.capture.set_state("reconnecting", decision.explanation)
                self.reconnects += 1
                if not await self._sleep(decision.delay if decision.delay is not None else next(self._backoff)):
                    return None
                return await self._connect_new()
        if what == "closed" and self._live_connections() == 0 and not self._stop_event_set():
            # A retiring connection closed before its replacement came up.
            self.capture.set_state("reconnecting", f"{conn_id} closed; reconnecting")
            if not await self._sleep(next(self._backoff)):
                return None
            return await self._connect_new()
        return None

    def _stop_event_set(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()

    def _live_connections(self) -> int:
        """Connections still open and not retiring."""
        return sum(
            1
            for c in self._conns.values()
            if c.ws.close_code is None and c.proto.state.value in ("awaiting_hello", "open")
        )

    async def _sleep(self, seconds: float) -> bool:
        """Wait, unless stop is requested first. Returns False when stopping."""
        assert self._stop_event is not None
        try:
            await asyncio.wait_for(self._stop_event.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            return True
        return False

    async def _connect_new(self) -> Decision | None:
        """Open a new connection, retrying per the core's decisions. Returns a STOP decision or None."""
        loop = asyncio.get_running_loop()
        while not self._stop_event_set():
            try:
                url = await loop.run_in_executor(self._api, open_connection_url, self._client, self._token)
            except SlackAPIError as exc:
                decision = decide_api_error(exc.error, exc.retry_after)
                if decision.action is Action.STOP:
                    self.capture.set_state("failed", decision.explanation)
                    return decision
                self.capture.set_state("reconnecting", decision.explanation)
                self._journal_note(decision.explanation)
                if not await self._sleep(decision.delay if decision.delay is not None else next(self._backoff)):
                    return None
                continue
            except (OSError, SlackClientError, ValueError) as exc:
                why = f"cannot reach the Web API at {self._api_host()} ({exc.__class__.__name__}); retrying"
                self.capture.set_state("reconnecting", why)
                if not await self._sleep(next(self._backoff)):
                    return None
                continue
            if self.debug_reconnects and "debug_reconnects" not in url:
                url += ("&" if "?" in url else "?") + "debug_reconnects=true"
            try:
                ws = await connect(
                    url,
                    proxy=None if _is_loopback(url) else True,
                    open_timeout=self.open_timeout,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout,
                    close_timeout=self.close_timeout,
                    max_size=self.max_frame_bytes,
                    max_queue=None,
                    user_agent_header="slacklab websockets",
                )
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                why = f"WebSocket connection failed ({exc.__class__.__name__}: {mask_text(str(exc))[:120]}); retrying"
                self.capture.set_state("reconnecting", why)
                if not await self._sleep(next(self._backoff)):
                    return None
                continue
            self._n_opened += 1
            conn = _Conn(f"c{self._n_opened}", ws, ConnectionProtocol(f"c{self._n_opened}"))
            self._conns[conn.id] = conn
            now = time.time()
            if self._journal is not None:
                self._journal.opened(now, conn.id)
            self.capture.record_connection_opened(conn.id, now)
            conn.task = asyncio.ensure_future(self._read(conn))
            return None
        return None

    async def _read(self, conn: _Conn) -> None:
        """Journal, ack, capture every frame of one connection; report decisions."""
        ws, proto, capture, journal = conn.ws, conn.proto, self.capture, self._journal
        code: int | None = None
        why = ""
        try:
            async for message in ws:
                received = time.time()
                t0 = time.perf_counter()
                text = message if isinstance(message, str) else bytes(message).decode("utf-8", "replace")
                if journal is not None and not journal.frame(received, conn.id, text):
                    # Not on disk, so not acknowledged: stop rather than ack what a crash would lose.
                    error = journal.error
                    explanation = (
                        f"cannot write the journal {journal.path} "
                        f"({error.strerror if error is not None and error.strerror else error}); stopped "
                        "without acknowledging, so nothing is acked that is not on disk. Free some space "
                        "(or choose another journal) and start again."
                    )
                    self.capture.set_state("failed", explanation)
                    self._events.put_nowait(("frame", conn.id, Decision(Action.STOP, "journal_error", explanation)))
                    why = "the journal could not be written"
                    return
                step = proto.receive(text)
                ack_ms: float | None = None
                if step.ack is not None:
                    await ws.send(step.ack)
                    ack_ms = round((time.perf_counter() - t0) * 1000.0, 3)  # µs resolution, as journaled
                    self.acks_sent += 1
                    if journal is not None and isinstance(step.frame, Envelope):
                        journal.ack(received, conn.id, step.frame.envelope_id, ack_ms)
                capture.record_frame(step.frame, received_at=received, connection=conn.id, ack_ms=ack_ms)
                if isinstance(step.frame, Hello):
                    self._on_hello(conn, step.frame)
                if step.decision.action is not Action.CONTINUE:
                    self._events.put_nowait(("frame", conn.id, step.decision))
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep the listener alive; the connection is replaced
            log.exception("unexpected error reading %s", conn.id)
            why = f"reader error {exc.__class__.__name__}"
            await ws.close()
        finally:
            code = ws.close_code
            reason = ws.close_reason or ""
            sent = ws.protocol.close_sent
            if not why and sent is not None and sent.code == 1009:
                # websockets refused a frame over max_size: it sent 1009 and dropped the connection
                why = (
                    f"a frame was larger than max_frame_bytes ({self.max_frame_bytes} bytes); refused, "
                    "so Slack redelivers it (up to 3 times)"
                )
                capture.record_problem(time.time(), conn.id, why)
            if not why:
                why = describe_close(code, reason)
            now = time.time()
            if journal is not None:
                journal.closed_connection(now, conn.id, why)
            capture.record_connection_closed(conn.id, now, why)
            decision = proto.closed(code, reason)
            if not self._stopping.is_set():
                self._events.put_nowait(("closed", conn.id, decision))

    def _on_hello(self, conn: _Conn, hello: Hello) -> None:
        if hello.num_connections is not None and hello.num_connections > 1:
            ours = sum(1 for c in self._conns.values() if c.ws.close_code is None)
            others = hello.num_connections - ours
            if others > 0:
                self.capture.note(
                    f"Slack reports {hello.num_connections} open connections for this app: another "
                    "consumer (often the app's own bot, or a teammate's notebook) is connected, and "
                    "Slack spreads events across connections, so this capture sees only a share."
                )
        self._events.put_nowait(("hello", conn.id, Decision(Action.CONTINUE)))

    async def _close(self, conn: _Conn, why: str) -> None:
        if conn.ws.close_code is None and conn.ws.state.name not in ("CLOSING", "CLOSED"):
            self.capture.record_connection_closed(conn.id, time.time(), why)
            try:
                await asyncio.wait_for(conn.ws.close(1000, "bye"), timeout=self.close_timeout + 1)
            except (TimeoutError, OSError, ConnectionClosed):
                pass

    def _journal_note(self, text: str) -> None:
        if self._journal is not None:
            self._journal.note(time.time(), mask_text(text))


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def listener_from_env(app_token: str | None = None, api_url: str | None = None, **kwargs: Any) -> Listener:
    """Build a :class:`Listener` from arguments or ``SLACK_APP_TOKEN`` / ``SLACK_API_URL``."""
    return Listener(
        check_app_token(app_token or _env("SLACK_APP_TOKEN")),
        api_url=api_url or _env("SLACK_API_URL"),
        **kwargs,
    )
