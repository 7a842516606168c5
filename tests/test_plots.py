"""Charts: the numbers behind each chart, and that the chart draws exactly those numbers."""

from __future__ import annotations

import html
import sys

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from slacklab.capture import Capture
from slacklab.notebook import plots
from slacklab.notebook.filters import NONE_LABEL
from slacklab.schema import make_row
from slacklab.table import deliveries_frame

from .helpers import event_payload

T0 = 1_700_000_000.0


def rows(spec: list[tuple[str, float]], *, source: str = "socket", retry_every: int = 0) -> list[dict]:
    """Rows from (event_type, seconds after T0); every ``retry_every``-th one is a retry of the one before."""
    out = []
    for i, (kind, at) in enumerate(spec):
        retry = bool(retry_every) and i % retry_every == retry_every - 1
        event_id = f"Ev{i - 1 if retry else i}"
        out.append(
            make_row(
                source=source,
                kind="events_api",
                payload=event_payload(
                    event_id, event_type=kind, channel=f"C{i % 3}", user=f"U{i % 2}", event_time=int(T0 + at)
                ),
                received_at=T0 + at + 0.25,
                connection="c1" if source == "socket" else None,
                envelope_id=f"env-{source}-{i}",
                retry_attempt=1 if retry else 0,
                ack_ms=0.5 + i % 4 if source == "socket" else None,
                response_ms=3.0 + i % 5 if source == "http" else None,
                http_status=200 if source == "http" else None,
            )
        )
    return out


@pytest.fixture
def df() -> pd.DataFrame:
    spec = [("message", i * 0.5) for i in range(30)] + [("reaction_added", i * 1.5) for i in range(8)]
    spec += [("app_mention", 7.0), ("app_mention", 7.2)]
    return deliveries_frame(rows(sorted(spec, key=lambda s: s[1])))


def test_event_type_counts_most_frequent_first(df: pd.DataFrame) -> None:
    counts = plots.event_type_counts(df)
    assert counts.to_dict() == {"message": 30, "reaction_added": 8, "app_mention": 2}
    assert list(counts.index) == ["message", "reaction_added", "app_mention"]


