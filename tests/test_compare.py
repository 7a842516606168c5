"""compare(): line-ups against a known ground truth (drops, retries, duplicates), keys, fields, reports."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba

from slacklab.capture import Capture
from slacklab.comparison.lineup import compare
from slacklab.comparison.report import SIDE_COLOURS, side_colours
from slacklab.http.receiver import HttpReceiver, Reply
from slacklab.journal import JournalWriter
from slacklab.listener import Listener
from slacklab.notebook.plots import plot_comparison
from slacklab.protocol import Envelope
from slacklab.schema import make_row
from slacklab.sim.http_sender import FAKE_SIGNING_SECRET, HttpDelivery
from slacklab.sim.scenario import ScenarioBuilder, build_scenario
from slacklab.sim.server import Simulator
from slacklab.table import deliveries_frame, empty_frame

from .helpers import envelope, event_payload, slash_payload
from .test_http_delivery import respond_once
from .test_receiver import no_leftover_threads  # noqa: F401 - a fixture

T0 = 1_767_268_800.0


def scenario():
    b = ScenarioBuilder(seed=11)
    first = b.message(0.0, "=SUM(1+1) Grüße")
    b.reaction(0.01, first, "tada")
    b.message(0.02, "deploy done", channel="deploys")
    b.reply(0.03, first, "+1")
    b.message(0.04, "lunch?", channel="random")
    b.slash(0.05, "/deploy", "api staging")
    b.block_action(0.06, "approve_deploy", value="yes", label="Approve")
    return b.build()


def socket_capture(
    items: list[Any],
    *,
    skip: set[int] = frozenset(),
    retry: set[int] = frozenset(),
    copy: set[int] = frozenset(),
    drop_token: bool = False,
) -> Capture:
    """A Socket Mode capture of ``items`` as the listener would record it, with known faults."""
    cap = Capture(source="socket", label="socket")
    for n, item in enumerate(items):
        if n in skip:
            continue
        payload = {k: v for k, v in item.payload.items() if not (drop_token and k == "token")}
        attempts = [(0, "")] + ([(1, "timeout")] if n in retry else []) + ([(0, "")] if n in copy else [])
        for i, (attempt, reason) in enumerate(attempts):
            frame = Envelope(f"env-{n}-{i}", item.kind, payload, item.kind != "events_api", attempt, reason)
            cap.record_frame(frame, received_at=T0 + item.at + 0.2 + i, connection="c1", ack_ms=1.0)
    return cap


def http_capture(items: list[Any], **kw: Any) -> tuple[Capture, HttpDelivery]:
    with HttpReceiver(signing_secret=FAKE_SIGNING_SECRET, respond=kw.pop("respond", None)) as cap:
        with HttpDelivery(items, cap.url, speed=1000.0, timeout=0.3, **kw) as sender:
            assert sender.wait_done(timeout=20)
        arrivals = sum(1 for a in sender.truth.attempts if a["outcome"] in ("ok", "http_timeout", "http_error"))
        assert cap.wait_for(arrivals, timeout=10) == arrivals
    return cap, sender


class TestGroundTruth:
    def test_drops_retries_and_duplicates_are_reported_exactly(self, no_leftover_threads) -> None:
        items = list(scenario())
        keys = [make_row(source="x", kind=i.kind, payload=dict(i.payload), received_at=0)["event_key"] for i in items]
        slow_first = respond_once(lambda row: row["event_key"] == keys[0], Reply(delay=0.6))
        socket = socket_capture(items, skip={2}, retry={3}, copy={4})
        http, sender = http_capture(items, drop={5}, respond=slow_first)
        cmp = compare(socket, http)

        assert cmp.labels == ("socket", "http")
        assert set(cmp.only_a.event_id.dropna()) | set(cmp.only_a.trigger_id.dropna()) == {
            items[5].payload.get("trigger_id")
        }
        assert list(cmp.only_b.event_id) == [items[2].payload["event_id"]]
        assert len(cmp.matched) == 5
        s = cmp.summary
        assert (s.loc["events", "socket"], s.loc["events", "http"]) == (6, 6)
        assert (
            (s.loc["retries", "socket"], s.loc["retries", "http"]) == (1, sender.truth.summary()["retries"]) == (1, 1)
        )
        assert (s.loc["duplicates", "socket"], s.loc["duplicates", "http"]) == (2, 1)
        assert s.loc["other deliveries (not compared)", "http"] == 1  # the url_verification
        assert (s.loc["matched on event_id", "socket"], s.loc["matched on trigger_id", "socket"]) == (4, 1)
        by_type = cmp.by_type
        assert by_type.loc["message", "only_http"] == 1 and by_type.loc["/deploy", "only_socket"] == 1
        assert by_type["matched"].sum() == 5
        assert by_type.loc["reaction_added", "http_retries"] == 0

    def test_simulator_feeds_listener_and_receiver_at_once(self, no_leftover_threads) -> None:
        items = build_scenario(seed=5, events=25, duration=2.0)
        dropped = {3, 7}
        with Simulator(items, speed=20, seed=5) as sim, HttpReceiver(signing_secret=FAKE_SIGNING_SECRET) as http:
            listener = Listener(
                sim.app_token, api_url=sim.api_url, ping_interval=0.5, ping_timeout=0.5, close_timeout=0.5, seed=1
            )
            socket = listener.start()
            try:
                with HttpDelivery(items, http.url, speed=20, drop=dropped) as sender:
                    assert sim.wait_done(timeout=30) and sender.wait_done(timeout=30)
                assert socket.wait_for(25, events=True, timeout=10) == 25
                assert http.wait_for(24, timeout=10) == 24  # 23 items + the url_verification
            finally:
                listener.stop()
        cmp = compare(socket, http)
        truth, http_truth = sim.truth, sender.truth
        assert set(cmp.matched.event_id.dropna()) | set(cmp.matched.trigger_id.dropna()) == {
            i.payload.get("event_id") or i.payload.get("trigger_id") for n, i in enumerate(items) if n not in dropped
        }
        assert len(cmp.only_a) == len(http_truth.keys("dropped")) == 2 and cmp.only_b.empty
        assert cmp.summary.loc["retries", "socket"] == len(truth.retries)
        assert cmp.summary.loc["retries", "http"] == http_truth.summary()["retries"] == 0
        assert (cmp.matched.matched_on != "content").all()


class TestMatching:
    def test_content_key_matches_events_seen_under_different_ids(self) -> None:
        a = Capture(source="socket")
        b = Capture(source="http")
        a.record_delivery(
            make_row(source="socket", kind="events_api", payload=event_payload("EvA1", ts="1.000100"), received_at=T0)
        )
        b.record_delivery(
            make_row(
                source="http", kind="events_api", payload=event_payload("EvB9", ts="1.000100"), received_at=T0 + 0.5
            )
        )
        b.record_delivery(
            make_row(source="http", kind="events_api", payload=event_payload("EvB10", ts="2.0"), received_at=T0 + 1)
        )
        cmp = compare(a, b)
        assert list(cmp.matched.matched_on) == ["content"]
        assert (cmp.matched.socket_event_id.iloc[0], cmp.matched.http_event_id.iloc[0]) == ("EvA1", "EvB9")
        assert cmp.matched.gap_s.iloc[0] == pytest.approx(0.5)
        assert list(cmp.only_b.event_id) == ["EvB10"]
        assert any("matched on content" in n for n in cmp.notes)

    def test_slash_commands_and_interactivity_match_on_trigger_id(self) -> None:
        rows = [make_row(source="socket", kind="slash_commands", payload=slash_payload("1.1.a"), received_at=T0)]
        other = [
            make_row(source="http", kind="slash_commands", payload=slash_payload("1.1.a"), received_at=T0),
            make_row(source="http", kind="slash_commands", payload=slash_payload("2.2.b"), received_at=T0),
        ]
        cmp = compare(pd.DataFrame(rows), pd.DataFrame(other), labels=("Socket Mode", "HTTP"))
        assert cmp.labels == ("Socket_Mode", "HTTP")
        assert list(cmp.matched.matched_on) == ["trigger_id"] and list(cmp.only_b.trigger_id) == ["2.2.b"]

    def test_rejected_signatures_are_left_out_unless_asked(self) -> None:
        good = make_row(
            source="http", kind="events_api", payload=event_payload("Ev1"), received_at=T0, signature="valid"
        )
        forged = make_row(
            source="http", kind="events_api", payload=event_payload("Ev2"), received_at=T0, signature="invalid"
        )
        socket = [
            make_row(source="socket", kind="events_api", payload=event_payload(e), received_at=T0)
            for e in ("Ev1", "Ev2")
        ]
        cmp = compare(deliveries_frame(socket), deliveries_frame([good, forged]))
        assert cmp.summary.loc["rejected signatures (not compared)", "http"] == 1
        assert list(cmp.only_a.event_id) == ["Ev2"]
        assert compare(deliveries_frame(socket), deliveries_frame([good, forged]), include_rejected=True).only_a.empty


class TestFieldsAndLatency:
    def test_top_level_fields_present_in_one_mode_only(self, no_leftover_threads) -> None:
        items = list(scenario())[:3]
        cmp = compare(socket_capture(items, drop_token=True), http_capture(items)[0])
        fields = cmp.fields.set_index("field")
        assert fields.loc["token", "present"] == "only http"
        assert fields.loc["event_id", "present"] == "both" and fields.loc["event_id", "matched_pairs"] == 3
        assert any("accepts_response_payload" in n for n in cmp.notes)

    def test_latency_percentiles_and_the_fixed_time_warning(self) -> None:
        rows_a = [
            make_row(
                source="socket",
                kind="events_api",
                received_at=T0 + 100 + i * 0.1,
                payload=event_payload(f"Ev{i}", event_time=int(T0 + 100)),
            )
            for i in range(10)
        ]
        rows_b = [
            make_row(
                source="http",
                kind="events_api",
                received_at=T0 + 5000,
                payload=event_payload(f"Ev{i}", event_time=int(T0 + 100)),
            )
            for i in range(10)
        ]
        cmp = compare(pd.DataFrame(rows_a), pd.DataFrame(rows_b))
        lat = cmp.latency.set_index(["side", "event_type"])
        assert lat.loc[("socket", "(all)"), "p50_s"] == pytest.approx(0.45)
        assert lat.loc[("socket", "(all)"), "events"] == 10
        assert lat.loc[("http", "message"), "p99_s"] == pytest.approx(4900)
        assert any("more than an hour" in n for n in cmp.notes)


def cmp_frame(cmp: Any, source: str) -> pd.DataFrame:
    """The deliveries one side of a TestOutputs comparison was built from, again."""
    n = 3 if source == "socket" else 2
    return pd.DataFrame(
        [
            make_row(
                source=source,
                kind="events_api",
                received_at=T0 + i,
                signature=None if source == "socket" else "valid",
                payload=event_payload(f"Ev{i}"),
            )
            for i in range(n)
        ]
    )


class TestOutputs:
    def cmp(self):
        a = [
            make_row(
                source="socket",
                kind="events_api",
                received_at=T0 + i,
                payload=event_payload(f"Ev{i}", text='=HYPERLINK("x")'),
            )
            for i in range(3)
        ]
        b = [
            make_row(
                source="http",
                kind="events_api",
                received_at=T0 + i,
                signature="valid",
                payload=event_payload(f"Ev{i}", text='=HYPERLINK("x")'),
            )
            for i in range(2)
        ]
        return compare(pd.DataFrame(a), pd.DataFrame(b))

    def test_reprs_and_plot(self) -> None:
        cmp = self.cmp()
        text = repr(cmp)
        assert "socket vs http: 3 vs 2 events, 2 matched" in text and "by type: message 3/2" in text
        page = cmp._repr_html_()
        assert "<table" in page and "data:image/png;base64," in page and "fake-verification-token" not in page
        ax = cmp.plot(kind="types")
        assert isinstance(ax, Axes) and len(ax.patches) == 3 and ax.get_legend() is not None
        for kind in ("latency", "by_type", "retries"):
            assert isinstance(cmp.plot(kind=kind), Axes)
        with pytest.raises(ValueError):
            cmp.plot(kind="pie")

    def test_one_colour_per_side_whatever_the_order(self) -> None:
        cmp = self.cmp()
        flipped = compare(cmp_frame(cmp, "http"), cmp_frame(cmp, "socket"))
        for c in (cmp, flipped):
            lines = {line.get_label().split()[0]: line.get_color() for line in c.plot().get_lines()}
            assert lines == {"socket": SIDE_COLOURS["socket"], "http": SIDE_COLOURS["http"]}
        assert side_colours(["HTTP", "Socket Mode"]) == {
            "HTTP": SIDE_COLOURS["http"],
            "Socket Mode": SIDE_COLOURS["socket"],
        }
        bars = plot_comparison(cmp_frame(cmp, "http"), cmp_frame(cmp, "socket"), labels=("HTTP", "Socket Mode"))
        legend = {
            t.get_text(): h.get_facecolor()
            for t, h in zip(bars.get_legend().texts, bars.get_legend().legend_handles, strict=True)
        }
        assert legend == {"HTTP": to_rgba(SIDE_COLOURS["http"]), "Socket Mode": to_rgba(SIDE_COLOURS["socket"])}
        assert len(set(side_colours(["a", "b"]).values())) == 2
        assert len(set(side_colours(["http", "b"]).values())) == 2

    def test_csv_and_html_are_masked_and_formula_safe(self, tmp_path: Path) -> None:
        cmp = self.cmp()
        csv = cmp.to_csv(tmp_path / "report.csv")
        back = pd.read_csv(csv)
        assert len(back) == 3 and (back.text == '\'=HYPERLINK("x")').all()
        assert set(back.status) == {"matched", "only_socket"}
        for table in ("by_type", "summary", "latency", "fields", "matched", "only_a", "only_b"):
            assert cmp.to_csv(tmp_path / f"{table}.csv", table=table).exists()
        with pytest.raises(ValueError):
            cmp.to_csv(tmp_path / "x.csv", table="nope")
        page = cmp.to_html(tmp_path / "report.html").read_text(encoding="utf-8")
        text = re.sub(r"base64,[^']+", "", page)  # numbers as people write them: no 80.000000, no 2.9e+07
        assert not re.search(r">-?\d{1,8}\.\d{6}<|\de[+-]\d", text) and "<td>3</td>" in text  # ts ids aside
        assert page.startswith("<!doctype html>") and "'=HYPERLINK" in html.unescape(page)
        assert FAKE_SIGNING_SECRET not in page and "fake-verification-token" not in page

    def test_paths_empty_inputs_and_bad_inputs(self, tmp_path: Path) -> None:
        journal = JournalWriter(tmp_path / "socket.jsonl")
        journal.frame(T0, "c1", envelope(event_payload("Ev1"), "env-1"))
        journal.ack(T0, "c1", "env-1", 1.0)
        journal.close()
        har = {"log": {"version": "1.2", "entries": []}}
        (tmp_path / "http.har").write_text(json.dumps(har))
        cmp = compare(tmp_path / "socket.jsonl", str(tmp_path / "http.har"))
        assert cmp.labels == ("socket", "http") and len(cmp.only_a) == 1 and cmp.only_b.empty
        empty = compare(empty_frame(), empty_frame())
        assert empty.events.empty and "0 vs 0 events" in repr(empty)
        assert isinstance(empty.plot(), Axes)
        with pytest.raises(TypeError):
            compare(42, 43)
        with pytest.raises(ValueError):
            compare(pd.DataFrame({"x": [1]}), pd.DataFrame({"x": [1]}))


class TestShippedSamples:
    """data/: the Socket Mode journal and the HTTP log of one scenario, with the truth they were made from."""

    DATA = Path(__file__).resolve().parents[1] / "data"

    def test_samples_compare_exactly_as_their_ground_truth_says(self) -> None:
        truth = json.loads((self.DATA / "sample_truth.json").read_text(encoding="utf-8"))
        secret = truth["signing_secret"]
        cmp = compare(self.DATA / "sample_socket.jsonl", self.DATA / "sample_http.har", signing_secret=secret)
        only_socket = {f"A0SIMAPP/T0SIMTEAM/{e}" for e in cmp.only_a.event_id.dropna()} | {
            f"trigger:{t}" for t in cmp.only_a.trigger_id.dropna()
        }
        assert only_socket == set(truth["http"]["dropped"]) and cmp.only_b.empty
        s = cmp.summary
        assert s.loc["events", "socket"] == truth["socket"]["summary"]["events"]
        assert s.loc["retries", "http"] == truth["http"]["summary"]["retries"]
        assert s.loc["retries", "socket"] == truth["socket"]["summary"]["retries"]
        assert s.loc["rejected signatures (not compared)", "http"] == 1  # the forged request
        assert float(s.loc["latency p50 (s)", "http"]) < 2.0  # played in real time: latency is meaningful

    def test_har_and_jsonl_samples_hold_the_same_requests(self) -> None:
        secret = json.loads((self.DATA / "sample_truth.json").read_text(encoding="utf-8"))["signing_secret"]
        from slacklab.http.logs import read_http_log

        har = read_http_log(self.DATA / "sample_http.har", secret).df
        jsonl = read_http_log(self.DATA / "sample_http.jsonl", secret).df
        pd.testing.assert_frame_equal(har.drop(columns="received_at"), jsonl.drop(columns="received_at"))
        assert (har.received_at - jsonl.received_at).abs().max() < pd.Timedelta("1ms")  # HAR keeps microseconds
        assert sorted(har.signature.unique()) == ["invalid", "valid"]
        assert sum(p.stat().st_size for p in self.DATA.glob("sample_*")) < 1_000_000


REAL = Path(__file__).resolve().parents[2] / "shared" / "real-slack" / "fixtures"
REAL_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example signing secret


@pytest.mark.skipif(not REAL.is_dir(), reason="the shared real-Slack fixtures are not next to this checkout")
@pytest.mark.parametrize("name", sorted(p.name for p in (REAL / "http").glob("*")) if REAL.is_dir() else [])
def test_real_captures_compare_with_themselves_and_happened_times_stay_honest(name: str) -> None:
    """Real Slack bodies: every event matches itself, and 'when it happened' is event_ts only when it agrees with event_time."""
    from slacklab.comparison.tables import happened
    from slacklab.loader import load

    df = load(REAL / "http" / name, REAL_SECRET).deliveries()
    cmp = compare(df, df, labels=("first", "second"), include_rejected=True)
    for only in (cmp.only_a, cmp.only_b):  # only what carries no id at all (a block_suggestion has none)
        assert only["event_id"].isna().all() and only["trigger_id"].isna().all()
    assert len(cmp.matched) == df["event_key"].nunique()
    events = df[df["kind"] == "events_api"]
    if len(events):
        when = happened(events)
        gap = (when - events["event_time"]).dt.total_seconds().dropna()
        assert ((gap >= -2.0) & (gap <= 2.0)).all()
