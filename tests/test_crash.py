"""Crash durability: captures killed with SIGKILL in a child process lose nothing that was acknowledged.

The simulator (Socket Mode) and HttpDelivery (HTTP) run here, in the parent,
and keep the ground truth; the listener or the receiver runs in a child
process that is killed mid-stream. Whatever Slack's side saw acknowledged
(an ack received; an HTTP 200 answered) must be in the journal or the
receiver's log when they are reloaded. A restarted capture appends to the
same file, after whatever the crash left half-written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import slacklab
from slacklab.http import receiver as receiver_module
from slacklab.http.logs import read_http_log
from slacklab.http.receiver import HttpReceiver
from slacklab.journal import JournalWriter
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator

from .helpers import event_payload, wait_until
from .test_faults import free_port
from .test_receiver import post, signed_json

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent

LISTENER_CHILD = """
import sys, time
from slacklab.listener import Listener
api_url, token, journal = sys.argv[1:4]
Listener(token, api_url=api_url, journal=journal, ping_interval=0.5, ping_timeout=0.5,
         close_timeout=0.5).start()
print("started", flush=True)
while True:
    time.sleep(1)
"""

RECEIVER_CHILD = """
import sys, time
from slacklab.http.receiver import receive_http
port, secret, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
capture = receive_http(port, signing_secret=secret, log=log)
print(capture.url, flush=True)
while True:
    time.sleep(1)