def test_event_type_bars_are_the_counts(df: pd.DataFrame) -> None:
    ax = plots.plot_event_types(df)
    bars = {tick.get_text(): patch.get_width() for tick, patch in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    assert bars == {"message": 30, "reaction_added": 8, "app_mention": 2}
    assert ax.get_yticklabels()[-1].get_text() == "message"  # the biggest on top


def test_timeline_counts_cover_every_delivery_per_type(df: pd.DataFrame) -> None:
    counts = plots.timeline_counts(df, "5s")
    assert counts.attrs["interval"] == pd.Timedelta("5s")
    assert counts.sum().to_dict() == plots.event_type_counts(df).to_dict()
    # Every interval from the first to the last delivery, empty ones included, aligned on the interval.
    assert (counts.index[1:] - counts.index[:-1] == pd.Timedelta("5s")).all()
    assert all(ts.value % pd.Timedelta("5s").value == 0 for ts in counts.index)
    first = df["received_at"].min()
    assert counts.index[0] <= first < counts.index[0] + pd.Timedelta("5s")
    # The first interval holds what was received in it.
    in_first = df[df["received_at"] < counts.index[0] + pd.Timedelta("5s")]
    assert counts.iloc[0].sum() == len(in_first)


def test_timeline_groups_rare_types_as_other(df: pd.DataFrame) -> None:
    counts = plots.timeline_counts(df, "10s", max_types=1)
    assert list(counts.columns) == ["message", plots.OTHER_LABEL]
    assert counts[plots.OTHER_LABEL].sum() == 10


def test_timeline_auto_and_widened_intervals(df: pd.DataFrame) -> None:
    auto = plots.timeline_counts(df)
    assert auto.attrs["interval"] in plots.INTERVALS
    assert 10 <= len(auto) <= 150
    widened = plots.timeline_counts(df, "100ms", max_bins=20)
    assert widened.attrs["interval"] > pd.Timedelta("100ms")
    assert len(widened) <= 20
    assert widened.to_numpy().sum() == len(df)


def test_timeline_without_rows_or_types() -> None:
    empty = plots.timeline_counts(deliveries_frame([]))
    assert empty.empty and "interval" in empty.attrs
    no_type = deliveries_frame(rows([("message", 0.0)]))
    no_type["event_type"] = None
    assert list(plots.timeline_counts(no_type).columns) == [NONE_LABEL]


def test_timeline_stacks_are_the_counts(df: pd.DataFrame) -> None:
    ax = plots.plot_timeline(df, "5s")
    counts = plots.timeline_counts(df, "5s")
    assert ax.get_ylabel() == "per 5 s"
    # One stack layer per event type: each interval's slice is that type's count, on top of the ones before it.
    assert len(ax.patches) == len(counts.columns)
    bottom = np.zeros(len(counts))
    for patch, label in zip(ax.patches, counts.columns, strict=True):
        tops, edges, baseline = patch.get_data()
        assert (np.asarray(baseline) == bottom).all()
        assert (np.asarray(tops) - bottom == counts[label].to_numpy()).all()
        bottom = np.asarray(tops)
        starts = mdates.num2date(edges[:-1])
        assert [pd.Timestamp(t) for t in starts] == list(counts.index)  # each bar spans its interval
        assert np.allclose(np.diff(edges), pd.Timedelta("5s") / pd.Timedelta(days=1))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(counts.columns)


def test_colors_stay_with_their_type() -> None:
    first = plots.assign_colors(["message", "reaction_added"])
    later = plots.assign_colors(["app_mention", "reaction_added", "message", plots.OTHER_LABEL], first)
    assert later["message"] == first["message"] and later["reaction_added"] == first["reaction_added"]
    assert later["app_mention"] not in (first["message"], first["reaction_added"])
    assert later[plots.OTHER_LABEL] == "#9e9e9e"


def test_latency_values_and_histogram() -> None:
    socket = deliveries_frame(rows([("message", float(i)) for i in range(8)]))
    http = deliveries_frame(rows([("message", float(i)) for i in range(5)], source="http"))
    both = pd.concat([socket, http], ignore_index=True)
    ack = plots.latency_ms(both)
    assert sorted(ack["ms"][ack["source"] == "socket"]) == sorted(socket["ack_ms"])
    assert sorted(ack["ms"][ack["source"] == "http"]) == sorted(http["response_ms"])
    ax = plots.plot_latency(both, bins=10)
    assert sum(p.get_height() for p in ax.patches) == len(both)
    delivery = plots.latency_ms(socket, "delivery")
    assert delivery["ms"].tolist() == pytest.approx([250.0] * 8)
    with pytest.raises(ValueError, match="ack' or 'delivery"):
        plots.latency_ms(socket, "ping")


def test_comparison_counts_and_bars() -> None:
    http = deliveries_frame(rows([("message", 0.0), ("message", 1.0), ("message", 2.0)], source="http", retry_every=3))
    socket = deliveries_frame(rows([("message", 0.0), ("reaction_added", 1.0)]))
    deliveries = plots.comparison_counts(http, socket)
    assert deliveries.to_dict("index") == {
        "message": {"HTTP": 3, "Socket Mode": 1},
        "reaction_added": {"HTTP": 0, "Socket Mode": 1},
    }
    events = plots.comparison_counts(http, socket, by="events")
    assert events.loc["message", "HTTP"] == 2  # the retry is the same event
    ax = plots.plot_comparison(http, socket)
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == sorted(deliveries.to_numpy().ravel().tolist())


def test_plots_take_a_capture_and_an_axes(df: pd.DataFrame) -> None:
    cap = Capture()
    for row in rows([("message", 0.0), ("message", 1.0)]):
        cap.record_delivery(row)
    ax = Figure().add_subplot()
    assert plots.plot_event_types(cap, ax=ax) is ax
    assert plots.event_type_counts(cap).to_dict() == {"message": 2}
    with pytest.raises(TypeError, match="DataFrame or a Capture"):
        plots.event_type_counts([1, 2])  # type: ignore[arg-type]


def test_empty_data_draws_a_message() -> None:
    empty = deliveries_frame([])
    for ax in (
        plots.plot_event_types(empty),
        plots.plot_timeline(empty),
        plots.plot_latency(empty),
        plots.plot_comparison(empty, empty),
    ):
        assert ax.texts and not ax.patches


def test_headless_no_pyplot_state(df: pd.DataFrame) -> None:
    ax = plots.plot_timeline(df)
    assert type(ax.figure) is Figure
    assert ax.figure.canvas.manager is None  # not registered with pyplot
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []
    assert plots.figure_png(ax.figure).startswith(b"\x89PNG")


def test_intervals_parse_and_format() -> None:
    assert plots.parse_interval("auto") is None
    assert plots.parse_interval(30) == pd.Timedelta("30s")
    assert plots.parse_interval("5min") == pd.Timedelta("5min")
    with pytest.raises(ValueError):
        plots.parse_interval("-1s")
    assert [plots.format_interval(pd.Timedelta(s)) for s in ("500ms", "10s", "5min", "2h", "1D")] == [
        "500 ms",
        "10 s",
        "5 min",
        "2 h",
        "1 d",
    ]


def test_one_delivery_is_a_bar_in_a_readable_window(df: pd.DataFrame) -> None:
    """A one-event filter used to fill the plot with one 100 ms bar and an axis of 37.60–37.70."""
    one = df.iloc[[3]]
    counts = plots.timeline_counts(one)
    assert counts.attrs["interval"] == pd.Timedelta(seconds=1) and counts.to_numpy().sum() == 1
    ax = plots.plot_timeline(one)
    low, high = ax.get_xlim()
    window = (high - low) * 86400  # matplotlib dates are days
    assert window >= plots.MIN_BINS - 0.01  # seconds: the bar is one of at least twelve slots
    (bar,) = [p for p in ax.patches if p.get_label() == one["event_type"].iloc[0]]
    x0 = bar.get_path().vertices[:, 0].min()
    assert low < x0 < high and (x0 - low) > (high - low) / 3  # about centred
    many = plots.timeline_counts(df)
    assert many.attrs["interval"] < pd.Timedelta(seconds=1)  # a burst still gets fine bars


# ------------------------------------------------------------ read at notebook width


def tick_labels(axis) -> list[str]:  # type: ignore[no-untyped-def]
    axis.figure.canvas.draw()
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


@pytest.mark.parametrize(
    ("limits", "unit"),
    [((0, 0.03), "ms"), ((0, 0.8), "ms"), ((0, 3.2), "s"), ((0, 400), "s"), ((0, 0.0031), "ms")],
)
def test_seconds_axis_uses_one_unit_and_round_ticks(limits: tuple[float, float], unit: str) -> None:
    from slacklab.comparison.report import seconds_axis

    ax = Figure().add_subplot()
    ax.set_xlim(*limits)
    seconds_axis(ax.xaxis)
    labels = tick_labels(ax.xaxis)
    assert labels and all(label.endswith(f" {unit}") for label in labels), labels
    numbers = [label.split()[0] for label in labels]
    assert not any("e" in n for n in numbers), labels
    step = float(numbers[1]) - float(numbers[0])
    mantissa = round(step / 10 ** np.floor(np.log10(step)), 6)
    assert mantissa in (1.0, 2.0, 5.0), labels  # round steps: no 2.5 (17.5 ms, 20.0 ms ran together)
    decimals = {len(n.split(".")[1]) if "." in n else 0 for n in numbers}
    assert len(decimals) == 1, labels  # every tick written alike: "0.0 s, 0.5 s", never "0.0 ms, 500 ms, 1.00 s"


def test_seconds_axis_on_a_log_scale_labels_decades_in_their_own_unit() -> None:
    from slacklab.comparison.report import seconds_axis

    ax = Figure().add_subplot()
    ax.plot([0.001, 30], [0, 1])
    ax.set_xscale("log")
    seconds_axis(ax.xaxis)
    labels = tick_labels(ax.xaxis)
    assert {"1 ms", "10 ms", "100 ms", "1 s", "10 s"} <= set(labels), labels
    assert not [t.get_text() for t in ax.xaxis.get_minorticklabels() if t.get_text()]


def small_comparison():  # type: ignore[no-untyped-def]
    """Six events over both transports, latencies of a few milliseconds (socket faster)."""
    from slacklab.comparison.lineup import compare

    t0 = 1_767_268_800.0

    def side(source: str, delay: float) -> pd.DataFrame:
        return pd.DataFrame(
            [
                make_row(
                    source=source,
                    kind="events_api",
                    received_at=t0 + i + delay * (i + 1),
                    signature=None if source == "socket" else "valid",
                    payload=event_payload(
                        f"Ev{i}",
                        event_type="message" if i % 2 else "reaction_added",
                        ts=f"{t0 + i:.6f}",
                        event_time=int(t0 + i),
                    ),
                )
                for i in range(6)
            ]
        )

    return compare(side("socket", 0.001), side("http", 0.002))


def test_latency_per_type_axis_spans_the_latencies_not_its_legend() -> None:
    """The legend's handles were empty bars at x=0, width 0.8: the axis ran from -0.4 s to 0.4 s and
    boxes of a few milliseconds were slivers in the middle."""
    from slacklab.comparison.report import plot_latency_by_type

    cmp = small_comparison()
    ax = plot_latency_by_type(cmp)
    low, high = ax.get_xlim()
    assert low > -0.002 and high < 0.02, (low, high)  # latencies are 1-12 ms
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"socket", "http"}
    assert all(label.endswith(" ms") for label in tick_labels(ax.xaxis))


