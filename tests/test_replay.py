"""Replay with re-signing: a captured HAR, journal or DataFrame sent again, to a receiver or into the simulator."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

import slacklab
from slacklab.capture import Capture
from slacklab.cli.commands import main
from slacklab.errors import SlacklabError
from slacklab.http.receiver import receive_http
from slacklab.listener import Listener
from slacklab.loader import load
from slacklab.sim.scenario import build_scenario
from slacklab.sim.server import Simulator

from .test_receiver import no_leftover_threads  # noqa: F401 - a fixture

DATA = Path(__file__).resolve().parents[1] / "data"
HAR = DATA / "sample_http.har"
SECRET = json.loads((DATA / "sample_truth.json").read_text(encoding="utf-8"))["signing_secret"]


@pytest.fixture
def receiver(no_leftover_threads: None):
    caps: list[Capture] = []

    def make(secret: str = SECRET) -> Capture:
        cap = receive_http(signing_secret=secret)
        caps.append(cap)
        return cap

    yield make
    for cap in caps:
        cap.stop()


def test_a_replayed_har_verifies_with_the_secret_and_not_without(receiver) -> None:
    original = load(HAR, SECRET).deliveries()
    slack_sent = original[original["kind"].isin(["events_api", "slash_commands", "interactive"])]
    forged = int((slack_sent["signature"] == "invalid").sum())
    cap = receiver()
    result = slacklab.replay(HAR, to=cap.url, signing_secret=SECRET, load_secret=SECRET)
    assert result.sent == result.accepted == len(slack_sent) - forged and result.failed == 0
    assert result.skipped == {
        "url_verification (not a delivery to replay)": int((original["kind"] == "url_verification").sum()),
        "invalid signature in the capture (forged?)": forged,
    }
    cap.wait_for(result.sent, timeout=10)
    got = cap.df
    assert (got["signature"] == "valid").all() and got["replayed"].all()
    # same events, same retry markers as captured (retry headers kept by default)
    kept = slack_sent[slack_sent["signature"] != "invalid"]
    assert sorted(got["event_key"]) == sorted(kept["event_key"])
    assert got["retry_attempt"].sum() == kept["retry_attempt"].sum() > 0

    stranger = receiver()
    wrong = slacklab.replay(HAR, to=stranger.url, signing_secret="not-the-apps-secret", load_secret=SECRET)
    assert wrong.accepted == 0 and wrong.statuses == {401: wrong.sent}
    stranger.wait_for(wrong.sent, timeout=10)
    assert (stranger.df["signature"] == "invalid").all()


def test_filtered_edited_and_stripped(receiver) -> None:
    df = load(HAR, SECRET).deliveries()
    # plain messages: a message_changed row shows the edited message's text, not event.text
    messages = df[(df["event_type"] == "message") & df["event_subtype"].isna() & (df["signature"] == "valid")]
    cap = receiver()

    def shout(payload: dict, row: pd.Series) -> dict | None:
        if row["retry_attempt"] == 0 and row.name % 2:
            return None
        return {**payload, "event": {**payload["event"], "text": "EDITED"}}

    result = slacklab.replay(messages, to=cap.url, signing_secret=SECRET, edit=shout, retry_headers=False)
    assert result.skipped == {
        "edit returned None": int(((messages["retry_attempt"] == 0) & (messages.index % 2 == 1)).sum())
    }
    cap.wait_for(result.sent, timeout=10)
    got = cap.df
    assert len(got) == result.sent > 0 and (got["text"] == "EDITED").all() and (got["signature"] == "valid").all()
    assert (got["retry_attempt"] == 0).all()  # stripped


def test_replay_into_the_simulator_as_socket_mode_envelopes(no_leftover_threads: None) -> None:
    scenario = build_scenario(seed=6, events=12, duration=2.0)
    with Simulator(scenario, speed=None) as sim:
        listener = Listener(sim.app_token, api_url=sim.api_url)
        cap = listener.start()
        try:
            assert cap.wait_for(12, timeout=10) == 12
            original = cap.df.copy()
            result = slacklab.replay(original.head(5), to=sim)
            assert result.sent == 5
            assert cap.wait_for(17, timeout=10) == 17
            df = cap.df
        finally:
            cap.stop()
    again = df.iloc[12:]
    assert again["replayed"].all() and not df.iloc[:12]["replayed"].fillna(False).any()
    assert list(again["event_key"]) == list(original.head(5)["event_key"])
    # a replay is not restamped: the times are the captured ones
    assert list(again["event_time"]) == list(original.head(5)["event_time"])
    assert sum(row["replayed"] for row in sim.truth.event_rows) == 5


def test_replay_needs_a_secret_and_a_target(receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    cap = receiver()
    with pytest.raises(SlacklabError, match="signing secret"):
        slacklab.replay(HAR, to=cap.url)
    with pytest.raises(SlacklabError, match="http"):
        slacklab.replay(HAR, to="ftp://example.invalid/", signing_secret=SECRET)
    with pytest.raises(TypeError):
        slacklab.replay(42, to=cap.url, signing_secret=SECRET)


def test_cli_replay_takes_the_secret_from_the_environment_only(receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    cap = receiver()
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    assert main(["replay", str(HAR), "--to", str(cap.url)], io.StringIO()) == 2
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    out = io.StringIO()
    code = main(["replay", str(HAR), "--to", str(cap.url), "--event-type", "message", "--limit", "5"], out)
    assert code == 0 and "5 sent, 5 accepted" in out.getvalue() and SECRET not in out.getvalue()
    cap.wait_for(5, timeout=10)
    assert set(cap.df["event_type"]) == {"message"} and cap.df["replayed"].all()
    with pytest.raises(SystemExit):
        main(["replay", str(HAR), "--to", str(cap.url), "--signing-secret", SECRET], io.StringIO())
