"""A HAR written by a real proxy (mitmproxy 11, see tests/data/make_mitmproxy_har.py) loads exactly."""

from __future__ import annotations

import json
from pathlib import Path

from slacklab.http.logs import read_http_log
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET

HAR = Path(__file__).resolve().parent / "data" / "mitmproxy.har"
# What the script played into the proxy (kinds and event ids in order), written beside the HAR: the
# scenario generator has changed since, so the file, not today's build_scenario, is the reference.
PLAYED = json.loads(HAR.with_suffix(".expected.json").read_text(encoding="utf-8"))


def test_the_file_was_written_by_mitmproxy() -> None:
    creator = json.loads(HAR.read_text(encoding="utf-8"))["log"]["creator"]
    assert creator["name"] == "mitmproxy"


def test_every_delivery_kind_and_verdict_is_right() -> None:
    capture = read_http_log(HAR, signing_secret=FAKE_SIGNING_SECRET)
    df = capture.df
    kinds = PLAYED["kinds"]
    assert len(df) == 1 + len(kinds) + 1  # url_verification, the scenario, one forged request
    assert capture.problems().empty
    assert df.loc[0, "kind"] == "url_verification"
    played = df.iloc[1:-1]
    assert list(played["kind"]) == kinds
    assert list(played.loc[played["kind"] == "events_api", "event_id"]) == PLAYED["event_ids"]
    assert (df.iloc[:-1]["signature"] == "valid").all()
    assert (df.iloc[:-1]["http_status"] == 200).all()
    forged = df.iloc[-1]
    assert (forged["signature"], forged["http_status"]) == ("invalid", 401)
    assert df["response_ms"].notna().all()


def test_without_the_secret_every_verdict_is_unchecked() -> None:
    df = read_http_log(HAR).df
    assert set(df["signature"]) == {"unchecked"}
