"""The HTTP receiver over loopback: verification, 401/413, the raw log and its reload, lifecycle."""

from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pandas as pd
import pytest

from slacklab.http.logs import read_http_log
from slacklab.http.receiver import HttpReceiver, receive_http
from slacklab.http.signing import sign
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import ScenarioBuilder

from .helpers import event_payload

SECRET = FAKE_SIGNING_SECRET


def post(url: str, body: bytes, headers: dict[str, str], path: str | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("POST", path or parts.path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def signed_json(payload: dict[str, Any], *, secret: str = SECRET, ts: int | None = None) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", **sign(secret, ts or int(time.time()), body)}


@pytest.fixture
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            return
        time.sleep(0.05)
    raise AssertionError(f"threads left running: {[t.name for t in extra]}")


def small_scenario():
    b = ScenarioBuilder(seed=3)
    first = b.message(0.0, "=SUM(1+1) Grüße")
    b.reaction(0.1, first, "tada")
    b.slash(0.2, "/deploy", "api staging ✓")
    b.block_action(0.3, "approve_deploy", value="yes", label="Approve", message_text="Deploy?")
    return b.build()


class TestRoundTrip:
    def test_simulated_slack_to_receiver_and_back_from_the_log(self, tmp_path: Path, no_leftover_threads) -> None:
        log_path = tmp_path / "http.jsonl"
        cap = receive_http(signing_secret=SECRET, log=log_path)
        try:
            assert cap.state == "receiving" and cap.url.startswith("http://127.0.0.1:")
            with HttpDelivery(small_scenario(), cap.url, speed=None) as sender:
                assert sender.wait_done(timeout=20)
            assert cap.wait_for(5, timeout=10) == 5
        finally:
            cap.stop()
        cap.stop()  # idempotent
        assert cap.state == "stopped"
        df = cap.df
        assert df.kind.iloc[0] == "url_verification"  # always first; the rest may arrive in any order
        assert sorted(df.kind) == sorted(
            ["url_verification", "events_api", "events_api", "slash_commands", "interactive"]
        )
        assert set(df.signature) == {"valid"} and set(df.http_status) == {200}
        assert (df.response_ms < 1000).all()
        assert sender.truth.summary()["delivered"] == 4
        assert stat.S_IMODE(os.stat(log_path).st_mode) == 0o600
        reloaded = read_http_log(log_path, SECRET).df
        pd.testing.assert_frame_equal(
            reloaded.sort_values("received_at").reset_index(drop=True),
            df.sort_values("received_at").reset_index(drop=True),
        )
        slash = df[df.kind == "slash_commands"].iloc[0]
        assert slash.text == "api staging ✓" and slash.event_type == "/deploy"
        assert SECRET not in repr(cap) + df.to_string()

    def test_url_verification_gets_the_challenge(self, no_leftover_threads) -> None:
        with HttpReceiver(signing_secret=SECRET) as cap:
            body, headers = signed_json({"token": "t", "challenge": "c-123", "type": "url_verification"})
            status, answer = post(cap.url, body, headers)
        assert status == 200 and json.loads(answer) == {"challenge": "c-123"}


class TestRejections:
    def test_forged_stale_and_unsigned_get_401_and_are_recorded(self, no_leftover_threads) -> None:
        with HttpReceiver(signing_secret=SECRET) as cap:
            forged = signed_json(event_payload("Ev1"), secret="someone-elses-secret")
            stale = signed_json(event_payload("Ev2"), ts=int(time.time()) - 3600)
            bare = (json.dumps(event_payload("Ev3")).encode(), {"Content-Type": "application/json"})
            statuses = [post(cap.url, b, h)[0] for b, h in (forged, stale, bare)]
            cap.wait_for(3, timeout=5)
        assert statuses == [401, 401, 401]
        df = cap.df.sort_values("event_id")
        assert list(df.signature) == ["invalid", "stale", "missing"] and set(df.http_status) == {401}

    def test_without_a_secret_everything_is_unchecked_and_accepted(self, no_leftover_threads) -> None:
        with HttpReceiver() as cap:
            body, headers = signed_json(event_payload("Ev1"), secret="whatever-secret")
            assert post(cap.url, body, headers)[0] == 200
            cap.wait_for(1, timeout=5)
        assert cap.df.signature.iloc[0] == "unchecked"

    def test_body_over_the_limit_gets_413(self, no_leftover_threads) -> None:
        with HttpReceiver(max_body=100) as cap:
            body, headers = signed_json(event_payload("Ev1", text="x" * 500))
            assert post(cap.url, body, headers)[0] == 413
            parts = urlsplit(cap.url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            conn.putrequest("POST", parts.path)
            conn.putheader("Content-Length", str(2_000_000_000))
            conn.endheaders()
            assert conn.getresponse().status == 413  # refused before any body is read
            conn.close()
        assert len(cap) == 0 and cap.problems().problem.str.startswith("413").all()

    def test_other_paths_methods_and_non_slack_bodies(self, no_leftover_threads) -> None:
        with HttpReceiver() as cap:
            body, headers = signed_json(event_payload("Ev1"))
            assert post(cap.url, body, headers, path="/elsewhere")[0] == 404
            assert post(cap.url, b'{"hello": "world"}', {"Content-Type": "application/json"})[0] == 400
            parts = urlsplit(cap.url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            conn.request("GET", parts.path)
            assert conn.getresponse().status == 200
            conn.close()
        assert len(cap) == 0 and "not a Slack request" in cap.problems().problem.iloc[0]

    def test_a_respond_that_raises_still_gets_a_200(self, no_leftover_threads) -> None:
        def broken(row: dict[str, Any]) -> None:
            raise RuntimeError("oops in the notebook")

        with HttpReceiver(respond=broken) as cap:
            body, headers = signed_json(event_payload("Ev1"))
            assert post(cap.url, body, headers)[0] == 200
            cap.wait_for(1, timeout=5)
        assert any("respond() raised RuntimeError" in n for n in cap.notes)

    def test_a_log_that_cannot_be_written_fails_closed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leftover_threads
    ) -> None:
        """Like the journal: not on disk -> not accepted (500, Slack retries), a problem row, a plain note."""
        import errno

        from slacklab.http.logs import HttpLogWriter

        real_write = HttpLogWriter.write
        disk_full = threading.Event()
        disk_full.set()

        def write(self: HttpLogWriter, request: Any) -> None:
            if disk_full.is_set():
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_write(self, request)

        monkeypatch.setattr(HttpLogWriter, "write", write)
        with HttpReceiver(signing_secret=SECRET, log=tmp_path / "r.jsonl") as cap:
            for n in (1, 2):
                body, headers = signed_json(event_payload(f"Ev{n}"))
                status, answer = post(cap.url, body, headers)
                assert status == 500 and b"retry" in answer
            disk_full.clear()
            body, headers = signed_json(event_payload("Ev3"))
            assert post(cap.url, body, headers)[0] == 200
            cap.wait_for(1, timeout=5)
        problems = cap.problems()
        assert len(problems) == 2 and problems.problem.str.startswith("500: cannot write the request log").all()
        assert len(cap) == 1  # only the request that reached the log is a delivery
        failing = [n for n in cap.notes if "cannot write the request log" in n]
        assert len(failing) == 1 and "No space left" in failing[0] and "Slack sends them again" in failing[0]
        assert any("written again" in n for n in cap.notes)
        assert len(read_http_log(tmp_path / "r.jsonl", SECRET)) == 1


class TestLifecycle:
    def test_non_loopback_host_is_warned_about(self) -> None:
        # 192.0.2.1 (TEST-NET-1) is never a local address: the warning comes, then binding fails.
        # The bind itself is refused here too, so the test never binds anything but loopback.
        receiver = HttpReceiver(host="192.0.2.1")
        refuse = mock.patch.object(socket.socket, "bind", side_effect=OSError(99, "Cannot assign requested address"))
        with refuse, pytest.warns(UserWarning, match="not only on this machine"), pytest.raises(OSError):
            receiver.start()

    def test_same_port_again_stops_the_old_receiver(self, no_leftover_threads) -> None:
        first = receive_http()
        port = urlsplit(first.url).port
        second = receive_http(port)
        try:
            assert first.state == "stopped" and second.state == "receiving"
            assert any("stopped the receiver already running" in n for n in second.notes)
        finally:
            second.stop()

    def test_answers_fast_even_while_a_reader_is_busy(self, no_leftover_threads) -> None:
        with HttpReceiver(signing_secret=SECRET) as cap:
            body, headers = signed_json(event_payload("Ev1"))
            with cap._lock:  # the store is busy (a reader holds it): the answer must not wait for it
                started = time.perf_counter()
                assert post(cap.url, body, headers)[0] == 200
                assert time.perf_counter() - started < 1.0
            cap.wait_for(1, timeout=5)
        assert cap.df.response_ms.iloc[0] < 100

    def test_stop_aborts_a_stalled_client(self, no_leftover_threads) -> None:
        receiver = HttpReceiver()
        cap = receiver.start()
        parts = urlsplit(cap.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.putrequest("POST", parts.path)
        conn.putheader("Content-Length", "50")
        conn.endheaders()
        conn.send(b"{")  # then stall
        time.sleep(0.1)
        started = time.monotonic()
        cap.stop()
        assert time.monotonic() - started < 3
        conn.close()
        assert "HttpReceiver" in repr(receiver) and "stopped" in repr(receiver)