"""

TORN = '{"k":"frame","t":1764300000.5,"c":"c1","raw":"{\\"envelope_id\\":\\"torn-'  # no newline: cut off


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return proc


def first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, proc.stderr.read() if proc.stderr else "child said nothing"
    return line


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def acked_envelopes(sim: Simulator) -> set[str]:
    return {d["envelope_id"] for d in sim.truth.deliveries if d["acked_at"] is not None}


# ------------------------------------------------------------------ Socket Mode


def test_sigkilled_listener_journal_holds_every_acked_delivery_and_a_restart_completes_it(tmp_path: Path) -> None:
    journal = tmp_path / "capture.jsonl"
    scenario = build_scenario(seed=101, events=300, duration=60.0)
    with Simulator(scenario, speed=20, seed=101, ack_timeout=1.0) as sim:
        child = spawn(LISTENER_CHILD, sim.api_url, sim.app_token, str(journal))
        try:
            assert first_line(child) == "started"
            assert wait_until(lambda: len(sim.truth.acked_events) >= 80, 30)
        finally:
            kill(child)  # mid-stream: the scenario is far from done
        time.sleep(0.3)  # acks already on the wire reach the simulator
        acked = acked_envelopes(sim)
        assert 80 <= len(sim.truth.acked_events) < 300

        reloaded = slacklab.load(journal)
        assert acked <= set(reloaded.df["envelope_id"])  # acked => journaled
        assert reloaded.events()["event_key"].is_unique

        # The crash could leave half a line; a restarted capture appends after it.
        with journal.open("a", encoding="utf-8") as handle:
            handle.write(TORN)
        with pytest.warns(UserWarning, match="incomplete"):
            torn = slacklab.load(journal)
        pd.testing.assert_frame_equal(torn.df, reloaded.df)

        child = spawn(LISTENER_CHILD, sim.api_url, sim.app_token, str(journal))
        try:
            assert first_line(child) == "started"
            assert sim.wait_done(timeout=60)
            time.sleep(0.3)
        finally:
            kill(child)
        acked = acked_envelopes(sim)
        truth = sim.truth

    with pytest.warns(UserWarning, match="line"):  # the torn line, now in the middle, is named and skipped
        final = slacklab.load(journal)
    assert acked <= set(final.df["envelope_id"])
    events = final.events()
    assert events["event_key"].is_unique
    assert set(events["event_key"]) == set(truth.events)  # two runs, one crash: every event exactly once
    assert truth.summary()["lost_events"] == 0
    opens = [json.loads(line)["c"] for line in journal.read_text().splitlines() if line.startswith('{"k":"open"')]
    assert len(opens) >= 2  # the restarted run's first record survived the torn line before it


def test_a_journal_appended_after_a_torn_line_starts_on_a_new_line(tmp_path: Path) -> None:
    """Regression: a writer reopening a journal that ends mid-line glued its first record to the fragment."""
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"k":"note","t":1764300000.0,"text":"first run"}\n' + TORN, encoding="utf-8")
    writer = JournalWriter(journal)
    writer.opened(1764300001.0, "c1")
    writer.close()
    lines = journal.read_text(encoding="utf-8").split("\n")
    assert lines[1] == TORN
    assert json.loads(lines[2])["k"] == "open"
    with pytest.warns(UserWarning, match=r"unreadable line\(s\): 2"):
        assert len(slacklab.load(journal).connections()) == 1


# ------------------------------------------------------------------------ HTTP


def test_sigkilled_receiver_log_holds_every_request_answered_200(tmp_path: Path) -> None:
    log = tmp_path / "http.jsonl"
    port = free_port()
    scenario = build_scenario(seed=111, events=300, duration=60.0)
    child = spawn(RECEIVER_CHILD, str(port), FAKE_SIGNING_SECRET, str(log))
    try:
        url = first_line(child)
        sender = HttpDelivery(scenario, url, speed=20, timeout=1.0, retry_delays=(1.0, 2.0, 4.0), workers=4)
        with sender:
            assert wait_until(lambda: sender.truth.summary()["delivered"] >= 80, 30)
            kill(child)  # mid-stream, requests in flight
            time.sleep(0.3)
        truth = sender.truth
    finally:
        kill(child)
    answered = {
        (a["event_key"], a["retry_attempt"])
        for a in truth.attempts
        if a["status"] == 200 and a["kind"] != "url_verification"
    }
    assert len(answered) >= 80 and truth.summary()["connection_failures"] >= 1

    reloaded = read_http_log(log, FAKE_SIGNING_SECRET)
    df = reloaded.df[reloaded.df["kind"] != "url_verification"]
    assert answered <= set(zip(df["event_key"], df["retry_attempt"], strict=True))  # answered 200 => logged
    assert (reloaded.df["signature"] == "valid").all()

    # a restarted receiver appends after whatever the kill left, and nothing it logs is lost
    with log.open("a", encoding="utf-8") as handle:
        handle.write('{"k":"http","t":1764300000.5,"method":"POST","path":"/slack/ev')
    with HttpReceiver(port, signing_secret=FAKE_SIGNING_SECRET, log=log) as cap:
        body, headers = signed_json(event_payload("EvAFTERCRASH"))
        assert post(cap.url, body, headers)[0] == 200
    with pytest.warns(UserWarning, match="unusable"):
        again = read_http_log(log, FAKE_SIGNING_SECRET)
    assert "EvAFTERCRASH" in set(again.df["event_id"])
    assert len(again.df) == len(reloaded.df) + 1


def test_receiver_logs_a_request_before_answering_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the receiver answered first and logged after, so a crash in between lost an answered request."""
    log = tmp_path / "r.jsonl"
    lines_when_answering: list[int] = []
    answer = receiver_module._Handler._answer

    def spy(self, status, *args, **kwargs):  # type: ignore[no-untyped-def]
        lines_when_answering.append(log.read_text(encoding="utf-8").count("\n"))
        return answer(self, status, *args, **kwargs)

    monkeypatch.setattr(receiver_module._Handler, "_answer", spy)
    with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET, log=log) as cap:
        for n in range(3):
            body, headers = signed_json(event_payload(f"Ev{n}"))
            assert post(cap.url, body, headers)[0] == 200
        forged, headers = signed_json(event_payload("EvForged"), secret="not-the-right-secret")
        assert post(cap.url, forged, headers)[0] == 401
        assert cap.wait_for(4, timeout=5) == 4
    assert lines_when_answering == [1, 2, 3, 4]
    rows = read_http_log(log, FAKE_SIGNING_SECRET).df
    assert list(rows["http_status"]) == [200, 200, 200, 401]
    assert rows["response_ms"].notna().all()
    live = cap.df.set_index("event_id")["response_ms"]  # recorded as each answer completes, in any order
    pd.testing.assert_series_equal(rows.set_index("event_id")["response_ms"], live.loc[list(rows["event_id"])])
