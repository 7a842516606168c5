"""Schema rows, DataFrame views, the capture store, the journal and its reload."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from slacklab.capture import Capture
from slacklab.errors import LogFormatError
from slacklab.journal import JournalWriter
from slacklab.journal import load_journal as load
from slacklab.protocol import ack_for, parse_frame, peek_envelope
from slacklab.schema import COLUMNS, event_time_seconds, make_row, payload_fields
from slacklab.table import counts_by_type, deliveries_frame, events_view

from .helpers import block_action_payload, envelope, event_payload, slash_payload


class TestSchema:
    def test_events_api_fields(self) -> None:
        f = payload_fields("events_api", event_payload("Ev9", thread_ts="1.0", subtype="thread_broadcast"))
        assert f["event_id"] == "Ev9"
        assert (f["event_type"], f["event_subtype"]) == ("message", "thread_broadcast")
        assert (f["channel"], f["user"], f["text"], f["thread_ts"]) == ("C1", "U1", "hello", "1.0")
        assert f["event_time"] == 1700000000.0

    def test_reaction_takes_channel_and_ts_from_item(self) -> None:
        payload = event_payload(event_type="reaction_added")
        del payload["event"]["channel"], payload["event"]["ts"]
        payload["event"]["item"] = {"type": "message", "channel": "C7", "ts": "1.5"}
        f = payload_fields("events_api", payload)
        assert (f["channel"], f["ts"]) == ("C7", "1.5")

    def test_message_changed_takes_text_from_inner_message(self) -> None:
        payload = event_payload(subtype="message_changed")
        del payload["event"]["text"], payload["event"]["user"]
        payload["event"]["message"] = {"text": "edited", "user": "U5"}
        f = payload_fields("events_api", payload)
        assert (f["text"], f["user"]) == ("edited", "U5")

    def test_slash_command(self) -> None:
        f = payload_fields("slash_commands", slash_payload())
        assert (f["event_type"], f["channel"], f["user"], f["text"], f["trigger_id"]) == (
            "/deploy",
            "C1",
            "U1",
            "now",
            "111.222.aaa",
        )

    def test_block_actions(self) -> None:
        f = payload_fields("interactive", block_action_payload())
        assert (f["event_type"], f["event_subtype"], f["channel"], f["user"], f["team_id"]) == (
            "block_actions",
            "approve",
            "C2",
            "U2",
            "T1",
        )

    def test_bodies_without_event(self) -> None:
        f = payload_fields("url_verification", {"type": "url_verification", "challenge": "x"})
        assert f["event_type"] == "url_verification"

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (1610241741, 1610241741.0),
            ("1610241741", 1610241741.0),
            (1515449522000016, 1515449522.000016),
            (None, None),
            ("x", None),
            (True, None),
            (-5, None),
            (9223372036854778, None),
            (float("inf"), None),
        ],
    )
    def test_event_time(self, raw: object, expected: float | None) -> None:
        got = event_time_seconds(raw)
        assert got == pytest.approx(expected) if expected else got is None

    def test_event_keys(self) -> None:
        base = {"source": "socket", "received_at": 1.0}
        assert make_row(kind="events_api", payload=event_payload("Ev1"), **base)["event_key"] == "A1/T1/Ev1"
        assert make_row(kind="slash_commands", payload=slash_payload("t1"), **base)["event_key"] == "trigger:t1"
        assert make_row(kind="x", payload={}, envelope_id="e", **base)["event_key"] == "envelope:e"
        assert make_row(kind="x", payload={}, **base)["event_key"] is None

    def test_row_has_every_column(self) -> None:
        assert list(make_row(source="http", kind="events_api", payload={}, received_at=0.0)) == list(COLUMNS)


def rows() -> list[dict[str, object]]:
    t = 1_700_000_100.0
    return [
        make_row(source="socket", kind="events_api", payload=event_payload("Ev1"), received_at=t, envelope_id="e1"),
        make_row(
            source="socket",
            kind="events_api",
            payload=event_payload("Ev1"),
            received_at=t + 4,
            envelope_id="e2",
            retry_attempt=1,
            retry_reason="timeout",
        ),
        make_row(
            source="socket",
            kind="events_api",
            payload=event_payload("Ev2", event_type="app_mention"),
            received_at=t + 1,
            envelope_id="e3",
        ),
        make_row(source="socket", kind="slash_commands", payload=slash_payload(), received_at=t + 2, envelope_id="e4"),
    ]


class TestTable:
    def test_typed_frame(self) -> None:
        df = deliveries_frame(rows())
        assert list(df.columns) == list(COLUMNS)
        assert str(df["received_at"].dtype) == "datetime64[ns, UTC]"
        assert str(df["event_time"].dtype) == "datetime64[ns, UTC]"
        assert str(df["retry_attempt"].dtype) == "Int64"
        assert json.loads(df.loc[0, "payload"])["token"] == "•••"  # masked

    def test_empty_frame_keeps_schema(self) -> None:
        df = deliveries_frame([])
        assert list(df.columns) == list(COLUMNS) and df.empty
        assert events_view(df).empty and counts_by_type(df).empty

    def test_events_view_dedups_and_counts(self) -> None:
        ev = events_view(deliveries_frame(rows()))
        assert len(ev) == 3
        first = ev.set_index("event_key").loc["A1/T1/Ev1"]
        assert first["deliveries"] == 2 and first["envelope_id"] == "e1"
        assert first["last_received_at"] - first["first_received_at"] == pd.Timedelta(seconds=4)

    def test_same_event_id_for_two_apps_is_two_events(self) -> None:
        r = rows()[:1] + [
            make_row(source="socket", kind="events_api", payload=event_payload("Ev1", app="A2"), received_at=1.0)
        ]
        assert len(events_view(deliveries_frame(r))) == 2

    def test_tokens_pasted_into_message_text_are_masked(self) -> None:
        """Regression: the ``text`` column showed a token pasted into a message (the payload column did not)."""
        pasted = "oops xoxb-0000-fake-pasted-bot and xoxp-0000-fake-pasted-user"
        r = [
            make_row(source="socket", kind="events_api", payload=event_payload("Ev9", text=pasted), received_at=1.0),
            make_row(source="http", kind="slash_commands", payload=slash_payload(text=pasted), received_at=2.0),
        ]
        df = deliveries_frame(r)
        assert list(df["text"]) == ["oops xoxb-••• and xoxp-•••"] * 2
        assert "fake-pasted" not in events_view(df).to_string()

    def test_counts(self) -> None:
        c = counts_by_type(deliveries_frame(rows()))
        assert c.loc["message"].tolist() == [2, 1, 1]
        assert c.loc["/deploy", "events"] == 1


class TestCapture:
    def test_incremental_snapshots(self) -> None:
        cap = Capture()
        r = rows()
        cap.record_delivery(r[0])
        first = cap.df
        assert len(first) == 1
        for row in r[1:]:
            cap.record_delivery(row)
        assert len(cap.df) == 4 and len(cap) == 4 and cap.n_events == 3
        again, once_more = cap.df, cap.df
        assert again is not once_more  # every snapshot is the caller's own frame …
        pd.testing.assert_frame_equal(again, once_more)  # … of the same rows
        assert len(first) == 1  # earlier snapshots are not mutated

    def test_wait_for_from_another_thread(self) -> None:
        cap = Capture()
        cap.set_state("listening")

        def feed() -> None:
            for row in rows():
                time.sleep(0.01)
                cap.record_delivery(row)

        t = threading.Thread(target=feed)
        t.start()
        assert cap.wait_for(4, timeout=5) == 4
        t.join()
        assert cap.wait_for(10, timeout=0.05) == 4
        assert cap.wait_for(3, timeout=0.05, events=True) == 3

    def test_wait_for_returns_early_when_stopped(self) -> None:
        cap = Capture()
        cap.set_state("stopped", "done")
        t0 = time.monotonic()
        assert cap.wait_for(5, timeout=10) == 0
        assert time.monotonic() - t0 < 1

    def test_repr_and_html(self) -> None:
        cap = Capture(label="demo")
        for row in rows():
            cap.record_delivery(row)
        cap.set_state("listening", "listening on c1 with token xapp-1-A1-123-abcdef")
        text = repr(cap)
        assert "listening" in text and "4 deliveries / 3 events" in text and "message 2" in text
        assert "abcdef" not in text  # masked detail
        html = cap._repr_html_()
        assert "<table>" in html and "listening" in html

    def test_connections_and_problems(self) -> None:
        cap = Capture()
        cap.record_connection_opened("c1", 10.0)
        for text in [
            '{"type":"hello","num_connections":2}',
            "junk",
            '{"type":"disconnect","reason":"warning"}',
            '{"type":"disconnect","reason":"refresh_requested"}',
        ]:
            cap.record_frame(parse_frame(text), received_at=11.0, connection="c1")
        cap.record_connection_closed("c1", 12.0, "closed (code 1000)")
        conns = cap.connections()
        assert conns.loc[0, "num_connections"] == 2
        assert conns.loc[0, "close_reason"] == "disconnect: warning, refresh_requested; closed (code 1000)"
        assert cap.problems().loc[0, "problem"].startswith("not JSON")

    def test_unknown_frame_problem_row_masks_the_verification_token(self) -> None:
        """Regression: an unknown frame's problem row was its Python repr, which the token mask did not match."""
        cap = Capture()
        frame = parse_frame('{"type": "future_frame", "token": "fake-verif-s3cret", "n": 1}')
        cap.record_frame(frame, received_at=11.0, connection="c1")
        text = cap.problems().loc[0, "text"]
        assert "fake-verif-s3cret" not in text and json.loads(text) == {"type": "future_frame", "token": "•••", "n": 1}

    def test_stop_calls_the_stopper_each_time(self) -> None:
        cap = Capture()
        calls: list[int] = []
        cap._attach_stopper(lambda: calls.append(1))
        cap.stop()
        cap.stop()
        assert calls == [1, 1]


