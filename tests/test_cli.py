"""The slacklab command, run in-process (and once as a real subprocess)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from slacklab.cli.commands import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_demo_writes_csv_chart_and_journal(tmp_path: Path) -> None:
    code, text = run("demo", "--events", "120", "--duration", "120", "--speed", "60", "--out", str(tmp_path))
    assert code == 0, text
    assert "ground truth: the simulator sent 120 events; 120 reached the capture" in text
    assert "the simulator played its whole scenario" in text and "stopped by the user" not in text
    assert "simulating a dropped connection" in text
    (folder,) = tmp_path.iterdir()
    deliveries = pd.read_csv(folder / "deliveries.csv")
    assert len(deliveries) >= 120 and deliveries["event_key"].nunique() == 120
    assert len(pd.read_csv(folder / "events.csv")) == 120
    assert (folder / "event-types.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "journal.jsonl").stat().st_mode & 0o077 == 0
    assert "xapp-1-" not in text  # the simulator's fake token is not printed by the demo


def test_capture_simulated_then_export(tmp_path: Path) -> None:
    csv, journal = tmp_path / "new" / "c.csv", tmp_path / "j.jsonl"
    code, text = run(
        "capture", "--simulate", "--count", "30", "--speed", "100", "--out", str(csv), "--journal", str(journal)
    )
    assert code == 0, text
    assert len(pd.read_csv(csv)) >= 30
    assert f"creating folder {tmp_path / 'new'}" in text  # said before capturing
    assert "SIMULATOR" in text and "stopped after" in text and "(--count 30)" in text
    assert "stopped by the user" not in text and "Ctrl+C)" not in text
    code, text = run("capture", "--simulate", "--count", "5", "--out", str(csv))
    assert code == 2  # refuses to overwrite without --force
    out2 = tmp_path / "e.csv"
    code, text = run("export", str(journal), str(out2), "--view", "events", "--columns", "event_id,event_type,text")
    assert code == 0, text
    assert list(pd.read_csv(out2).columns) == ["event_id", "event_type", "text"]
    code, _ = run("export", str(journal), str(out2))
    assert code == 2


def test_capture_without_token_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-0000-fake-bot-token")
    code, _ = run("capture", "--count", "1", "--out", str(tmp_path / "x.csv"))
    assert code == 2
    err = capsys.readouterr().err
    assert "xapp-" in err and "xoxb-0000-fake-bot-token" not in err


def test_export_of_garbage_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "garbage.bin"
    bad.write_bytes(b"\x00\x01 not a log at all\n")
    code, _ = run("export", str(bad), str(tmp_path / "o.csv"))
    assert code == 2
    assert "garbage.bin" in capsys.readouterr().err


def test_simulate_serves_and_python_dash_m_works() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "slacklab", "simulate", "--serve-for", "1", "--events", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "export SLACK_API_URL=http://127.0.0.1:" in proc.stdout
    assert "export SLACK_APP_TOKEN=xapp-1-A0SIMAPP-0000-SIMULATED" in proc.stdout
    assert "simulator stopped: played" in proc.stdout and "<Simulator" not in proc.stdout


DATA = Path(__file__).resolve().parent.parent / "data"


def test_compare_the_sample_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from slacklab.sim.http_sender import FAKE_SIGNING_SECRET

    monkeypatch.setenv("SLACK_SIGNING_SECRET", FAKE_SIGNING_SECRET)
    report = tmp_path / "report.html"
    code, text = run(
        "compare",
        str(DATA / "sample_socket.jsonl"),
        str(DATA / "sample_http.jsonl"),
        "--labels",
        "socket,http",
        "--out",
        str(report),
    )
    assert code == 0, text
    first = text.splitlines()[0]
    assert first.startswith("compared ") and "(socket, " in first and "(http, " in first and "<" not in first
    assert "signatures checked with SLACK_SIGNING_SECRET" in text and "1 invalid" in text
    assert "matched on event_id" in text
    assert report.read_text().lstrip().lower().startswith("<!doctype html")
    assert FAKE_SIGNING_SECRET not in report.read_text()
    code, text = run(
        "compare", str(DATA / "sample_socket.jsonl"), str(DATA / "sample_http.jsonl"), "--out", str(report)
    )
    assert code == 2 and "matched" not in text  # exists, no --force: refused before the work
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    code, text = run("compare", str(DATA / "sample_socket.jsonl"), str(DATA / "sample_http.jsonl"))
    assert code == 0 and "signatures NOT checked: SLACK_SIGNING_SECRET is not set" in text


def test_receive_records_a_delivery(tmp_path: Path) -> None:
    import threading
    import time
    import urllib.request

    from slacklab.http.receiver import receive_http  # noqa: F401  (the CLI imports it lazily)

    out = io.StringIO()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            main(["receive", "--port", "0", "--duration", "3", "--log", str(tmp_path / "r.jsonl")], out=out)
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while "http://127.0.0.1:" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    url = out.getvalue().split("receiving Slack's HTTP deliveries at ")[1].split()[0]
    body = b'{"type":"url_verification","challenge":"abc123","token":"fake"}'
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert b"abc123" in resp.read()
    thread.join(15)
    assert result == [0]
    assert "url_verification" in out.getvalue()
    assert (tmp_path / "r.jsonl").stat().st_mode & 0o077 == 0


# ------------------------------------------------------------ the edges: mistakes, Ctrl+C, no Slack


def cli(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[str]:
    """``python -m slacklab ...`` as a user runs it (no token unless ``env`` sets one)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    return subprocess.Popen(
        [sys.executable, "-m", "slacklab", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**base, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=cwd,
    )


def test_bad_invocations_get_one_clear_line(tmp_path: Path) -> None:
    import socket

    afile = tmp_path / "afile"
    afile.write_text("I am a file\n")
    report = tmp_path / "report.html"
    report.write_text("old report\n")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not a log\n")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])
    sock, har = str(DATA / "sample_socket.jsonl"), str(DATA / "sample_http.har")
    offline = {"SLACK_APP_TOKEN": "xapp-1-A0FAKE-0000-offline", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    # (argv, environment, words the one line must contain)
    matrix: list[tuple[list[str], dict[str, str] | None, str]] = [
        ([], None, "required: COMMAND"),
        (["frobnicate"], None, "invalid choice: 'frobnicate'"),
        (["compare", sock, har, "--labels", "onlyone"], None, "two different names"),
        (["compare", sock, str(tmp_path / "missing.jsonl")], None, "missing.jsonl"),
        (["compare", sock, har, "--out", str(report)], None, "already exists"),
        (["export", str(garbage), str(tmp_path / "o.csv")], None, "garbage.bin"),
        (["export", sock, str(tmp_path)], None, "is a folder"),
        (["capture", "--simulate", "--out", str(afile / "x.csv")], None, "is a file, not a folder"),
        (["capture", "--simulate", "--out", str(report)], None, "already exists"),
        (["capture", "--simulate", "--count", "-5"], None, "too small"),
        (["capture", "--simulate", "--count", "lots"], None, "not a whole number"),
        (["capture", "--out", str(tmp_path / "c.csv")], None, "SLACK_APP_TOKEN is not set"),
        (["capture", "--out", str(tmp_path / "c.csv")], {"SLACK_APP_TOKEN": "xoxb-0000-fake-bot"}, "xapp-"),
        (["capture", "--out", str(tmp_path / "c.csv"), "--give-up-after", "4"], offline, "cannot reach"),
        (["demo", "--speed", "0"], None, "too small"),
        (["demo", "--out", str(afile)], None, "is a file, not a folder"),
        (["receive", "--port", "99999"], None, "not a port number"),
        (["receive", "--port", port, "--duration", "1"], None, "in use"),
        (["simulate", "--events", "many"], None, "not a whole number"),
    ]
    try:
        procs = [(argv, words, cli(*argv, env=env, cwd=tmp_path)) for argv, env, words in matrix]
        for argv, words, proc in procs:
            out, err = proc.communicate(timeout=120)
            lines = [line for line in err.splitlines() if line.strip()]
            assert proc.returncode not in (0, None), (argv, out, err)
            assert "Traceback" not in out + err, (argv, err)
            assert len(lines) == 1, (argv, err)
            assert words in lines[0], (argv, lines[0])
            assert "fake-bot" not in out + err and "offline" not in err
    finally:
        busy.close()
    assert afile.read_text() == "I am a file\n" and report.read_text() == "old report\n"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = cli("export", "--debug", str(tmp_path / "missing.jsonl"), str(tmp_path / "o.csv"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" in err and "LogFormatError" in err


def test_ctrl_c_during_capture_writes_what_was_captured(tmp_path: Path) -> None:
    import signal
    import time

    csv = tmp_path / "caught.csv"
    proc = cli("capture", "--simulate", "--speed", "20", "--out", str(csv))
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the progress line (every 2 s off a terminal) shows deliveries
        line = proc.stdout.readline()
        seen += line
        if "deliveries" in line and not line.strip().startswith("0 deliveries"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    out = seen + out
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert "stopped by you (Ctrl+C)" in out
    rows = pd.read_csv(csv)
    assert len(rows) >= 1 and f"wrote {csv} ({len(rows):,} deliveries)" in out


def test_capture_gives_up_when_the_simulator_goes_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading
    import time

    from slacklab.sim.scenario import build_scenario
    from slacklab.sim.server import Simulator

    sim = Simulator(build_scenario(seed=2, events=200, duration=60), speed=20).start()
    monkeypatch.setenv("SLACK_API_URL", sim.api_url)
    monkeypatch.setenv("SLACK_APP_TOKEN", sim.app_token)
    out = io.StringIO()

    def pull_the_plug() -> None:
        deadline = time.monotonic() + 30
        while "deliveries" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        sim.close()

    killer = threading.Thread(target=pull_the_plug)
    killer.start()
    code = main(["capture", "--give-up-after", "2", "--out", str(tmp_path / "c.csv")], out=out)
    killer.join(30)
    text, err = out.getvalue(), capsys.readouterr().err
    assert code == 2, text
    assert "gave up after 2 s without a working connection" in err
    assert "cannot reach the Web API" in err or "went away" in err  # the listener's own words
    assert "reconnecting: " in text  # the progress line said why while it was trying
    assert len(pd.read_csv(tmp_path / "c.csv")) >= 1  # what arrived before is kept
