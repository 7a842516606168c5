"""Prompt, clean stop in every state, giving up, and a failing listen() that leaves nothing behind.

Each stand-in for Slack here is a loopback socket that accepts and then says
nothing (an API call or a WebSocket handshake that hangs), or the simulator.
``elapsed < timeout + slack`` is a correctness bound (stop must not wait for a
socket that never answers), not a speed measurement.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import slacklab
import slacklab.listener as listener_module
from slacklab.errors import JournalError, SlacklabError, StartError, TokenError
from slacklab.listener import Listener
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator

from .helpers import wait_until
from .test_listener import FAST, no_thread_left_behind, slacklab_threads  # noqa: F401 - a fixture

pytestmark = pytest.mark.timeout(60)
TOKEN = "xapp-1-A0STOPTEST-0000-FAKE"
SLACK = 0.5  # seconds of scheduling slack on a loaded 2-core machine


class Hang:
    """A loopback TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="test-hang", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(5)


@pytest.fixture
def hang() -> Iterator[Hang]:
    server = Hang()
    yield server
    server.close()


@pytest.fixture
def api_pointing_at(hang: Hang) -> Iterator[str]:
    """A Web API whose apps.connections.open returns a WebSocket URL that hangs in the handshake."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.dumps({"ok": True, "url": f"ws://127.0.0.1:{hang.port}/link/?ticket=t"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="test-api", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def registered() -> bool:
    return any(listener_module._registry.values())


def stop_promptly(listener: Listener, timeout: float = 1.0) -> float:
    started = time.monotonic()
    listener.stop(timeout)
    elapsed = time.monotonic() - started
    assert elapsed < timeout + SLACK
    assert not listener.running
    assert not registered()  # the per-token entry went with the thread, not before
    assert not [t for t in slacklab_threads() if t != "slacklab-simulator"]
    return elapsed


def test_stop_while_waiting_for_apps_connections_open(hang: Hang) -> None:
    listener = Listener(TOKEN, api_url=f"http://127.0.0.1:{hang.port}/api/", open_timeout=30, **FAST)
    capture = listener.start()
    assert wait_until(lambda: hang.accepted, 5)  # the API call is in flight, and will never be answered
    stop_promptly(listener)
    assert capture.state == "stopped"


def test_stop_while_the_websocket_handshake_hangs(hang: Hang, api_pointing_at: str) -> None:
    listener = Listener(TOKEN, api_url=api_pointing_at, open_timeout=30, **FAST)
    listener.start()
    assert wait_until(lambda: hang.accepted, 5)
    stop_promptly(listener)


def test_stop_while_backing_off_after_ratelimited() -> None:
    with Simulator(build_scenario(events=5), speed=10) as sim:
        sim.fail_next_open("ratelimited", retry_after=30)
        listener = Listener(sim.app_token, api_url=sim.api_url, **FAST)
        capture = listener.start()
        assert wait_until(lambda: "rate limited" in capture.detail, 5)
        stop_promptly(listener)


@pytest.mark.parametrize("state", ["listening", "draining", "silent_peer"])
def test_stop_while_connected(state: str) -> None:
    with Simulator(build_scenario(events=400, duration=60.0), speed=5) as sim:
        # close_timeout 5 s: stop(1.0) must still return in time, dropping what does not close
        listener = Listener(sim.app_token, api_url=sim.api_url, close_timeout=5.0, seed=1)
        capture = listener.start()
        assert capture.wait_for(3, timeout=20) >= 3
        if state == "draining":
            (old,) = [c.id for c in sim.connections if c.state == "open"]
            sim.disconnect("warning", old)  # the replacement opens; the old one keeps delivering
            assert wait_until(
                lambda: len(capture.connections()) == 2 and capture.connections()["hello_at"].notna().all(), 10
            )
        if state == "silent_peer":
            sim.go_silent()  # the close handshake will never be answered
        stop_promptly(listener)
        assert capture.state == "stopped"


def test_rerun_waits_for_the_previous_thread_and_leaves_one_listener() -> None:
    with Simulator(build_scenario(events=200, duration=60.0), speed=5) as sim:
        first = Listener(sim.app_token, api_url=sim.api_url, **FAST)
        first.start()
        assert first.capture.wait_for(2, timeout=10) >= 2
        second = Listener(sim.app_token, api_url=sim.api_url, **FAST)
        second.start()
        assert not first.running and first.capture.state == "stopped"
        assert list(listener_module._registry.values()) == [second]
        second.stop()
        assert not registered()


def test_give_up_after_stops_as_failed_with_the_last_error_in_plain_words() -> None:
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now: connection refused
    listener = Listener(TOKEN, api_url=f"http://127.0.0.1:{port}/api/", give_up_after=1.5, **FAST)
    capture = listener.start()
    assert wait_until(lambda: "cannot reach the Web API" in capture.detail, 5)
    assert capture.state == "reconnecting"
    assert f"127.0.0.1:{port}" in capture.detail and "retrying in" in capture.detail
    assert wait_until(lambda: capture.state == "failed", 5)
    assert capture.detail.startswith("gave up after 1.5 s without a working connection: cannot reach the Web API")
    assert "Connect" in capture.detail  # aiohttp's ClientConnectorError, named
    assert wait_until(lambda: not listener.running, 5)
    listener.stop()
    assert not registered()


# ------------------------------------------------------------ a failing listen()


def simulator_threads() -> list[str]:
    return [t for t in slacklab_threads() if t == "slacklab-simulator"]


def test_listen_with_an_unwritable_journal_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(JournalError, match="cannot open the journal") as info:
        slacklab.listen(journal=blocker / "j.jsonl", events=5)
    assert not isinstance(info.value, OSError)
    assert simulator_threads() == [] and not registered()


def test_listen_with_a_bad_token_starts_nothing() -> None:
    with pytest.raises(TokenError):
        slacklab.listen("xoxb-1-not-an-app-token")
    assert slacklab_threads() == [] and not registered()


def test_listen_when_the_simulator_cannot_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)

    async def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr("slacklab.sim.socket_mode.serve", refuse)
    with pytest.raises(StartError, match="simulator could not start") as info:
        slacklab.listen(events=5)
    assert isinstance(info.value, SlacklabError) and not isinstance(info.value, OSError)
    assert simulator_threads() == [] and not registered()