def test_overview_leaves_out_an_empty_retry_panel_and_notebook_shows_the_short_form() -> None:
    from slacklab.comparison.report import notebook_html, overview

    cmp = small_comparison()
    assert len(overview(cmp).axes) == 2  # no retries: no empty frame saying so
    page = cmp._repr_html_()
    assert page == f"<div class='slacklab-comparison'>{notebook_html(cmp)}</div>"
    assert "<h4>Summary</h4>" in page and "<h4>Payload fields</h4>" not in page  # the rest: cmp.readable(...)
    assert 'cmp.readable("latency")' in html.unescape(page) and "data:image/png;base64," in page


def test_no_event_type_is_drawn_in_grey() -> None:
    from matplotlib.colors import to_rgb

    colours = plots.assign_colors([f"type{i}" for i in range(16)])
    greys = [c for c in colours.values() if max(to_rgb(c)) - min(to_rgb(c)) < 0.1]
    assert greys == []
    assert plots.assign_colors([plots.OTHER_LABEL])[plots.OTHER_LABEL] == "#9e9e9e"


def test_latency_histogram_spread_over_decades_uses_log_bins_and_the_transport_colour() -> None:
    from matplotlib.colors import to_hex

    from slacklab.comparison.report import SIDE_COLOURS

    ms = [0.05, 0.06, 0.08, 0.1, 0.1, 0.12, 0.2, 3.0, 14.0]
    df = pd.DataFrame({"source": "socket", "ack_ms": ms, "response_ms": np.nan})
    ax = plots.plot_latency(df, bins=10)
    assert ax.get_xscale() == "log" and sum(p.get_height() for p in ax.patches) == len(ms)
    assert {to_hex(p.get_facecolor()) for p in ax.patches} == {SIDE_COLOURS["socket"]}
    (label,) = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "median 0.100 ms" in label and "e-" not in label


def test_panel_table_keeps_small_numbers() -> None:
    from slacklab.notebook.views import cell

    assert [cell(v) for v in (0.04, 0.004, 2.71, 250.0, 1234.5)] == ["0.04", "0.004", "2.7", "250", "1,234"]
