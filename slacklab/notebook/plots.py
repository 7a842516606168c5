"""Charts of deliveries with matplotlib, usable with or without widgets.

Each ``plot_*`` function takes a deliveries DataFrame (or anything with a
``deliveries()`` method, such as a :class:`~slacklab.capture.Capture`),
draws on ``ax`` if given, and returns the matplotlib ``Axes``:

* :func:`plot_event_types` — deliveries per event type (bars);
* :func:`plot_timeline` — deliveries over time, stacked by event type per interval;
* :func:`plot_latency` — histogram of ack times or delivery latency, per source;
* :func:`plot_comparison` — counts per event type for two captures side by side
  (HTTP vs Socket Mode).

The numbers behind each chart come from a function of their own
(:func:`event_type_counts`, :func:`timeline_counts`, :func:`latency_ms`,
:func:`comparison_counts`), so a test or a notebook can check them.

Without ``ax``, the figure is created by :func:`new_axes`: inside a Jupyter
kernel with the inline (or ipympl) backend it goes through pyplot so it
shows below the cell, as pandas' ``.plot()`` does (Jupyter closes it after
showing it); anywhere else — scripts, tests, background threads — it is a
bare :class:`~matplotlib.figure.Figure` that no global state keeps alive.
Save one with ``ax.figure.savefig("chart.png")``.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, cast

import matplotlib
import matplotlib.colors
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from slacklab.comparison.report import side_colours
from slacklab.notebook.filters import NONE_LABEL, label_counts
from slacklab.notebook.timeline import (
    INTERVALS,
    OTHER_LABEL,
    DataLike,
    format_interval,
    frame_of,
    parse_interval,
    timeline_counts,
)

__all__ = [
    "INTERVALS",
    "OTHER_LABEL",
    "assign_colors",
    "comparison_counts",
    "event_type_counts",
    "figure_png",
    "format_interval",
    "latency_ms",
    "new_axes",
    "parse_interval",
    "plot_comparison",
    "plot_event_types",
    "plot_latency",
    "plot_timeline",
    "plot_timeline_counts",
    "timeline_counts",
]

MIN_BINS = 12
"""A timeline is drawn at least this many intervals wide (fewer bars are centred)."""

_PALETTE = tuple(
    colour
    for colour in tuple(cast(Any, matplotlib.colormaps["tab10"]).colors)
    + tuple(cast(Any, matplotlib.colormaps["Set2"]).colors)
    if max(colour) - min(colour) > 0.1  # no greys: grey is "other" (and "(none)") only
)
_GREY = "#9e9e9e"

# ----------------------------------------------------------------- helpers


def _in_notebook() -> bool:
    """True in a Jupyter kernel's main thread whose matplotlib backend shows pyplot figures."""
    if "ipykernel" not in sys.modules or threading.current_thread() is not threading.main_thread():
        return False
    try:
        name = matplotlib.get_backend(auto_select=False)  # matplotlib >= 3.10
    except TypeError:  # pragma: no cover - older matplotlib
        name = str(matplotlib.rcParams["backend"])
    name = (name or "").lower()
    return "inline" in name or "ipympl" in name or name == "widget"


