"""The comparison widget, tested through its state: one filter for both sides, line-up, detail, live refresh."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import slacklab
from slacklab.comparison.both import listen_both
from slacklab.comparison.lineup import compare
from slacklab.notebook.compare_panel import ComparePanel
from slacklab.schema import make_row
from slacklab.table import deliveries_frame

from .helpers import event_payload, wait_until

T0 = 1_700_000_000.0
TYPES = ("message", "reaction_added", "app_mention")
PNG = b"\x89PNG"


def side(source: str, n: int, *, skip: int | None = None, retry: int | None = None) -> pd.DataFrame:
    rows = []
    for i in range(n):
        if i == skip:
            continue
        payload = event_payload(f"Ev{i}", event_type=TYPES[i % 3], text=f"{source} says {i}" if i == 4 else f"hi {i}",
                                channel=f"C{i % 2}", event_time=int(T0 + i))  # fmt: skip
        extra = {"signature": "valid"} if source == "http" else {}
        rows.append(make_row(source=source, kind="events_api", payload=payload, received_at=T0 + i + 0.05, **extra))
        if i == retry:
            rows.append(make_row(source=source, kind="events_api", payload=payload, received_at=T0 + i + 3.1,
                                 retry_attempt=1, retry_reason="timeout", **extra))  # fmt: skip
    return deliveries_frame(rows)


@pytest.fixture
def panels() -> Iterator[list[ComparePanel]]:
    made: list[ComparePanel] = []
    yield made
    for panel in made:
        panel.close()


def test_explore_dispatches_a_comparison_to_its_widget(panels: list[ComparePanel]) -> None:
    cmp = compare(side("socket", 12, retry=3), side("http", 12, skip=7))
    panel = slacklab.explore(cmp)
    panels.append(panel)
    assert isinstance(panel, ComparePanel) and not panel.live
    assert len(panel.lineup) == 12 and panel.comparison is cmp
    assert len(panel._table.options) == 12 and bytes(panel._cdf.value).startswith(PNG)
    assert bytes(panel._retries.value).startswith(PNG) and "12 events" in panel._headline.value
    assert "text/plain" in panel._repr_mimebundle_()


def test_one_filter_applies_to_both_sides(panels: list[ComparePanel]) -> None:
    cmp = compare(side("socket", 12, retry=3), side("http", 12, skip=7))
    panel = ComparePanel(cmp)
    panels.append(panel)
    panel.set_filters(event_types=("reaction_added",))
    panel.refresh()
    shown = panel.comparison
    assert list(shown.by_type.index) == ["reaction_added"]
    assert shown.summary.loc["events", "socket"] == 4 and shown.summary.loc["events", "http"] == 3  # Ev7 dropped
    assert set(panel.lineup["event_type"]) == {"reaction_added"} and len(panel._table.options) == 4
    panel.set_status("only_socket")
    panel.refresh()
    assert list(panel.lineup["event_id"]) == ["Ev7"]
    panel.set_filters(event_types=(), channel="C1")
    panel.set_status("retried")
    panel.refresh()
    assert list(panel.lineup["event_id"]) == ["Ev3"]
    assert panel.comparison.summary.loc["retries", "socket"] == 1
    with pytest.raises(ValueError):
        panel.set_status("sideways")


def test_selecting_a_row_shows_both_payloads_and_their_differences(panels: list[ComparePanel]) -> None:
    cmp = compare(side("socket", 6), side("http", 6))
    panel = ComparePanel(cmp)
    panels.append(panel)
    row = list(panel.lineup["event_id"]).index("Ev4")
    detail = panel.select(row)
    assert detail is not None and detail.row["event_id"] == "Ev4"
    diff = detail.differences.set_index("field")
    assert diff.loc["event.text", "socket"] == "socket says 4" and diff.loc["event.text", "http"] == "http says 4"
    assert "fields that differ" in panel._detail.value and "socket says 4" in panel._detail.value
    assert panel.select(1) is not None and panel.select(1).differences.empty  # the same payload on both sides
    assert panel.select(None) is None and panel._detail.value == ""


def test_follows_both_captures_while_they_stream(panels: list[ComparePanel]) -> None:
    run = listen_both(events=30, duration=6.0, speed=3.0, seed=2)
    try:
        cmp = run.compare()
        panel = ComparePanel(cmp, refresh_every=0.2)
        panels.append(panel)
        assert panel.live
        first = len(panel.base.events)
        assert run.wait_done(30)
        assert wait_until(lambda: len(panel.base.events) == 30, timeout=10)
        assert first < 30 and panel.redraws >= 2 and len(panel.lineup) == 30
    finally:
        run.stop()
    assert wait_until(lambda: not panel.live, timeout=5)
