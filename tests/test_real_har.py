"""A HAR written by a real proxy (mitmproxy 11, see tests/data/make_mitmproxy_har.py) loads exactly."""

from __future__ import annotations

import json
from pathlib import Path

from slacklab.http.logs import read_http_log
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET
from slacklab.sim.scenario import build_scenario

HAR = Path(__file__).resolve().parent / "data" / "mitmproxy.har"


def test_the_file_was_written_by_mitmproxy() -> None:
    creator = json.loads(HAR.read_text(encoding="utf-8"))["log"]["creator"]
    assert creator["name"] == "mitmproxy"


def test_every_delivery_kind_and_verdict_is_right() -> None:
    capture = read_http_log(HAR, signing_secret=FAKE_SIGNING_SECRET)
    df = capture.df
    items = list(build_scenario(seed=9, events=12, duration=2.0))  # what the script played
    assert len(df) == 1 + len(items) + 1  # url_verification, the scenario, one forged request
    assert capture.problems().empty
    assert df.loc[0, "kind"] == "url_verification"
    played = df.iloc[1:-1]
    assert list(played["kind"]) == [i.kind for i in items]
    event_ids = [i.payload["event_id"] for i in items if i.kind == "events_api"]
    assert list(played.loc[played["kind"] == "events_api", "event_id"]) == event_ids
    assert (df.iloc[:-1]["signature"] == "valid").all()
    assert (df.iloc[:-1]["http_status"] == 200).all()
    forged = df.iloc[-1]
    assert (forged["signature"], forged["http_status"]) == ("invalid", 401)
    assert df["response_ms"].notna().all()


def test_without_the_secret_every_verdict_is_unchecked() -> None:
    df = read_http_log(HAR).df
    assert set(df["signature"]) == {"unchecked"}