def new_axes(figsize: tuple[float, float] = (7.0, 3.2)) -> Axes:
    """A fresh Axes on a new figure (see the module docstring for where the figure lives)."""
    if _in_notebook():
        import matplotlib.pyplot as plt

        _fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return ax
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def figure_png(fig: Figure, dpi: float = 96) -> bytes:
    """The figure as PNG bytes (for an ``ipywidgets.Image`` or a file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def assign_colors(labels: Iterable[str], known: Mapping[str, str] | None = None) -> dict[str, str]:
    """A colour per label that stays put: labels in ``known`` keep theirs, new ones take the next free one.

    :data:`OTHER_LABEL` and :data:`NONE_LABEL` are grey. Pass the result back
    as ``known`` next time so a type keeps its colour while a live chart grows.
    """
    colors = dict(known or {})
    used = set(colors.values())
    free = [c for c in map(matplotlib.colors.to_hex, _PALETTE) if c not in used]
    for label in labels:
        if label in colors:
            continue
        if label in (OTHER_LABEL, NONE_LABEL):
            colors[label] = _GREY
        else:
            colors[label] = free.pop(0) if free else matplotlib.colors.to_hex(_PALETTE[len(colors) % len(_PALETTE)])
    return colors


# ----------------------------------------------------------------- data


def event_type_counts(data: DataLike, *, limit: int | None = None) -> pd.Series:
    """Deliveries per event type, most frequent first (what :func:`plot_event_types` draws)."""
    return label_counts(frame_of(data), "event_type", limit=limit)


def latency_ms(data: DataLike, which: str = "ack") -> pd.DataFrame:
    """Latencies in milliseconds with their ``source``: what :func:`plot_latency` draws.

    ``which="ack"``: Socket Mode ``ack_ms`` (receipt to ack sent) and, for
    HTTP rows, ``response_ms``. ``which="delivery"``: ``received_at`` minus
    Slack's ``event_time`` (Slack gives whole seconds, so this is coarse).
    Rows without the value are left out.
    """
    df = frame_of(data)
    if which == "ack":
        ack = pd.to_numeric(df["ack_ms"], errors="coerce") if "ack_ms" in df.columns else None
        response = pd.to_numeric(df["response_ms"], errors="coerce") if "response_ms" in df.columns else None
        if ack is None and response is None:
            ms = pd.Series(np.nan, index=df.index)
        elif ack is None or response is None:
            ms = ack if ack is not None else response
        else:
            ms = ack.fillna(response)
    elif which == "delivery":
        if {"received_at", "event_time"} <= set(df.columns):
            ms = (df["received_at"] - df["event_time"]).dt.total_seconds() * 1000.0
        else:
            ms = pd.Series(np.nan, index=df.index)
    else:
        raise ValueError(f"which must be 'ack' or 'delivery', not {which!r}")
    source = df["source"] if "source" in df.columns else pd.Series(NONE_LABEL, index=df.index)
    out = pd.DataFrame({"source": source.astype("object").fillna(NONE_LABEL), "ms": ms.astype("float64")})
    return out[out["ms"].notna()].reset_index(drop=True)


def comparison_counts(
    a: DataLike,
    b: DataLike,
    *,
    labels: tuple[str, str] = ("HTTP", "Socket Mode"),
    by: str = "deliveries",
) -> pd.DataFrame:
    """Counts per event type for two captures, one column each (``labels``), biggest total first.

    ``by="deliveries"`` counts every delivery (retries included);
    ``by="events"`` counts distinct events (``event_key``).
    """
    if by not in ("deliveries", "events"):
        raise ValueError(f"by must be 'deliveries' or 'events', not {by!r}")
    columns = {}
    for label, data in zip(labels, (a, b), strict=True):
        df = frame_of(data)
        if by == "deliveries" or "event_key" not in df.columns:
            columns[label] = label_counts(df, "event_type")
        else:
            types = df["event_type"].astype("object").fillna(NONE_LABEL)
            keys = df["event_key"].astype("object").fillna(pd.Series(df.index.astype(str), index=df.index))
            columns[label] = keys.groupby(types).nunique()
    out = pd.DataFrame(columns).fillna(0).astype("int64")
    out.index.name = "event_type"
    if out.empty:
        return out
    total = out.sum(axis=1)
    order = total.sort_index().sort_values(ascending=False, kind="stable").index
    return out.loc[order]


# ----------------------------------------------------------------- charts


def _no_data(ax: Axes, message: str) -> Axes:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color=_GREY)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_event_types(
    data: DataLike, *, ax: Axes | None = None, limit: int = 12, colors: Mapping[str, str] | None = None
) -> Axes:
    """Horizontal bars: deliveries per event type, the most frequent on top (``limit`` types)."""
    counts = event_type_counts(data, limit=limit)
    ax = ax if ax is not None else new_axes()
    ax.set_title("deliveries per event type")
    if counts.empty:
        return _no_data(ax, "no deliveries yet")
    palette = assign_colors(counts.index, colors)
    labels = list(counts.index)[::-1]
    values = counts.to_numpy()[::-1]
    bars = ax.barh(labels, values, color=[palette[t] for t in labels])
    ax.bar_label(bars, padding=2, fontsize="small")
    ax.set_xlabel("deliveries")
    ax.margins(x=0.12)
    return ax


def plot_timeline(
    data: DataLike,
    interval: str | float | pd.Timedelta | None = "auto",
    *,
    ax: Axes | None = None,
    max_types: int = 8,
    colors: Mapping[str, str] | None = None,
) -> Axes:
    """Stacked bars: deliveries per ``interval`` (``"auto"``, ``"10s"``, ``"1min"``…) by event type.

    The counts are :func:`timeline_counts` with the same arguments; the
    interval used (maybe widened) is in the y-axis label.
    """
    counts = timeline_counts(data, interval, max_types=max_types)
    return plot_timeline_counts(counts, ax=ax, colors=colors)


def plot_timeline_counts(
    counts: pd.DataFrame, *, ax: Axes | None = None, colors: Mapping[str, str] | None = None
) -> Axes:
    """Draw counts made by :func:`timeline_counts` (for callers that keep the numbers, like the panel)."""
    ax = ax if ax is not None else new_axes()
    step: pd.Timedelta = counts.attrs.get("interval") or pd.Timedelta(seconds=1)
    ax.set_title("deliveries over time")
    if counts.empty:
        return _no_data(ax, "no deliveries yet")
    palette = assign_colors(counts.columns, colors)
    # One filled step patch per event type (a stack layer), its bars side by side as the
    # intervals are: the same picture as a bar per interval and type, but ~150x fewer
    # artists to draw (a million-row panel redraws several times a minute).
    starts = mdates.date2num(  # type: ignore[no-untyped-call]
        counts.index.tz_convert("UTC").tz_localize(None).to_numpy()
    )
    width = step / pd.Timedelta(days=1)  # matplotlib dates are in days
    edges = np.append(starts, starts[-1] + width)
    bottom = np.zeros(len(counts), dtype="int64")
    for label in counts.columns:
        top = bottom + counts[label].to_numpy()
        # add_artist, not ax.stairs: stairs finds the data limits by walking every segment of
        # the outline in Python (~8 ms a layer); the limits are set once below instead.
        ax.add_artist(
            StepPatch(
                top,
                edges,
                baseline=bottom,  # type: ignore[arg-type]  # arrays work
                fill=True,
                color=palette[label],
                label=label,
                linewidth=0,
            )
        )
        bottom = top
    # At least MIN_BINS intervals wide, centred on the data: one bar is a bar, not the whole plot.
    pad = max(0.0, (MIN_BINS - len(counts)) * width / 2)
    ax.update_datalim([(edges[0] - pad, 0), (edges[-1] + pad, max(1, int(bottom.max())))])
    ax.autoscale_view()
    ax.xaxis_date()
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("received (UTC)")
    ax.set_ylabel(f"per {format_interval(step)}")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Beside the bars, never over them (inside, a tall stack ran into it).
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="x-small", frameon=False)
    ax.set_ylim(0, max(1, int(bottom.max())) * 1.05)
    return ax


def plot_latency(data: DataLike, which: str = "ack", *, bins: int = 30, ax: Axes | None = None) -> Axes:
    """Histogram of :func:`latency_ms` (``"ack"`` or ``"delivery"``), one colour per source, medians in the legend."""
    values = latency_ms(data, which)
    ax = ax if ax is not None else new_axes()
    ax.set_title("ack / response time" if which == "ack" else "delivery latency (event_time → received)")
    if values.empty:
        return _no_data(ax, "no ack times recorded" if which == "ack" else "no event times recorded")
    groups = [(name, group["ms"].to_numpy()) for name, group in values.groupby("source", sort=True)]
    colours = side_colours(name for name, _ in groups)  # Socket Mode and HTTP as in every other chart
    everything = values["ms"].to_numpy()
    # Ack times are mostly a fraction of a millisecond with a tail of a few ms: on a linear axis every
    # delivery but a handful falls in the first bar. Spread over more than two decades: log bins.
    spread = everything.min() > 0 and everything.max() / everything.min() > 100
    if spread:
        edges = np.geomspace(everything.min(), everything.max(), bins + 1)
    else:
        edges = np.histogram_bin_edges(everything, bins=bins)
    for name, ms in groups:
        ax.hist(
            ms,
            bins=edges.tolist(),
            alpha=0.7 if len(groups) > 1 else 1.0,
            color=colours[name],
            label=f"{name} (median {_ms(float(np.median(ms)))}, n={len(ms):,})",
        )
    if spread:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("milliseconds" + (" (log scale)" if spread else ""))
    ax.set_ylabel("deliveries")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small", frameon=False, loc="best")
    return ax


def _ms(value: float) -> str:
    """``0.093 ms``, ``2.7 ms``, ``41 ms``, ``1,250 ms``: two or three significant digits, never ``9.3e-02``."""
    if value < 1:
        return f"{value:.3f} ms"
    if value < 10:
        return f"{value:.1f} ms"
    return f"{value:,.0f} ms"


def plot_comparison(
    a: DataLike,
    b: DataLike,
    *,
    labels: tuple[str, str] = ("HTTP", "Socket Mode"),
    by: str = "deliveries",
    limit: int = 12,
    ax: Axes | None = None,
) -> Axes:
    """Two bars per event type, one per capture (``labels``): the counts of :func:`comparison_counts`."""
    counts = comparison_counts(a, b, labels=labels, by=by).iloc[:limit]
    ax = ax if ax is not None else new_axes()
    ax.set_title(f"{by} per event type: {labels[0]} vs {labels[1]}")
    if counts.empty:
        return _no_data(ax, "nothing to compare yet")
    rows = counts.iloc[::-1]
    y = np.arange(len(rows))
    height = 0.4
    colours = side_colours(labels)  # the comparison's colour map: Socket Mode and HTTP keep their colours
    for offset, label, color in (
        (height / 2, labels[0], colours[labels[0]]),
        (-height / 2, labels[1], colours[labels[1]]),
    ):
        bars = ax.barh(y + offset, rows[label].to_numpy(), height=height, label=label, color=color)
        ax.bar_label(bars, padding=2, fontsize="x-small")
    ax.set_yticks(y, list(rows.index))
    ax.set_xlabel(by)
    ax.margins(x=0.12)
    ax.legend(fontsize="small", loc="best")
    return ax