def write_journal(path: Path, frames: list[str], ack: bool = True) -> Capture:
    """Do what the listener does, without sockets: journal, peek, 'ack', hand the raw frame over."""
    live = Capture()
    journal = JournalWriter(path)
    journal.opened(100.0, "c1")
    live.record_connection_opened("c1", 100.0)
    for i, text in enumerate(frames):
        t = 101.0 + i
        journal.frame(t, "c1", text)
        envelope_id, _control = peek_envelope(text)
        ms = None
        if envelope_id is not None and ack:
            ack_for(envelope_id)  # what would be sent
            ms = 0.25 + i
            journal.ack(t, "c1", envelope_id, ms)
        live.add_raw(text, received_at=t, connection="c1", ack_ms=ms)
    journal.closed_connection(200.0, "c1", "closed (code 1000)")
    live.record_connection_closed("c1", 200.0, "closed (code 1000)")
    journal.close()
    return live


FRAMES = [
    '{"type":"hello","num_connections":1}',
    envelope(event_payload("Ev1"), "e1"),
    envelope(event_payload("Ev1"), "e2", retry_attempt=1, retry_reason="timeout"),
    "garbage frame",
    envelope(slash_payload(), "e3", kind="slash_commands"),
]


class TestJournal:
    def test_reload_equals_live(self, tmp_path: Path) -> None:
        live = write_journal(tmp_path / "j.jsonl", FRAMES)
        loaded = load(tmp_path / "j.jsonl")
        pd.testing.assert_frame_equal(live.df, loaded.df)
        pd.testing.assert_frame_equal(live.events(), loaded.events())
        pd.testing.assert_frame_equal(live.connections(), loaded.connections())
        pd.testing.assert_frame_equal(live.problems(), loaded.problems())
        assert loaded.state == "loaded"

    def test_two_runs_appended_to_one_journal_keep_their_connections_apart(self, tmp_path: Path) -> None:
        write_journal(tmp_path / "j.jsonl", FRAMES[:3])
        write_journal(tmp_path / "j.jsonl", [FRAMES[0], envelope(event_payload("Ev9"), "e9")])
        cap = load(tmp_path / "j.jsonl")
        conns = cap.connections()
        assert list(conns["connection"]) == ["c1", "c1#2"]
        assert list(conns["deliveries"]) == [2, 1]
        assert cap.df["connection"].tolist() == ["c1", "c1", "c1#2"]

    def test_file_mode_is_private(self, tmp_path: Path) -> None:
        write_journal(tmp_path / "j.jsonl", FRAMES[:2])
        assert stat.S_IMODE(os.stat(tmp_path / "j.jsonl").st_mode) == 0o600

    def test_unacked_envelopes_load_without_ack_time(self, tmp_path: Path) -> None:
        write_journal(tmp_path / "j.jsonl", FRAMES, ack=False)
        df = load(tmp_path / "j.jsonl").df
        assert len(df) == 3 and df["ack_ms"].isna().all()

    def test_torn_last_line_warns(self, tmp_path: Path) -> None:
        path = tmp_path / "j.jsonl"
        write_journal(path, FRAMES)
        with path.open("a") as f:
            f.write('{"k":"frame","t":300,"c":"c1","raw":"{\\"envel')
        with pytest.warns(UserWarning, match="incomplete"):
            cap = load(path)
        assert len(cap) == 3

    def test_broken_middle_line_warns_with_its_number(self, tmp_path: Path) -> None:
        path = tmp_path / "j.jsonl"
        write_journal(path, FRAMES)
        lines = path.read_text().splitlines(keepends=True)
        lines.insert(3, "%%% not json %%%\n")
        path.write_text("".join(lines))
        with pytest.warns(UserWarning, match="line"):
            cap = load(path)
        assert len(cap) == 3

    def test_not_a_journal(self, tmp_path: Path) -> None:
        path = tmp_path / "notes.txt"
        path.write_text("hello\nworld\n")
        with pytest.raises(LogFormatError, match="not a slacklab journal") as info:
            load(path)
        assert info.value.location == "line 1"

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(LogFormatError, match="cannot open"):
            load(tmp_path / "nope.jsonl")

    def test_empty_file_loads_empty(self, tmp_path: Path) -> None:
        (tmp_path / "e.jsonl").write_text("")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(load(tmp_path / "e.jsonl")) == 0
