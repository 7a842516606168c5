"""Boundaries: loopback-only servers, oversized bodies and frames refused clearly, no silent overwrites.

Already covered elsewhere: the receiver warns about a non-loopback host and
answers 413 before reading a huge body (test_receiver); the CLI refuses an
existing ``capture --out``, ``export`` output and ``compare --out`` without
``--force`` (test_cli). Here: what actually listens where, the receiver after
a 413, a Socket Mode frame over ``max_frame_bytes``, and the CLI's remaining
output paths.
"""

from __future__ import annotations

import io
import socket
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slacklab.cli.commands import main
from slacklab.http.receiver import HttpReceiver
from slacklab.listener import Listener
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET
from slacklab.sim.scenario import ScenarioItem, build_scenario
from slacklab.sim.server import Simulator

from .helpers import event_payload, wait_until
from .test_listener import FAST, assert_rows_match_truth, no_thread_left_behind  # noqa: F401
from .test_receiver import post, signed_json

pytestmark = pytest.mark.timeout(90)


def listening_on(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order words
                found.add(socket.inet_ntop(family, words))
    return found


# ------------------------------------------------------------------ loopback


def test_simulator_and_receiver_listen_on_loopback_only() -> None:
    with Simulator([], speed=None) as sim:
        assert listening_on(sim.api_port) == {"127.0.0.1"}
        assert listening_on(sim.ws_port) == {"127.0.0.1"}
        assert sim.api_url.startswith("http://127.0.0.1:") and sim.ws_url.startswith("ws://127.0.0.1:")
    receiver = HttpReceiver()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        capture = receiver.start()
        try:
            assert listening_on(receiver.port) == {"127.0.0.1"}
            assert capture.url.startswith("http://127.0.0.1:")
        finally:
            receiver.stop()
    assert not [w for w in caught if "not only on this machine" in str(w.message)]  # no warning by default
    assert not any("not only on this machine" in n for n in capture.notes)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2"])
def test_other_loopback_names_are_not_warned_about(host: str, recwarn: pytest.WarningsRecorder) -> None:
    receiver = HttpReceiver(host=host)
    try:
        receiver.start()
    except OSError:
        return  # this machine cannot bind it; the point is only that no warning came first
    finally:
        receiver.stop()
    assert not [w for w in recwarn if "not only on this machine" in str(w.message)]


# -------------------------------------------------------------- oversized input


def test_receiver_refuses_an_oversized_body_clearly_and_keeps_serving(tmp_path: Path) -> None:
    log = tmp_path / "r.jsonl"
    with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET, log=log, max_body=2000) as capture:
        body, headers = signed_json(event_payload("EvBIG", text="x" * 5000))
        status, answer = post(capture.url, body, headers)
        assert status == 413 and b"over the 2000-byte limit" in answer
        body, headers = signed_json(event_payload("EvSMALL"))
        assert post(capture.url, body, headers)[0] == 200  # still serving
        assert capture.wait_for(1, timeout=5) == 1
    problems = capture.problems()
    assert len(problems) == 1 and problems.loc[0, "problem"].startswith("413: body of")
    assert list(capture.df["event_id"]) == ["EvSMALL"]
    assert "EvBIG" not in log.read_text()  # a refused body is not logged


def test_a_frame_over_max_frame_bytes_is_a_clear_problem_row_not_a_crash_or_hot_loop() -> None:
    """Regression: the oversized frame closed the connection with no problem row, as 'dropped (code 1006)'."""
    items = list(build_scenario(seed=5, events=40, duration=10.0))
    items.append(ScenarioItem(2.0, "events_api", event_payload("EvHUGE", text="x" * 200_000)))
    with Simulator(items, speed=10, seed=5, ack_timeout=0.5) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url, max_frame_bytes=64 * 1024, **FAST)
        capture = listener.start()
        try:
            assert sim.wait_done(timeout=30)
            huge_deliveries = len(sim.truth.deliveries_of("A1/T1/EvHUGE"))
            assert wait_until(lambda: len(capture.problems()) == huge_deliveries, 10)
            assert wait_until(lambda: capture.state == "listening", 10)
            assert listener.error is None and listener.running
        finally:
            listener.stop()
    truth = sim.truth
    assert truth.lost_events == ("A1/T1/EvHUGE",)  # Slack gave up after its retries; we said why each time
    problems = capture.problems()
    assert huge_deliveries == 4
    assert problems["problem"].str.contains("larger than max_frame_bytes (65536 bytes)", regex=False).all()
    closed = capture.connections()["close_reason"].dropna()
    assert closed.str.contains("larger than max_frame_bytes").sum() == huge_deliveries
    assert len(capture.connections()) == huge_deliveries + 1  # one reconnect per refusal, not a loop
    events = capture.events()
    assert set(events["event_key"]) == set(truth.events) - {"A1/T1/EvHUGE"}
    assert events["event_key"].is_unique
    assert_rows_match_truth(capture.df, sim)


# ---------------------------------------------------------------- CLI outputs


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_capture_refuses_an_existing_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_text("keep me\n")
    code, _ = run("capture", "--simulate", "--count", "1", "--out", str(tmp_path / "c.csv"), "--journal", str(journal))
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert journal.read_text() == "keep me\n" and not (tmp_path / "c.csv").exists()


def test_cli_receive_refuses_an_existing_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "r.jsonl"
    log.write_text("keep me\n")
    code, _ = run("receive", "--port", "0", "--duration", "0.1", "--log", str(log))
    assert code == 2 and "--force" in capsys.readouterr().err
    assert log.read_text() == "keep me\n"


def test_cli_demo_never_overwrites_an_earlier_demo(tmp_path: Path) -> None:
    """Regression: two demos in the same second wrote into the same folder, replacing its files."""
    now = datetime.now(UTC)
    taken = [tmp_path / (now + timedelta(seconds=s)).strftime("demo-%Y%m%d-%H%M%S") for s in range(0, 30)]
    for folder in taken:  # every folder name the demo could pick in the next 30 s already exists
        folder.mkdir()
        (folder / "deliveries.csv").write_text("earlier demo\n")
        (folder / "journal.jsonl").write_text("earlier journal\n")
    code, text = run("demo", "--events", "20", "--duration", "10", "--speed", "100", "--out", str(tmp_path))
    assert code == 0, text
    for folder in taken:
        assert sorted(p.name for p in folder.iterdir()) == ["deliveries.csv", "journal.jsonl"]
        assert (folder / "deliveries.csv").read_text() == "earlier demo\n"
        assert (folder / "journal.jsonl").read_text() == "earlier journal\n"
    new = set(tmp_path.iterdir()) - set(taken)
    assert len(new) == 1 and (new.pop() / "deliveries.csv").exists()
