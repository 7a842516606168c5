"""Simulator over real loopback sockets, driven by a tiny raw client (slack_sdk + websockets).

Every test stops by itself: waits are bounded, and the fixtures close clients
and simulators even when an assertion fails.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close
from websockets.sync.client import ClientConnection, connect

from slacklab.redact import mask_text
from slacklab.sim.scenario import Scenario, ScenarioBuilder, build_scenario
from slacklab.sim.server import APP_TOKEN, Simulator

from .helpers import wait_until

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------- helpers


def open_url(sim: Simulator, token: str | None = APP_TOKEN) -> str:
    client = WebClient(token=token, base_url=sim.api_url, timeout=5)
    return client.apps_connections_open(app_token=token)["url"]  # type: ignore[arg-type]


class RawClient:
    """A minimal Socket Mode client: reads every frame in a thread, optionally acks envelopes."""

    def __init__(self, url: str, *, ack: bool | Callable[[dict[str, Any]], bool] = True) -> None:
        # __enter__ marks the connection as managed (websockets >= 17 warns otherwise)
        self.ws: ClientConnection = connect(url, open_timeout=5, close_timeout=2, ping_interval=None).__enter__()
        self.ack = ack
        self.frames: queue.Queue[str] = queue.Queue()
        self.texts: list[str] = []
        self.envelopes: list[dict[str, Any]] = []
        self.closed: ConnectionClosed | None = None  # set when the connection ended in error
        self.close_rcvd: Close | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                assert isinstance(text, str)
                self.texts.append(text)
                try:
                    data = json.loads(text)
                except ValueError:
                    data = None
                if isinstance(data, dict) and "envelope_id" in data:
                    self.envelopes.append(data)
                    if self.ack is True or (callable(self.ack) and self.ack(data)):
                        self.ws.send(json.dumps({"envelope_id": data["envelope_id"]}))
                self.frames.put(text)
        except ConnectionClosed as exc:
            self.closed = exc
        finally:
            self.close_rcvd = self.ws.protocol.close_rcvd  # the server's close frame, if any
            self.done.set()

    def next_frame(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(self.frames.get(timeout=timeout))

    def next_of(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next_frame(max(0.01, deadline - time.monotonic()))
            if frame.get("type") == kind:
                return frame

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self.done.wait(timeout)

    def close(self) -> None:
        self.ws.close()
        self._thread.join(timeout=5)


@pytest.fixture
def clients() -> Iterator[list[RawClient]]:
    made: list[RawClient] = []
    yield made
    for c in made:
        c.close()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    sims: list[Simulator] = []

    def make(*args: Any, **kwargs: Any) -> Simulator:
        sims.append(Simulator(*args, **kwargs))
        return sims[-1]

    yield make
    for s in sims:
        s.close()


def tiny(n: int = 1, step: float = 0.0) -> Scenario:
    b = ScenarioBuilder(seed=1)
    for i in range(n):
        b.message(i * step, f"message {i}")
    return b.build()


# ------------------------------------------------------------------ handshake


def test_hello_contents_and_num_connections(make_sim, clients):
    sim = make_sim([], speed=None)
    a = RawClient(open_url(sim))
    clients.append(a)
    hello = a.next_frame()
    assert hello["type"] == "hello"
    assert hello["num_connections"] == 1
    assert hello["connection_info"]["app_id"] == "A0SIMAPP"
    info = hello["debug_info"]
    assert info["host"] == "applink-sim-s1"
    assert isinstance(info["build_number"], int) and info["approximate_connection_time"] > 0
    b = RawClient(open_url(sim))
    clients.append(b)
    assert b.next_frame()["num_connections"] == 2
    assert [c.id for c in sim.connections] == ["s1", "s2"]
    assert all(c.hello_sent and c.open for c in sim.connections)


def test_urls_and_ticket_shape(make_sim):
    sim = make_sim([], start=False)
    assert not sim.running
    with sim:
        assert sim.api_url.startswith("http://127.0.0.1:") and sim.api_url.endswith("/api/")
        url = open_url(sim)
        assert url.startswith(f"ws://127.0.0.1:{sim.ws_port}/link/?ticket=")
        assert url.endswith("&app_id=A0SIMAPP")
    assert not sim.running


def test_ticket_reuse_and_unknown_ticket_are_refused(make_sim, clients):
    sim = make_sim([], speed=None)
    url = open_url(sim)
    clients.append(RawClient(url))
    assert clients[0].next_frame()["type"] == "hello"
    with pytest.raises(InvalidStatus) as reused:
        connect(url, open_timeout=5)
    assert reused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as unknown:
        connect(f"ws://127.0.0.1:{sim.ws_port}/link/?ticket=nope&app_id=A0SIMAPP", open_timeout=5)
    assert unknown.value.response.status_code == 403
    assert sim.stats["refused_handshakes"] == 2


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("xapp-1-A0OTHERAPP-0000-SIMULATED", "invalid_auth"),
        ("xoxb-0000-SIMULATED-bot-token", "not_allowed_token_type"),
        (None, "not_authed"),
    ],
)
def test_bad_tokens(make_sim, token, error):
    sim = make_sim([])
    with pytest.raises(SlackApiError) as exc:
        open_url(sim, token=token)
    assert exc.value.response["error"] == error
    assert exc.value.response.status_code == 200


def test_fail_next_open_ratelimited_then_other_errors_then_ok(make_sim):
    sim = make_sim([])
    sim.fail_next_open("ratelimited", retry_after=1)
    sim.fail_next_open("internal_error")
    with pytest.raises(SlackApiError) as limited:
        open_url(sim)
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "1"
    with pytest.raises(SlackApiError) as internal:
        open_url(sim)
    assert internal.value.response["error"] == "internal_error"
    sim.fail_next_open("invalid_auth", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError):
            open_url(sim)
    assert open_url(sim).startswith("ws://")
    assert sim.stats["api_errors"] == 4


def test_unknown_method_and_bad_request(make_sim):
    sim = make_sim([])
    client = WebClient(token=APP_TOKEN, base_url=sim.api_url, timeout=5)
    with pytest.raises(SlackApiError) as exc:
        client.api_call("chat.scheduleMessage")  # not simulated (chat.postMessage is: test_webapi.py)
    assert exc.value.response["error"] == "unknown_method"
    with socket.create_connection(("127.0.0.1", sim.api_port), timeout=5) as raw:
        raw.sendall(b"garbage\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")


def test_eleventh_connection_gets_too_many_websockets(make_sim, clients):
    sim = make_sim([], speed=None)
    for n in range(1, 11):
        c = RawClient(open_url(sim))
        clients.append(c)
        assert c.next_frame()["num_connections"] == n
    extra = RawClient(open_url(sim))
    clients.append(extra)
    frame = extra.next_frame()
    assert frame == {"type": "disconnect", "reason": "too_many_websockets", "debug_info": {"host": "applink-sim-s11"}}
    assert extra.wait_closed()
    assert extra.close_rcvd is not None  # a clean close
    assert not any(c.closed for c in clients[:10])


# ----------------------------------------------------------------- deliveries


def _without_times(payload: Any) -> dict[str, Any]:
    """A payload without ``event_time`` and ``event.event_ts`` (stamped per run), to compare the rest exactly."""
    out = {k: v for k, v in payload.items() if k != "event_time"}
    if isinstance(out.get("event"), dict):
        out["event"] = {k: v for k, v in out["event"].items() if k != "event_ts"}
    return out


def test_every_item_delivered_and_acked(make_sim, clients):
    scenario = build_scenario(seed=2, events=60, duration=3.0)
    sim = make_sim(scenario, speed=20)
    c = RawClient(open_url(sim))
    clients.append(c)
    assert sim.wait_done(timeout=20)
    truth = sim.truth
    assert len(truth.events) == 60
    assert truth.acked_events == set(truth.events)
    assert truth.unacked_events == () and truth.lost_events == ()
    assert truth.summary()["retries"] == 0
    assert len(c.envelopes) == 60
    assert {e["type"] for e in c.envelopes} == {"events_api", "slash_commands", "interactive"}
    payloads = [e["payload"] for e in c.envelopes]
    # in scenario order, unchanged but for the event times, stamped with when each fell due in this run
    assert [_without_times(p) for p in payloads] == [_without_times(i.payload) for i in scenario]
    assert all(abs(p["event_time"] - time.time()) < 60 for p in payloads if "event_time" in p)
    sent = {d["envelope_id"] for d in truth.deliveries}
    assert sent == {e["envelope_id"] for e in c.envelopes}
    assert all(d["connection"] == "s1" and d["status"] == "acked" for d in truth.deliveries)
    assert all(abs(d["sent_at"] - time.time()) < 60 for d in truth.deliveries)  # epoch seconds


def test_speed_paces_delivery(make_sim, clients):
    sim = make_sim(tiny(2, step=1.0), speed=2.0)  # second item 0.5 wall s after the first
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    c.next_of("events_api")
    t0 = time.monotonic()
    c.next_of("events_api")
    assert 0.3 < time.monotonic() - t0 < 2.0


def test_withheld_acks_get_redelivered_with_new_envelope_ids(make_sim, clients):
    sim = make_sim(tiny(1), speed=None, ack_timeout=0.2)
    c = RawClient(open_url(sim), ack=False)
    clients.append(c)
    assert sim.wait_done(timeout=10)  # settles once the last retry times out
    envs = c.envelopes
    assert [e["retry_attempt"] for e in envs] == [0, 1, 2, 3]
    assert [e["retry_reason"] for e in envs] == ["", "timeout", "timeout", "timeout"]
    assert len({e["envelope_id"] for e in envs}) == 4
    assert len({e["payload"]["event_id"] for e in envs}) == 1
    truth = sim.truth
    assert truth.lost_events == truth.events
    assert [d["status"] for d in truth.deliveries] == ["timed_out"] * 4


def test_ack_of_a_retry_settles(make_sim, clients):
    sim = make_sim(tiny(1), speed=None, ack_timeout=0.2)
    c = RawClient(open_url(sim), ack=lambda env: env.get("retry_attempt", 0) >= 1)
    clients.append(c)
    assert sim.wait_done(timeout=10)
    assert [e["retry_attempt"] for e in c.envelopes] == [0, 1]
    assert sim.truth.acked_events == set(sim.truth.events)


def test_spread_across_three_connections_is_seeded(make_sim, clients):
    def run() -> list[str]:
        sim = make_sim(build_scenario(seed=4, events=30, duration=1.0), speed=None)
        sim.pause()
        mine = [RawClient(open_url(sim)) for _ in range(3)]
        clients.extend(mine)
        assert sim.wait_connections(3, timeout=5)
        sim.resume()
        assert sim.wait_done(timeout=10)
        assert all(c.envelopes for c in mine)  # every connection got a share
        assert sum(len(c.envelopes) for c in mine) == 30
        return [d["connection"] for d in sim.truth.deliveries]

    first = run()
    assert set(first) == {"s1", "s2", "s3"}
    assert run() == first


def test_deliveries_queue_until_a_client_connects(make_sim, clients):
    sim = make_sim(tiny(3), speed=None, wait_for_client=False)
    assert wait_until(lambda: sim.truth.queued == 3, timeout=3)
    c = RawClient(open_url(sim))
    clients.append(c)
    assert sim.wait_done(timeout=10)
    assert len(c.envelopes) == 3


def test_redelivery_moves_to_another_connection_after_a_drop(make_sim, clients):
    sim = make_sim(tiny(1), speed=None, ack_timeout=0.3)
    a = RawClient(open_url(sim), ack=False)
    clients.append(a)
    a.next_of("events_api")
    sim.drop_connection("s1")
    b = RawClient(open_url(sim))
    clients.append(b)
    retry = b.next_of("events_api")
    assert retry["retry_attempt"] == 1 and retry["retry_reason"] == "timeout"
    assert sim.wait_done(timeout=5)
    assert [d["connection"] for d in sim.truth.deliveries] == ["s1", "s2"]


def test_max_in_flight_caps_unacked_envelopes(make_sim, clients):
    sim = make_sim(tiny(5), speed=None, max_in_flight=1, ack_timeout=30)
    c = RawClient(open_url(sim), ack=False)
    clients.append(c)
    c.next_of("events_api")
    time.sleep(0.3)
    assert len(c.envelopes) == 1
    c.ws.send(json.dumps({"envelope_id": c.envelopes[0]["envelope_id"]}))
    c.next_of("events_api")
    assert len(c.envelopes) == 2


def test_pause_resume_and_add_live(make_sim, clients):
    sim = make_sim([], speed=None)
    assert sim.wait_done(timeout=0)  # nothing to do
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    sim.pause()
    assert sim.add(tiny(2)) == 2
    assert not sim.wait_done(timeout=0.3)
    assert c.envelopes == []
    assert "paused" in repr(sim)
    sim.resume()
    assert sim.wait_done(timeout=5)
    assert len(c.envelopes) == 2
    assert sim.stats["items"] == sim.stats["released"] == 2


def test_acks_unknown_and_duplicate_are_recorded(make_sim, clients):
    sim = make_sim(tiny(1), speed=None)
    c = RawClient(open_url(sim))
    clients.append(c)
    assert sim.wait_done(timeout=5)
    env = c.envelopes[0]["envelope_id"]
    c.ws.send(json.dumps({"envelope_id": env}))
    c.ws.send(json.dumps({"envelope_id": "not-a-real-envelope"}))
    c.ws.send("not json at all")
    c.ws.send(json.dumps({"type": "something_else"}))
    assert wait_until(lambda: sim.truth.summary()["acks"] == 3)
    s = sim.truth.summary()
    assert s["duplicate_acks"] == 1 and s["unknown_acks"] == 1


# ------------------------------------------------------------------ fault knobs


def test_drop_connection_closes_without_close_frame(make_sim, clients):
    sim = make_sim([], speed=None)
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    assert sim.drop_connection() == ["s1"]
    assert c.wait_closed()
    assert c.closed is not None and c.close_rcvd is None  # no close frame from the server
    assert wait_until(lambda: sim.connections[0].state == "closed")
    assert sim.drop_connection() == []


def test_go_silent_stops_pongs_and_deliveries(make_sim, clients):
    sim = make_sim([], speed=None, ack_timeout=0.3)
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    assert c.ws.ping().wait(2)  # answered while healthy
    assert sim.go_silent("s1") == ["s1"]
    assert not c.ws.ping().wait(0.5)  # no pong: the client's keepalive would time out
    sim.add(tiny(1))
    assert wait_until(lambda: len(sim.truth.deliveries) == 1)
    time.sleep(0.1)
    assert c.envelopes == []  # sent into the void
    assert sim.truth.deliveries[0]["connection"] == "s1"
    assert sim.connections[0].silent
    sim.drop_connection("s1")
    assert c.wait_closed()


def test_go_silent_ends_with_an_abort_after_for_seconds(make_sim, clients):
    sim = make_sim([], speed=None)
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    sim.go_silent(for_seconds=0.3)
    assert not c.wait_closed(0.1)
    assert c.wait_closed(5)
    assert c.close_rcvd is None
    assert wait_until(lambda: not sim.connections[0].open)


def test_silent_connection_closes_when_the_client_gives_up(make_sim, clients):
    # the client's ping times out, it closes and reconnects: retries follow it
    sim = make_sim([], speed=None, ack_timeout=0.3)
    a = RawClient(open_url(sim))
    clients.append(a)
    a.next_of("hello")
    sim.go_silent("s1")
    sim.add(tiny(1))
    assert wait_until(lambda: len(sim.truth.deliveries) == 1)
    a.ws.close_timeout = 0.2
    a.close()  # the server never answers the close handshake
    assert wait_until(lambda: not sim.connections[0].open)
    b = RawClient(open_url(sim))
    clients.append(b)
    assert b.next_of("hello")["num_connections"] == 1
    assert b.next_of("events_api")["retry_attempt"] == 1
    assert sim.wait_done(timeout=5)


def test_send_malformed_text_reaches_the_client(make_sim, clients):
    sim = make_sim([], speed=None)
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    sim.send_malformed()
    text = c.frames.get(timeout=5)
    with pytest.raises(ValueError):
        json.loads(text)
    sim.send_malformed("[1, 2, 3]", conn="s1")
    assert c.frames.get(timeout=5) == "[1, 2, 3]"
    assert sim.stats["malformed_sent"] == 2


def test_disconnect_warning_keeps_connection_other_reasons_retire_and_close(make_sim, clients):
    sim = make_sim([], speed=100, refresh_grace=10.0)  # grace: 0.1 wall s, at least 0.5
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    assert sim.disconnect("warning") == ["s1"]
    assert c.next_frame() == {"type": "disconnect", "reason": "warning", "debug_info": {"host": "applink-sim-s1"}}
    assert sim.connections[0].state == "open"
    t0 = time.monotonic()
    assert sim.disconnect("made_up_reason", conn="s1") == ["s1"]
    assert c.next_frame()["reason"] == "made_up_reason"
    assert sim.connections[0].state == "retiring"
    sim.add(tiny(1))  # not delivered to a retiring connection
    assert c.wait_closed(5)
    assert 0.3 < time.monotonic() - t0 < 3
    assert c.close_rcvd is not None
    assert c.envelopes == [] and sim.truth.queued == 1


def test_disconnect_too_many_websockets_closes_at_once(make_sim, clients):
    sim = make_sim([], speed=None)
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    sim.disconnect("too_many_websockets")
    assert c.next_frame()["reason"] == "too_many_websockets"
    assert c.wait_closed(2)


def test_link_disabled_then_enabled(make_sim, clients):
    sim = make_sim([], speed=None)
    c = RawClient(open_url(sim))
    clients.append(c)
    c.next_of("hello")
    assert sim.link_disabled() == ["s1"]
    assert c.next_frame()["reason"] == "link_disabled"
    assert c.wait_closed(2)
    again = RawClient(open_url(sim))  # apps.connections.open still works
    clients.append(again)
    assert again.next_frame()["reason"] == "link_disabled"  # instead of hello
    assert again.wait_closed(2)
    sim.enable_link()
    ok = RawClient(open_url(sim))
    clients.append(ok)
    assert ok.next_frame()["type"] == "hello"


def test_refresh_schedule_at_high_speed(make_sim, clients):
    # 30 simulated s at 100x: warning at 0.2 s, refresh_requested at 0.3 s, close 0.5 s later
    sim = make_sim([], speed=100, refresh_interval=30.0)
    t0 = time.monotonic()
    c = RawClient(open_url(sim))
    clients.append(c)
    hello = c.next_of("hello")
    assert hello["debug_info"]["approximate_connection_time"] == 30
    warning = c.next_frame()
    t_warning = time.monotonic() - t0
    refresh = c.next_frame()
    t_refresh = time.monotonic() - t0
    assert (warning["reason"], refresh["reason"]) == ("warning", "refresh_requested")
    assert 0.1 < t_warning < 2 and t_warning < t_refresh < 2.5
    assert c.wait_closed(5)  # the client did not close: the server does after the grace
    assert sim.connections[0].disconnect_reason == "refresh_requested"


def test_debug_reconnects_asks_for_short_connections(make_sim, clients):
    sim = make_sim([], speed=1000)  # 360 simulated s = 0.36 wall s
    c = RawClient(open_url(sim) + "&debug_reconnects=true")
    clients.append(c)
    hello = c.next_of("hello")
    assert hello["debug_info"]["approximate_connection_time"] == 360
    assert c.next_of("disconnect")["reason"] == "warning"
    assert c.next_of("disconnect")["reason"] == "refresh_requested"
    assert sim.connections[0].debug_reconnects
    plain = RawClient(sim.issue_url())
    clients.append(plain)
    assert plain.next_of("hello")["debug_info"]["approximate_connection_time"] == 18060


# ---------------------------------------------------------------- lifecycle


def test_close_leaves_no_threads_and_releases_ports(make_sim, clients):
    before = {t.ident for t in threading.enumerate()}
    sim = make_sim(tiny(1), speed=None)
    c = RawClient(open_url(sim), ack=False)
    clients.append(c)
    c.next_of("events_api")
    ports = (sim.api_port, sim.ws_port)
    t0 = time.monotonic()
    sim.close()
    assert time.monotonic() - t0 < 5
    sim.close()  # idempotent
    assert c.wait_closed(5)
    assert c.close_rcvd is not None and c.close_rcvd.code == 1001  # going away
    assert not [t for t in threading.enumerate() if t.name.startswith("slacklab-simulator")]
    assert {t.ident for t in threading.enumerate() if t.ident not in before and t.is_alive()} <= {c._thread.ident}
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    with pytest.raises(RuntimeError):
        sim.drop_connection()
    with pytest.raises(RuntimeError):
        sim.start()
    assert not sim.wait_done(timeout=0.1)  # closed before the envelope was acked


def test_context_manager_and_repr_hide_secrets(caplog):
    caplog.set_level(logging.DEBUG, logger="slacklab.sim.server")
    with Simulator(build_scenario(events=5, duration=1), speed=None) as sim:
        url = open_url(sim)
        ticket = url.split("ticket=")[1].split("&")[0]
        text = repr(sim)
        assert "running" in text and str(sim.ws_port) in text
        assert APP_TOKEN not in text
        assert mask_text(APP_TOKEN) != APP_TOKEN  # the redactor recognises the fake token
    assert "closed" in repr(sim)
    assert ticket not in caplog.text and APP_TOKEN not in caplog.text
    assert "apps.connections.open" in caplog.text


def test_default_scenario_and_argument_checks():
    sim = Simulator(start=False)
    assert len(sim.scenario) == 200
    sim.close()
    with pytest.raises(ValueError):
        Simulator([], speed=0, start=False)
    with pytest.raises(ValueError):
        Simulator([], refresh_interval=0, start=False)
    with pytest.raises(ValueError):
        Simulator([], max_connections=0, start=False)


def test_token_only_as_app_token_argument_works(make_sim):
    # what a listener does: no client-wide token, the app token passed to the method
    sim = make_sim([])
    url = WebClient(base_url=sim.api_url, timeout=5).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert "ticket=" in url


def test_usable_while_the_caller_runs_its_own_event_loop():
    # Jupyter runs a loop in the main thread; the simulator must not need or touch it.
    import asyncio

    from websockets.asyncio.client import connect as aconnect

    async def main() -> list[str]:
        with Simulator(tiny(2), speed=None) as sim:
            url = open_url(sim)
            kinds = []
            async with aconnect(url, ping_interval=None) as ws:
                while len(kinds) < 3:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    kinds.append(frame["type"])
                    if "envelope_id" in frame:
                        await ws.send(json.dumps({"envelope_id": frame["envelope_id"]}))
                assert await asyncio.to_thread(sim.wait_done, 5)
            return kinds

    assert asyncio.run(main()) == ["hello", "events_api", "events_api"]
