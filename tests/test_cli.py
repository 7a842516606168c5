"""The slacklab command, run in-process (and once as a real subprocess)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from slacklab.cli import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_demo_writes_csv_chart_and_journal(tmp_path: Path) -> None:
    code, text = run("demo", "--events", "120", "--duration", "120", "--speed", "60", "--out", str(tmp_path))
    assert code == 0, text
    assert "ground truth: the simulator sent 120 events; 120 reached the capture" in text
    assert "simulating a dropped connection" in text
    (folder,) = tmp_path.iterdir()
    deliveries = pd.read_csv(folder / "deliveries.csv")
    assert len(deliveries) >= 120 and deliveries["event_key"].nunique() == 120
    assert len(pd.read_csv(folder / "events.csv")) == 120
    assert (folder / "event-types.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "journal.jsonl").stat().st_mode & 0o077 == 0
    assert "xapp-1-" not in text  # the simulator's fake token is not printed by the demo


def test_capture_simulated_then_export(tmp_path: Path) -> None:
    csv, journal = tmp_path / "c.csv", tmp_path / "j.jsonl"
    code, text = run(
        "capture", "--simulate", "--count", "30", "--speed", "100", "--out", str(csv), "--journal", str(journal)
    )
    assert code == 0, text
    assert len(pd.read_csv(csv)) >= 30
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
    assert "<Comparison socket vs http" in text and "matched" in text
    assert report.read_text().lstrip().lower().startswith("<!doctype html")
    assert FAKE_SIGNING_SECRET not in report.read_text()
    code, _ = run("compare", str(DATA / "sample_socket.jsonl"), str(DATA / "sample_http.jsonl"), "--out", str(report))
    assert code == 2  # exists, no --force


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
