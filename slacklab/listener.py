"""The Socket Mode listener: the only code that talks to Slack.

:class:`Listener` runs in its own daemon thread with its own asyncio event
loop — never the notebook's (Jupyter already runs one; a long cell on it
would stall acks). It is a thin shell: the pure
:class:`~slacklab.supervisor.Supervisor` decides which connections to open,
drain and close (make-before-break refreshes, backoff, limits, stop), and the
per-connection I/O lives in :mod:`slacklab.connection`, whose read loop
journals, acks and hands each raw frame to the capture. This module turns the
supervisor's commands into tasks and feeds back what happened.

``apps.connections.open`` goes through ``slack_sdk``'s ``AsyncWebClient`` with a
configurable base URL, so the simulator (or any stand-in) can play Slack.
The WebSocket is the ``websockets`` library's asyncio client: slack_sdk's own
Socket Mode clients hide ``disconnect`` frames and offer no raw hook, and we
want every frame journaled before it is acked.

Most users call :func:`slacklab.listen`, which picks real Slack or the
simulator; ``Listener`` is the piece underneath.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slacklab.capture import Capture
from slacklab.connection import (
    ConnectionReader,
    check_app_token,
    open_connection_url,
    open_url_event,
    open_websocket,
)
from slacklab.errors import JournalError
from slacklab.journal import JournalWriter
from slacklab.redact import install_log_filter, mask_text
from slacklab.supervisor import (
    CancelOpen,
    Close,
    Command,
    Connect,
    Connected,
    ConnectFailed,
    Event,
    Finish,
    Note,
    OpenConnection,
    SetStatus,
    Start,
    Status,
    StopRequested,
    Supervisor,
    TimerFired,
)

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


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class Listener:
    """A background Socket Mode client that journals, acks and captures every envelope.

    Args:
        app_token: an ``xapp-`` app-level token (checked; never shown).
        api_url: Web API base URL (default ``https://slack.com/api/``; the
            simulator passes its own).
        journal: path of the append-only journal, or ``None``.
        capture: the :class:`Capture` to fill (a new one by default).
        ping_interval, ping_timeout: WebSocket keepalive; a connection whose
            pong does not come back in time is replaced.
        close_timeout: how long to wait for a clean close before dropping.
        open_timeout: seconds for ``apps.connections.open`` and for the WebSocket handshake.
        debug_reconnects: ask Slack for short (~360 s) connections, to see
            refreshes happen during a workshop.
        max_frame_bytes: frames larger than this close the connection with
            a clear problem row (Slack then redelivers elsewhere).
        drain_timeout: after a refresh, the old connection is still read and
            acked; once its replacement is live and it has been quiet this long,
            we close it (Slack normally closes it first).
        give_up_after: stop as ``failed`` after this many seconds without a
            working connection, naming the last error (``None``: keep trying).
        seed: seeds the backoff jitter (tests).

    Call :meth:`start` (returns the capture at once), then read ``listener.capture``;
    :meth:`stop` is idempotent, returns within its timeout and leaves no thread behind.
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
        drain_timeout: float = 10.0,
        give_up_after: float | None = None,
        seed: int | None = None,
    ) -> None:
        self._token = check_app_token(app_token)
        self.api_url = api_url or DEFAULT_API_URL
        if not self.api_url.endswith("/"):
            self.api_url += "/"
        self.capture = capture if capture is not None else Capture(source="socket", label="socket")
        self.journal_path = Path(journal) if journal else None
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.open_timeout = open_timeout
        self.debug_reconnects = debug_reconnects
        self.max_frame_bytes = max_frame_bytes
        self.drain_timeout = drain_timeout
        self.give_up_after = give_up_after
        self._rng = random.Random(seed)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: asyncio.Queue[Event] | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._stop_deadline: float | None = None
        self._journal: JournalWriter | None = None
        self._supervisor = Supervisor(
            uniform=self._rng.random,
            api_host=self._api_host(),
            drain_timeout=drain_timeout,
            give_up_after=give_up_after,
        )
        self._readers: dict[str, ConnectionReader] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}  # open attempts, by connection
        self._background: set[asyncio.Task[Any]] = set()
        self._acks_closed = 0
        self.error: BaseException | None = None
        """The unexpected exception that ended the listener thread, if any."""
        self.capture._attach_stopper(self.stop)
        self.capture.journal_path = self.journal_path

    # ------------------------------------------------------------ control

    def start(self) -> Capture:
        """Start listening in the background and return the capture at once.

        A listener already running in this process for the same app token is
        stopped first (a re-run notebook cell), with a note saying so.

        Raises:
            JournalError: the journal cannot be opened (nothing was started).
        """
        if self._thread is not None:
            return self.capture
        if self.journal_path is not None:
            try:
                self._journal = JournalWriter(self.journal_path)
            except OSError as exc:
                raise JournalError(self.journal_path, f"{exc.__class__.__name__}: {exc.strerror or exc}") from None
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
        self.capture.set_state("connecting", f"connecting to {self._api_host()}")
        self._thread = threading.Thread(target=self._run, name="slacklab-listener", daemon=True)
        _hold_switch_interval()  # released when the thread ends (_run)
        self._thread.start()
        return self.capture

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection, flush the journal and end the thread, within ``timeout`` s. Safe to call twice.

        Whatever the listener was doing (calling ``apps.connections.open``,
        backing off, connecting, draining) is abandoned; sockets that do not
        close in time are dropped.
        """
        if not self._stopping.is_set():
            self._stop_deadline = time.monotonic() + max(0.05, timeout * 0.8)
            self._stopping.set()
        self._post(StopRequested())
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._unregister()

    def _post(self, event: Event) -> None:
        loop, events = self._loop, self._events
        if loop is not None and events is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    def _unregister(self) -> None:
        with _registry_lock:
            key = _fingerprint(self._token)
            if _registry.get(key) is self:
                del _registry[key]

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def acks_sent(self) -> int:
        """Acks sent so far, on every connection."""
        return self._acks_closed + sum(r.acks_sent for r in list(self._readers.values()))

    @property
    def reconnects(self) -> int:
        """Connections replaced so far (refreshes and losses)."""
        return self._supervisor.reconnects

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        open_ = sum(1 for r in list(self._readers.values()) if r.ws.close_code is None)
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
            self._unregister()  # only now: a re-run cell waits for this thread, not for stop()
            self._stopped.set()

    async def _main(self) -> None:
        self._events = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        sup = self._supervisor
        try:
            self._feed(Start())
            if self._stopping.is_set():
                self._feed(StopRequested())
            while not sup.finished:
                wake = sup.wake_at
                if self._stop_deadline is not None and self._stopping.is_set():
                    wake = self._stop_deadline if wake is None else min(wake, self._stop_deadline)
                timeout = None if wake is None else max(0.0, wake - time.monotonic())
                try:
                    event = await asyncio.wait_for(self._events.get(), timeout)
                except TimeoutError:
                    if self._stopping.is_set() and time.monotonic() >= (self._stop_deadline or 0.0):
                        self._abort_all()  # closes that took too long: drop them; their Closed follows
                        self._stop_deadline = time.monotonic() + 1.0
                        continue
                    event = TimerFired({c: r.last_frame for c, r in self._readers.items()})
                self._feed(event)
        finally:
            self._abort_all()
            tasks = [*self._tasks.values(), *self._background]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _feed(self, event: Event) -> None:
        for command in self._supervisor.handle(time.monotonic(), event):
            self._do(command)

    def _do(self, command: Command) -> None:
        if isinstance(command, OpenConnection):
            self._spawn(command.conn, self._open(command.conn))
        elif isinstance(command, Connect):
            self._spawn(command.conn, self._connect(command.conn, command.url))
        elif isinstance(command, CancelOpen):
            task = self._tasks.pop(command.conn, None)
            if task is not None:
                task.cancel()
        elif isinstance(command, Close):
            reader = self._readers.get(command.conn)
            if reader is not None:
                self._background_task(reader.close(command.why, self._close_budget()))
        elif isinstance(command, SetStatus):
            if command.status is not Status.LISTENING and command.status.value != self.capture.state:
                self._journal_note(f"{command.status.value}: {command.detail}")
            self.capture.set_state(command.status.value, command.detail)
        elif isinstance(command, Note):
            self.capture.note(command.text)
        elif isinstance(command, Finish):
            self.capture.set_state(command.status.value, command.explanation)
            self._journal_note(f"{command.status.value}: {command.explanation}")

    def _spawn(self, conn: str, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks[conn] = task
        task.add_done_callback(lambda t, c=conn: self._tasks.pop(c, None) if self._tasks.get(c) is t else None)

    def _background_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _report(self, event: Event) -> None:
        assert self._events is not None
        self._events.put_nowait(event)

    def _close_budget(self) -> float:
        if self._stop_deadline is not None and self._stopping.is_set():
            return min(self.close_timeout, max(0.0, self._stop_deadline - time.monotonic()))
        return self.close_timeout

    def _abort_all(self) -> None:
        for reader in list(self._readers.values()):
            if reader.ws.close_code is None:
                reader.ws.transport.abort()

    async def _open(self, conn: str) -> None:
        self._report(await open_url_event(conn, self.api_url, self._token, self.open_timeout))

    async def _connect(self, conn: str, url: str) -> None:
        if self.debug_reconnects and "debug_reconnects" not in url:
            url += ("&" if "?" in url else "?") + "debug_reconnects=true"
        ws = await open_websocket(
            url,
            open_timeout=self.open_timeout,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=self.close_timeout,
            max_frame_bytes=self.max_frame_bytes,
        )
        if isinstance(ws, str):
            self._report(ConnectFailed(conn, ws))
            return
        now = time.time()
        if self._journal is not None:
            self._journal.opened(now, conn)
        self.capture.record_connection_opened(conn, now)
        reader = ConnectionReader(
            conn,
            ws,
            capture=self.capture,
            journal=self._journal,
            report=self._report,
            max_frame_bytes=self.max_frame_bytes,
        )
        self._readers[conn] = reader
        self._report(Connected(conn))  # before any frame the reader reports
        self._background_task(self._read(reader))

    async def _read(self, reader: ConnectionReader) -> None:
        try:
            await reader.run()
        finally:
            self._acks_closed += reader.acks_sent
            self._readers.pop(reader.conn, None)

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
