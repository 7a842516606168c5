"""The explore panel, tested through its state: filters give the expected rows, the chart's data
matches the counts, redraws are throttled and happen off the writer's thread."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from slacklab.capture import Capture
from slacklab.notebook.filters import NONE_LABEL, Filters, label_counts, time_span, to_utc
from slacklab.notebook.panel import ExplorePanel, explore
from slacklab.notebook.plots import event_type_counts, timeline_counts
from slacklab.notebook.refresher import Refresher, Throttle
from slacklab.schema import make_row
from slacklab.table import counts_by_type, deliveries_frame

from .helpers import event_payload, wait_until

T0 = 1_700_000_000.0
TYPES = ("message", "reaction_added", "app_mention", "member_joined_channel")


def make_rows(n: int, *, start: int = 0, step: float = 0.1) -> list[dict]:
    """``n`` deliveries: types cycle through TYPES, every 10th is a retry, some come over HTTP."""
    out = []
    for i in range(start, start + n):
        retry = i % 10 == 9
        text = '=HYPERLINK("http://evil")' if i == 3 else f"hello number {i} xoxb-1234-5678-abcdefgh"
        out.append(
            make_row(
                source="http" if i % 5 == 4 else "socket",
                kind="events_api",
                payload=event_payload(
                    f"Ev{i - 1 if retry else i}",
                    event_type=TYPES[i % 4],
                    text=text,
                    channel=f"C{i % 3}",
                    user=f"U{i % 7}",
                    event_time=int(T0 + i * step),
                ),
                received_at=T0 + i * step,
                connection="c1",
                envelope_id=f"env-{i}",
                retry_attempt=1 if retry else 0,
                ack_ms=0.4,
            )
        )
    return out


@pytest.fixture
def df() -> pd.DataFrame:
    return deliveries_frame(make_rows(200))


@pytest.fixture
def panels() -> Iterator[list[ExplorePanel]]:
    made: list[ExplorePanel] = []
    yield made
    for panel in made:
        panel.close()


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("slacklab-")]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"threads left running: {alive}")


# ------------------------------------------------------------ the model


class TestFilters:
    def test_default_keeps_everything_without_copying(self, df: pd.DataFrame) -> None:
        assert not Filters().active
        assert Filters().apply(df) is df
        assert Filters().describe() == "all deliveries"

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (Filters(event_types=("message",)), lambda d: d["event_type"] == "message"),
            (
                Filters(event_types=("message", "app_mention")),
                lambda d: d["event_type"].isin(["message", "app_mention"]),
            ),
            (Filters(channel="C1"), lambda d: d["channel"] == "C1"),
            (Filters(user="U3"), lambda d: d["user"] == "U3"),
            (Filters(source="http"), lambda d: d["source"] == "http"),
            (Filters(hide_retries=True), lambda d: d["retry_attempt"] == 0),
            (Filters(text="NUMBER 12"), lambda d: d["text"].str.contains("number 12")),
            (
                Filters(channel="C0", hide_retries=True, event_types=("reaction_added",)),
                lambda d: (d["channel"] == "C0") & (d["retry_attempt"] == 0) & (d["event_type"] == "reaction_added"),
            ),
        ],
    )
    def test_each_filter_gives_the_expected_rows(self, df: pd.DataFrame, filters: Filters, expected) -> None:  # type: ignore[no-untyped-def]
        got = filters.apply(df)
        want = df[expected(df).fillna(False).astype(bool)]
        assert len(want) > 0
        assert got.index.tolist() == want.index.tolist()

    def test_time_range_is_inclusive_and_takes_epoch_or_iso(self, df: pd.DataFrame) -> None:
        start, end = T0 + 2.0, T0 + 3.0
        got = Filters(start=start, end=pd.Timestamp(end, unit="s").isoformat()).apply(df)
        assert got["received_at"].min() == pd.Timestamp(start, unit="s", tz="UTC")
        assert got["received_at"].max() == pd.Timestamp(end, unit="s", tz="UTC")
        assert len(got) == 11
        assert to_utc("2026-01-01T00:00:00").tzinfo is not None
        with pytest.raises(ValueError):
            to_utc("NaT")

    def test_search_is_literal_and_reaches_the_payload(self, df: pd.DataFrame) -> None:
        assert len(Filters(text="(").apply(df)) == 1  # the HYPERLINK row: "(" is not a regex
        assert len(Filters(text='"event_id":"ev17"').apply(df)) == 1  # only in the payload
        assert Filters(text="   ").active is False

    def test_missing_values_and_missing_columns(self, df: pd.DataFrame) -> None:
        d = df.copy()
        d.loc[d.index[:3], "event_type"] = None
        assert len(Filters(event_types=(NONE_LABEL,)).apply(d)) == 3
        assert label_counts(d, "event_type")[NONE_LABEL] == 3
        narrow = df[["event_type", "received_at"]]
        assert len(Filters(channel="C1").apply(narrow)) == 0
        assert len(Filters(text="hello").apply(narrow)) == 0

    def test_describe_and_replace(self) -> None:
        f = Filters(event_types="message").replace(hide_retries=True, channel="C1")
        assert f.event_types == ("message",)
        assert f.describe() == "type message, channel C1, no retries"

    def test_label_counts_and_time_span(self, df: pd.DataFrame) -> None:
        counts = label_counts(df, "channel")
        assert counts.to_dict() == df["channel"].value_counts().to_dict()
        assert list(counts.index) == ["C0", "C1", "C2"]  # ties in name order
        assert label_counts(df, "nope").empty
        assert time_span(df) == (df["received_at"].min(), df["received_at"].max())
        assert time_span(deliveries_frame([])) is None

    def test_a_million_rows_filter_quickly(self, df: pd.DataFrame) -> None:
        big = pd.concat([df] * 5000, ignore_index=True)
        assert len(big) == 1_000_000
        started = time.perf_counter()
        kept = Filters(event_types=("message",), channel="C1", hide_retries=True).mask(big)
        took = time.perf_counter() - started
        assert kept.sum() == 5000 * len(Filters(event_types=("message",), channel="C1", hide_retries=True).apply(df))
        assert took < 2.0, f"filtering a million rows took {took:.2f} s"


# ------------------------------------------------------------ throttling


class TestThrottle:
    def test_at_most_one_redraw_per_interval(self) -> None:
        t = Throttle(min_interval=0.5)
        assert t.delay(10.0) == 0
        t.record(10.0, 10.01)
        assert t.delay(10.2) == pytest.approx(0.3)
        assert t.delay(10.6) == 0

    def test_slow_redraws_leave_the_kernel_half_its_time(self) -> None:
        t = Throttle(min_interval=0.5, busy=0.5)
        t.record(0.0, 2.0)  # a two-second redraw
        assert t.delay(2.0) == pytest.approx(2.0)

    def test_refresher_merges_a_burst_of_requests(self) -> None:
        ticks: list[tuple[bool, float]] = []
        r = Refresher(
            lambda requested: ticks.append((requested, time.monotonic())),
            poll=None,
            throttle=Throttle(min_interval=0.3),
        )
        try:
            for _ in range(200):
                r.request()
            assert wait_until(lambda: len(ticks) >= 1)
            for _ in range(200):
                r.request()
                time.sleep(0.003)
            assert wait_until(lambda: len(ticks) >= 2)
            time.sleep(0.5)
        finally:
            r.close()
        assert 2 <= len(ticks) <= 5
        gaps = np.diff([at for _, at in ticks])
        assert (gaps >= 0.29).all()
        assert all(requested for requested, _ in ticks)
        assert not r.alive

    def test_polls_pauses_and_survives_errors(self) -> None:
        ticks: list[bool] = []

        def tick(requested: bool) -> None:
            ticks.append(requested)
            if len(ticks) == 1:
                raise RuntimeError("boom")

        r = Refresher(tick, poll=0.05, throttle=Throttle(min_interval=0.05))
        try:
            assert wait_until(lambda: len(ticks) >= 3)
            assert ticks[1] is False  # a poll, after the failing tick
            r.pause()
            time.sleep(0.1)
            paused_at = len(ticks)
            time.sleep(0.3)
            assert len(ticks) == paused_at
            r.resume()
            assert wait_until(lambda: len(ticks) > paused_at)
            assert ticks[paused_at] is True
        finally:
            r.close()
        r.close()  # twice is fine


# ------------------------------------------------------------ the panel on a DataFrame


class TestPanel:
    def test_initial_state(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df)
        panels.append(panel)
        assert panel.redraws == 1 and panel.shown == len(df)
        assert panel.full_df is df  # no copy without a filter
        assert list(panel.df.columns)[:3] == ["received_at", "source", "event_type"] and "payload" not in panel.df
        assert str(panel.df["received_at"].dtype) == "datetime64[ms, UTC]"
        assert panel.controls["types"].options == tuple((f"{t} ({n})", t) for t, n in event_type_counts(df).items())
        assert [v for _, v in panel.controls["channel"].options] == ["", "C0", "C1", "C2"]
        assert panel.counts.equals(counts_by_type(df))
        assert bytes(panel._chart.value).startswith(b"\x89PNG")
        assert "200</b> of 200 deliveries" in panel._count.value
        assert "showing 200 deliveries" in repr(panel)
        bundle = panel._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["text/plain"] == repr(panel)

    def test_a_filter_gives_the_expected_rows_and_chart(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df)
        panels.append(panel)
        panel.controls["types"].value = ("message", "app_mention")
        panel.controls["hide_retries"].value = True
        expected = Filters(event_types=("message", "app_mention"), hide_retries=True).apply(df)
        assert panel.df.index.tolist() == expected.index.tolist()  # at once, before any redraw
        panel.refresh()
        assert panel.shown == len(expected)
        assert panel.counts.equals(counts_by_type(expected))
        # The chart's data is the filtered rows, per type and in total.
        assert panel.chart_data.sum().to_dict() == event_type_counts(expected).to_dict()
        assert int(panel.chart_data.to_numpy().sum()) == len(panel.df)
        assert f"<b class='slacklab-shown'>{len(expected)}</b>" in panel._count.value

    def test_set_filters_from_code(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df)
        panels.append(panel)
        panel.set_filters(event_types="message", channel="C2", text="hello", source="socket", interval="1s")
        assert panel.filters == Filters(event_types=("message",), channel="C2", text="hello", source="socket")
        assert panel.df.index.tolist() == panel.filters.apply(df).index.tolist()
        panel.refresh()
        assert panel.chart_data.attrs["interval"] == pd.Timedelta("1s")
        panel.set_filters(channel="C99")  # not in the data: still selectable, no rows
        assert len(panel.df) == 0
        with pytest.raises(TypeError, match="unknown filter"):
            panel.set_filters(colour="red")

    def test_team_filter_for_shared_channels(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        """Slack Connect / Grid captures hold several teams: the team picker lists them and filters by team_id."""
        shared = df.copy()
        shared["team_id"] = ["T_OTHER" if i % 4 == 0 else "T_HOME" for i in range(len(shared))]
        assert Filters(team="T_OTHER").apply(shared).index.tolist() == list(range(0, len(shared), 4))
        assert "team T_OTHER" in Filters(team="T_OTHER").describe()
        panel = explore(shared)
        panels.append(panel)
        panel.refresh()
        assert {"T_HOME", "T_OTHER"} <= {value for _label, value in panel.controls["team"].options}
        panel.set_filters(team="T_OTHER", event_types="message")
        expected = Filters(team="T_OTHER", event_types=("message",)).apply(shared)
        assert len(expected) > 0 and panel.df.index.tolist() == expected.index.tolist()

    def test_time_slider(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df)
        panels.append(panel)
        slider = panel.controls["time"]
        assert slider.value == (0.0, pytest.approx(19.9))
        assert panel.filters.start is None and panel.filters.end is None
        panel.set_filters(start=T0 + 5, end=T0 + 6)
        assert panel.filters.start == pd.Timestamp(T0 + 5, unit="s", tz="UTC")
        assert len(panel.df) == 11
        panel.refresh()
        assert "UTC" in panel._time_label.value

    def test_updates_wait_for_the_refresher(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df, refresh_every=0.2)
        panels.append(panel)
        for text in ("h", "he", "hel", "hell", "hello", "hello number 1"):
            panel.controls["search"].value = text
        assert wait_until(lambda: panel.shown == len(Filters(text="hello number 1").apply(df)))
        time.sleep(0.3)
        assert panel.redraws <= 4  # six keystrokes, a couple of redraws

    def test_rows_table_is_escaped_masked_and_capped(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df, max_rows=5)
        panels.append(panel)
        table = panel._rows.value
        assert table.count("<tr>") == 6  # header + 5 rows
        assert "xoxb-1234" not in table
        panel.set_filters(text="HYPERLINK")
        panel.refresh()
        assert "&quot;http://evil&quot;" in panel._rows.value or "&#x27;" in panel._rows.value
        assert "<script" not in panel._rows.value

    def test_export_writes_the_filtered_rows_safely(
        self, df: pd.DataFrame, panels: list[ExplorePanel], tmp_path
    ) -> None:  # type: ignore[no-untyped-def]
        panel = explore(df)
        panels.append(panel)
        panel.set_filters(user="U3")
        panel._export_path.value = str(tmp_path / "out" / "u3.csv")
        panel._export_button.click()
        assert "wrote" in panel._export_message.value
        with open(tmp_path / "out" / "u3.csv", encoding="utf-8") as handle:
            got = list(csv.DictReader(handle))
        assert len(got) == len(Filters(user="U3").apply(df))
        assert all("xoxb-1234" not in row["text"] for row in got)
        formula = [row["text"] for row in got if "HYPERLINK" in row["text"]]
        assert formula == ['\'=HYPERLINK("http://evil")']
        panel._export_path.value = str(tmp_path)  # a folder: the error is shown, not raised
        panel._export_button.click()
        assert "color:#c62828" in panel._export_message.value

    def test_view_count_pauses_and_resumes(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        panel = explore(df)
        panels.append(panel)
        refresher = panel._refresher
        assert refresher is not None
        panel.widget._view_count = 1
        panel.widget._view_count = 0  # the cell's output was cleared
        assert refresher.paused
        panel.widget._view_count = 1
        assert not refresher.paused

    def test_stop_and_close(self, df: pd.DataFrame) -> None:
        panel = explore(df, refresh_every=0.05)
        panel.stop()
        panel.stop()
        assert not panel.live
        panel.controls["types"].value = ("message",)  # still usable after stop()
        assert wait_until(lambda: panel.shown == 50)
        panel.close()
        assert panel.widget.comm is None and panel.controls["types"].comm is None
        assert panel._refresher is None
        assert len(panel.df) == 50

    def test_rejects_other_sources(self) -> None:
        with pytest.raises(TypeError, match="Capture"):
            explore([1, 2, 3])

    def test_a_million_rows(self, df: pd.DataFrame, panels: list[ExplorePanel]) -> None:
        big = pd.concat([df] * 5000, ignore_index=True)
        started = time.perf_counter()
        panel = explore(big)
        panels.append(panel)
        built = time.perf_counter() - started
        started = time.perf_counter()
        panel.set_filters(event_types=["message"], hide_retries=True)
        set_took = time.perf_counter() - started
        started = time.perf_counter()
        panel.refresh()
        redraw = time.perf_counter() - started
        assert set_took < 0.1  # the kernel only records the change; the refresher redraws
        assert built < 5 and redraw < 5, (built, redraw)
        assert panel.shown == 5000 * len(Filters(event_types=("message",), hide_retries=True).apply(df))
        assert panel._rows.value.count("<tr>") == 11  # rows shown stay capped


# ------------------------------------------------------------ the panel on a live capture


class TestLivePanel:
    def test_follows_a_capture_fed_by_another_thread(self, panels: list[ExplorePanel]) -> None:
        cap = Capture(label="test")
        cap.set_state("listening")
        redraw_threads: set[str] = set()
        panel = explore(cap, refresh_every=0.2)
        panels.append(panel)
        original = panel._redraw

        def spy() -> None:
            redraw_threads.add(threading.current_thread().name)
            original()

        panel._redraw = spy  # type: ignore[method-assign]
        first_redraws = panel.redraws
        rows = make_rows(300, step=0.01)

        def listener() -> None:  # stands in for the listener: it only appends
            for i, row in enumerate(rows):
                cap.record_delivery(row)
                if i % 10 == 0:
                    time.sleep(0.01)

        started = time.monotonic()
        feeder = threading.Thread(target=listener, name="fake-listener")
        feeder.start()
        feeder.join(10)
        assert wait_until(lambda: panel.shown == 300)
        elapsed = time.monotonic() - started
        assert "fake-listener" not in redraw_threads
        assert redraw_threads <= {t.name for t in threading.enumerate()} | {"MainThread"}
        assert panel.redraws - first_redraws <= elapsed / 0.2 + 2
        assert panel.chart_data.to_numpy().sum() == 300
        assert "listening" in panel._status.value and "300 deliveries" in panel._status.value
        assert "last ack 0.4 ms" in panel._status.value
        # The time window follows the newest rows.
        assert panel.controls["time"].value[1] == pytest.approx(panel.controls["time"].max)
        assert panel.filters.end is None

    def test_filter_on_a_growing_capture_only_filters_new_rows(self, panels: list[ExplorePanel]) -> None:
        cap = Capture()
        for row in make_rows(100):
            cap.record_delivery(row)
        panel = explore(cap)
        panels.append(panel)
        panel.set_filters(event_types=["message"])
        assert len(panel.df) == 25
        for row in make_rows(100, start=100):
            cap.record_delivery(row)
        assert len(panel.df) == 50
        assert panel.df.index.tolist() == Filters(event_types=("message",)).apply(cap.df).index.tolist()

    def test_status_shows_a_stopped_capture(self, panels: list[ExplorePanel]) -> None:
        cap = Capture(label="done")
        cap.set_state("stopped", "stopped by the user")
        panel = explore(cap)
        panels.append(panel)
        assert "stopped" in panel._status.value and "stopped by the user" in panel._status.value
        assert "(stopped, not followed)" in repr(panel)
        assert not panel.live

    def test_stops_following_once_the_capture_stopped(self, panels: list[ExplorePanel]) -> None:
        cap = Capture()
        cap.set_state("listening")
        panel = explore(cap, refresh_every=0.05)
        panels.append(panel)
        assert panel.live and "followed every 0.05 s" in repr(panel)
        cap.record_delivery(make_rows(1)[0])
        cap.set_state("stopped")
        assert wait_until(lambda: not panel.live)
        assert panel.shown == 1 and "stopped" in panel._status.value
        assert panel._refresher is not None and panel._refresher.poll is None
        panel.set_filters(event_types=["reaction_added"])
        assert wait_until(lambda: panel.shown == 0)

    @pytest.mark.parametrize("source", ["capture", "frame"])
    def test_counts_chart_and_choices_equal_plain_pandas_on_the_shown_rows(
        self, source: str, panels: list[ExplorePanel]
    ) -> None:
        """The panel counts by codes kept between redraws; whatever the filter, live or not, its numbers
        are those of the plain functions on ``panel.df``."""
        rows = make_rows(120)
        for i, row in enumerate(rows):
            if i % 11 == 0:
                row["event_type"] = None  # no type: counted as "(none)"
            if i % 13 == 0:
                row["channel"] = row["user"] = None
            if i % 17 == 0:
                row["event_key"] = None  # no key: not an event
            if i == 5:
                row["event_type"] = NONE_LABEL  # the literal label merges with the missing ones
        cap = Capture()
        for row in rows[:60]:
            cap.record_delivery(row)
        panel = explore(cap if source == "capture" else deliveries_frame(rows), interval="1s")
        panels.append(panel)
        if panel._refresher is not None:
            panel._refresher.pause()
        seen_types: list[str] = []

        def check() -> None:
            panel.refresh()
            assert panel.last_error is None
            shown = panel.full_df
            frame = cap.df if source == "capture" else panel._source.frame
            assert panel._codes.n == len(frame)  # the coded way was taken
            assert panel.shown == len(shown)
            assert panel.counts.equals(counts_by_type(shown))
            assert list(panel.counts.index) == list(counts_by_type(shown).index)
            expected = timeline_counts(shown, "1s")
            assert panel.chart_data.equals(expected) and panel.chart_data.attrs == expected.attrs
            # every choice, with its count; choices keep their places as more arrive (the browser sends positions)
            labels = {v: label for label, v in panel.controls["types"].options}
            for name, n in label_counts(frame, "event_type").items():
                assert labels[name] == f"{name} ({n:,})"
            order = [v for _, v in panel.controls["types"].options]
            assert order[: len(seen_types)] == seen_types
            seen_types[:] = order
            channels = set(label_counts(frame, "channel").index)
            assert channels <= {v for _, v in panel.controls["channel"].options}
            assert f"of {len(shown):,} matching rows" in panel._rows.value or shown.empty

        check()
        for filters in (
            {"event_types": ["message", NONE_LABEL]},
            {"channel": NONE_LABEL, "event_types": []},
            {"channel": "C1", "user": "U3", "hide_retries": True},
            {"source": "http", "channel": None, "user": None, "hide_retries": False},
            {"text": "number 4", "source": None},
            {"event_types": ["no-such-type"], "text": ""},
            {"event_types": []},
        ):
            panel.set_filters(**filters)
            check()
            if source == "capture":
                for row in rows[len(cap) : len(cap) + 15]:
                    cap.record_delivery(row)
                check()


class TestNotebookBehaviour:
    def test_rerunning_a_cell_twenty_times_leaves_one_thread(
        self, panels: list[ExplorePanel], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import slacklab.notebook.panel as panel_module

        cap = Capture()
        cap.set_state("listening")
        runs = iter(range(1, 100))
        monkeypatch.setattr(panel_module, "current_cell", lambda: ("cell-7", next(runs)))
        made = []
        for _ in range(20):  # the same cell, run again and again
            made.append(explore(cap, refresh_every=0.05))
        panels.extend(made)
        alive = [t for t in threading.enumerate() if t.name.startswith("slacklab-explore")]
        assert len(alive) == 1
        assert made[-1].live and all(p._refresher is None for p in made[:-1])
        # two panels made by one run of a cell both stay
        monkeypatch.setattr(panel_module, "current_cell", lambda: ("cell-8", 1))
        both = [explore(cap), explore(cap)]
        panels.extend(both)
        assert all(p._refresher is not None for p in both)

    def test_outside_a_kernel_no_cell_is_known(self) -> None:
        from slacklab.notebook.sources import current_cell

        assert current_cell() is None

    def test_user_changes_while_events_stream_are_never_undone(self, panels: list[ExplorePanel]) -> None:
        """The browser's changes (set_state, from the kernel's comm handling) race the refresher's updates
        of the same control's choices: the user's last choice always stands, and the panel agrees with it."""
        import random

        cap = Capture()
        cap.set_state("listening")
        panel = explore(cap, refresh_every=0.02)
        panels.append(panel)
        types = panel.controls["types"]
        rows = make_rows(1500, step=0.01)
        for i, row in enumerate(rows):
            if i % 50 == 49:  # new event types keep arriving: the choices change under the user's clicks
                row["event_type"] = f"type_{i:04d}"

        def listener() -> None:
            for i, row in enumerate(rows):
                cap.record_delivery(row)
                if i % 10 == 0:
                    time.sleep(0.002)

        feeder = threading.Thread(target=listener, name="fake-listener")
        feeder.start()
        rng = random.Random(3)
        assert wait_until(lambda: len(types.options) >= 4)
        clicks = 0
        while feeder.is_alive() or clicks < 20:
            values = [v for _, v in types.options]
            picked = sorted(rng.sample(range(len(values)), rng.randint(1, min(3, len(values)))))
            types.set_state({"index": picked})  # what ipywidgets does with the browser's message
            wanted = tuple(values[i] for i in picked)
            assert tuple(types.value) == wanted
            time.sleep(rng.uniform(0.0, 0.03))
            assert tuple(types.value) == wanted, "the refresher undid the user's choice"
            clicks += 1
        feeder.join(10)
        cap.set_state("stopped")
        assert wait_until(lambda: not panel.live and panel.shown == len(Filters(event_types=wanted).apply(cap.df)))
        assert panel.filters.event_types == wanted
        assert {v for _, v in types.options} >= set(cap.df["event_type"])  # the new types arrived meanwhile

    def test_the_refresher_leaves_a_control_alone_while_the_user_works_it(self, panels: list[ExplorePanel]) -> None:
        from slacklab.notebook import controls as controls_module

        cap = Capture()
        for row in make_rows(20):
            cap.record_delivery(row)
        panel = explore(cap)
        panels.append(panel)
        panel._refresher.pause()  # type: ignore[union-attr]
        channel = panel.controls["channel"]
        channel.set_state({"index": 1})  # the user picks a channel
        before = list(channel.options)
        more = make_rows(5, start=20)
        for row in more:
            row["channel"] = "C-new"
            cap.record_delivery(row)
        panel.refresh()
        assert list(channel.options) == before and panel._choices_pending  # not now: the user is busy with it
        panel._controls.touched["channel"] -= controls_module.USER_GRACE
        panel.refresh()
        assert "C-new" in [v for _, v in channel.options] and not panel._choices_pending
        assert [tuple(o) for o in channel.options][: len(before)] == [tuple(o) for o in before]
        assert channel.value == before[1][1]


def test_compact_frame() -> None:
    from slacklab.notebook.views import COMPACT_COLUMNS, compact_frame

    full = deliveries_frame(make_rows(5))
    compact = compact_frame(full)
    assert set(compact.columns) <= set(COMPACT_COLUMNS) and "payload" not in compact and "envelope_id" not in compact
    assert "response_ms" not in compact  # empty in this capture: left out
    assert compact.index.equals(full.index) and compact["text"].equals(full["text"])
    assert str(compact["received_at"].dtype) == "datetime64[ms, UTC]"
    assert ".000000" not in compact.to_string() and "+00:00" in compact.to_string()
    assert full["received_at"].dtype == "datetime64[ns, UTC]"  # the source is not changed
