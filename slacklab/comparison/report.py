"""How a :class:`~slacklab.comparison.lineup.Comparison` reads: numbers for people, one colour per side, charts, HTML.

* :func:`side_colours` – the one colour map every comparison chart uses (Socket
  Mode blue, HTTP orange, whatever the argument order; unknown labels get what is left);
* :func:`fmt_seconds`, :func:`for_people` – ``12 ms``, ``1.43 s``, ``5.0 min``; counts as
  integers; never scientific notation; :func:`seconds_axis` – a chart axis in seconds, one unit per axis;
* charts that return their ``Axes`` (matplotlib ``Figure`` objects, no pyplot state):
  :func:`plot_latency_cdf`, :func:`plot_latency_by_type`, :func:`plot_retry_timeline`,
  :func:`plot_types`, and :func:`overview` (three of them in one figure, sized for a notebook);
* :func:`report_html` – the self-contained report (``Comparison.to_html``); :func:`notebook_html` – the
  short form a notebook shows for ``cmp`` (headline, charts, summary, where the other tables are).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from slacklab.export import safe_frame

if TYPE_CHECKING:  # pragma: no cover
    from slacklab.comparison.lineup import Comparison

__all__ = [
    "SIDE_COLOURS",
    "fmt_seconds",
    "for_people",
    "notebook_html",
    "overview",
    "plot_latency_by_type",
    "plot_latency_cdf",
    "plot_retry_timeline",
    "plot_types",
    "report_html",
    "seconds_axis",
    "side_colours",
]

SIDE_COLOURS: dict[str, str] = {"socket": "#2f6ea8", "http": "#e07b24"}
"""Socket Mode and HTTP, in every comparison chart."""
MATCHED_COLOUR = "#9a9a9a"
_SPARE = ("#2f6ea8", "#e07b24")


def _transport(label: str) -> str | None:
    low = label.lower()
    if "socket" in low or low in ("ws", "websocket", "sm"):
        return "socket"
    if "http" in low or "har" in low or "ngrok" in low:
        return "http"
    return None


def side_colours(labels: Iterable[str]) -> dict[str, str]:
    """A colour per side label: by transport when the label names one, else the colour not yet taken."""
    labels = list(labels)
    out: dict[str, str] = {}
    for label in labels:
        kind = _transport(label)
        if kind is not None and SIDE_COLOURS[kind] not in out.values():
            out[label] = SIDE_COLOURS[kind]
    for label in labels:
        if label not in out:
            out[label] = next((c for c in _SPARE if c not in out.values()), MATCHED_COLOUR)
    return out


# ---------------------------------------------------------------- numbers


def fmt_seconds(value: Any) -> str:
    """A duration as people write it: ``—``, ``0.4 ms``, ``12 ms``, ``1.43 s``, ``5.0 min``, ``3.2 h``, ``333.0 days``."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(x):
        return "—"
    size = abs(x)
    if size < 0.01:
        return f"{x * 1000:.1f} ms"
    if size < 1:
        return f"{x * 1000:.0f} ms"
    if size < 120:
        return f"{x:.2f} s"
    if size < 7200:
        return f"{x / 60:.1f} min"
    if size < 172800:
        return f"{x / 3600:.1f} h"
    return f"{x / 86400:.1f} days"


# (at least this many seconds, the unit's size in seconds, its name): the unit fmt_seconds picks
_UNITS = ((172800.0, 86400.0, "days"), (7200.0, 3600.0, "h"), (120.0, 60.0, "min"), (1.0, 1.0, "s"))


def _unit(seconds: float) -> tuple[float, str]:
    return next(((size, name) for at_least, size, name in _UNITS if seconds >= at_least), (0.001, "ms"))


def _axis_unit(top: float, ticks: np.ndarray) -> tuple[float, str, int]:
    """The unit for a linear axis whose largest value is ``top``: the largest unit (up to ``top``'s own)
    that writes every tick exactly with at most two decimals (ticks every 50 s stay ``50 s``, not
    ``0.833 min``), and the fewest decimals that do (``0 ms, 5 ms``; ``0.0 s, 0.5 s``; ``0.25 s``)."""
    units = [(size, name) for at_least, size, name in _UNITS if top >= at_least] + [(0.001, "ms")]
    for size, name in units:
        for decimals in range(3):
            if np.allclose(ticks / size, np.round(ticks / size, decimals), rtol=0, atol=1e-6):
                return size, name, decimals
    return units[0][0], units[0][1], 3


def seconds_axis(axis: Axis) -> None:
    """Label ``axis`` (values in seconds) as people read it: one unit for the whole axis, chosen by its
    largest value (``0 ms, 250 ms, 500 ms``; ``0.0 s, 0.5 s, 1.0 s``…), with the decimals its tick step needs.
    On a log scale each tick says its own unit (``1 ms, 10 ms, 100 ms, 1 s``) and minor ticks stay unlabelled."""

    def label(x: float, _pos: int | None) -> str:
        if axis.get_scale() == "log":  # decades: 1 ms, 10 ms, 100 ms, 1 s, 10 s, 2 min
            size, name = _unit(abs(x))
            return f"{x / size:.4g} {name}"
        low, high = axis.get_view_interval()
        ticks = np.asarray(axis.get_majorticklocs(), dtype="float64")
        size, name, decimals = _axis_unit(max(abs(low), abs(high)), ticks)
        value = x / size
        return f"{0.0 if abs(value) < 10**-decimals / 2 else value:.{decimals}f} {name}"

    axis.set_major_formatter(FuncFormatter(label))
    if axis.get_scale() == "log":
        axis.set_minor_formatter(NullFormatter())
    else:  # a few round ticks (no 2.5 steps): "17.5 ms20.0 ms" ran together on a small chart
        axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))


def _fmt_value(value: Any, seconds: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return "—"
    if seconds:
        return fmt_seconds(value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return f"{int(value):,}" if float(value).is_integer() else f"{float(value):,.3f}"
    if isinstance(value, pd.Timestamp):
        return str(value.strftime("%H:%M:%S.%f"))[:-3]
    return str(value)


def for_people(df: pd.DataFrame, *, index_seconds: bool = False) -> pd.DataFrame:
    """A copy of ``df`` as strings: counts as integers, seconds (columns ending ``_s``, or rows
    whose index says ``(s)`` when ``index_seconds``) as :func:`fmt_seconds` (the ``_s`` and ``(s)``
    go: the values say their unit), times as ``HH:MM:SS.mmm``."""
    out = pd.DataFrame(index=df.index, columns=df.columns, dtype=object)
    for col in df.columns:
        col_seconds = str(col).endswith("_s")
        for idx, value in df[col].items():
            row_seconds = index_seconds and "(s)" in str(idx)
            out.at[idx, col] = _fmt_value(value, col_seconds or row_seconds)
    if index_seconds:  # the values now say their unit
        out.index = pd.Index([str(i).replace(" (s)", "") for i in out.index], name=df.index.name)
    # so do the columns' values: `p50_s` reading "4.5 ms" would contradict itself
    return out.rename(columns={c: str(c)[:-2] for c in df.columns if str(c).endswith("_s")})


# ----------------------------------------------------------------- charts


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    return ax if ax is not None else Figure(figsize=size, layout="constrained").add_subplot()


def _empty(ax: Axes, text: str) -> Axes:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _log_if_spread(ax: Axes, values: np.ndarray) -> None:
    """A log x axis when the values are all positive and span more than two decades (ms next to minutes)."""
    values = values[~np.isnan(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() > 100:
        ax.set_xscale("log")


def plot_latency_cdf(cmp: Comparison, ax: Axes | None = None) -> Axes:
    """Share of events received within *x* seconds of happening, one line per side."""
    ax = _axes(ax, (7.0, 3.2))
    colours = side_colours(cmp.labels)
    ax.set_title("latency: share of events received within x")
    drawn = False
    for label in cmp.labels:
        values = np.sort(cmp.events[f"{label}_latency_s"].dropna().to_numpy(dtype="float64"))
        if len(values):
            drawn = True
            share = np.arange(1, len(values) + 1) / len(values)
            ax.step(
                values,
                share,
                where="post",
                color=colours[label],
                label=f"{label} (p50 {fmt_seconds(float(np.median(values)))})",  # the headline's p50
            )
    if not drawn:
        return _empty(ax, "no latencies: the events carry no event_time")
    _log_if_spread(ax, cmp.events[[f"{la}_latency_s" for la in cmp.labels]].stack().to_numpy(dtype="float64"))
    seconds_axis(ax.xaxis)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of events")
    ax.grid(alpha=0.3)
    # Beside the plot: a slow side's line reaches the lower right corner, where a legend inside sat.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return ax


def plot_latency_by_type(cmp: Comparison, ax: Axes | None = None, *, limit: int = 8) -> Axes:
    """A box per event type and side (the most common ``limit`` types), latency on the x axis."""
    ax = _axes(ax, (7.0, 3.6))
    colours = side_colours(cmp.labels)
    ax.set_title("latency per event type")
    ev = cmp.events.assign(_type=cmp.events["event_type"].astype("object").fillna("(none)"))
    timed = ev[[f"{label}_latency_s" for label in cmp.labels]].notna().any(axis=1)
    types = [t for t in cmp.by_type.index if t in set(ev.loc[timed, "_type"])][:limit]
    data, positions, face = [], [], []
    for i, event_type in enumerate(reversed(types)):
        for j, label in enumerate(cmp.labels):
            values = ev.loc[ev["_type"] == event_type, f"{label}_latency_s"].dropna().to_numpy(dtype="float64")
            if len(values):
                data.append(values)
                positions.append(i + (0.2 if j == 0 else -0.2))
                face.append(colours[label])
    if not data:
        return _empty(ax, "no latencies to show")
    boxes = ax.boxplot(
        data, positions=positions, orientation="horizontal", widths=0.35, patch_artist=True, showfliers=True
    )
    for patch, median, colour in zip(boxes["boxes"], boxes["medians"], face, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.75)
        # The median in a darker shade of the side's colour: a one-event box is only this line, and
        # matplotlib's default orange would make a Socket Mode event look like an HTTP one.
        median.set_color(tuple(0.55 * c for c in to_rgb(colour)))
        median.set_linewidth(2)
    ax.set_yticks(range(len(types)), list(reversed([str(t) for t in types])))
    _log_if_spread(ax, np.concatenate(data))
    seconds_axis(ax.xaxis)
    ax.set_xlabel("time after the event happened")
    # Patches, not empty bars: a bar at x=0 would stretch the axis to ±0.4 s around boxes of a few ms.
    handles = [Patch(facecolor=colours[label], alpha=0.75, label=label) for label in cmp.labels]
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(alpha=0.3, axis="x")
    return ax


def _repeated_keys(cmp: Comparison) -> list[Any]:
    """The event keys delivered more than once on some side, in timeline order."""
    tl = cmp.timeline
    if not len(tl):
        return []
    repeated = tl.groupby("event_key")["delivery"].transform("max") > 1
    return list(dict.fromkeys(tl.loc[repeated, "event_key"]))


def plot_retry_timeline(cmp: Comparison, ax: Axes | None = None, *, limit: int = 15) -> Axes:
    """Events delivered more than once: each delivery at its time after the event happened, and why."""
    ax = _axes(ax, (7.0, 3.6))
    colours = side_colours(cmp.labels)
    ax.set_title("deliveries of events that came more than once")
    tl = cmp.timeline
    keys = _repeated_keys(cmp)[:limit]
    if not keys:
        return _empty(ax, "every event arrived once on each side: no retries, no duplicates")
    rows = tl[tl["event_key"].isin(keys)]
    y_of = {key: i for i, key in enumerate(reversed(keys))}
    for j, label in enumerate(cmp.labels):
        mine = rows[rows["side"] == label]
        y = mine["event_key"].map(y_of).to_numpy(dtype="float64") + (0.15 if j == 0 else -0.15)
        first = mine["delivery"].to_numpy() == 1
        x = mine["after_s"].to_numpy(dtype="float64")
        ax.scatter(x[first], y[first], color=colours[label], marker="o", s=28, label=f"{label}: first delivery")
        ax.scatter(x[~first], y[~first], color=colours[label], marker="x", s=40, label=f"{label}: retry or copy")
    names = rows.drop_duplicates("event_key").set_index("event_key")["event_type"].astype("object").fillna("?")
    ax.set_yticks(range(len(keys)), [f"{names.get(k, '?')} …{str(k)[-5:]}" for k in reversed(keys)])
    seconds_axis(ax.xaxis)
    ax.set_xlabel("time after the event happened")
    ax.grid(alpha=0.3, axis="x")
    # Beside the plot, never over it: retries sit at the right, where a legend inside would go.
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return ax


def plot_types(cmp: Comparison, ax: Axes | None = None, *, limit: int = 10) -> Axes:
    """Per event type: matched events (grey) and those only one side saw (the side's colour), stacked."""
    ax = _axes(ax, (7.0, 3.2))
    la, lb = cmp.labels
    colours = side_colours(cmp.labels)
    ax.set_title(f"events per type: matched, only {la}, only {lb}")
    rows = cmp.by_type.iloc[:limit].iloc[::-1]
    if rows.empty:
        return _empty(ax, "nothing to compare")
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for column, colour, name in (
        ("matched", MATCHED_COLOUR, "matched"),
        (f"only_{la}", colours[la], f"only {la}"),
        (f"only_{lb}", colours[lb], f"only {lb}"),
    ):
        values = rows[column].to_numpy(dtype="float64")
        bars = ax.barh(y, values, left=left, color=colour, label=name, height=0.6)
        ax.bar_label(bars, labels=[f"{int(v)}" if v else "" for v in values], label_type="center", fontsize="x-small")
        left += values
    ax.set_yticks(y, [str(t) for t in rows.index])
    ax.set_xlabel("events")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def overview(cmp: Comparison) -> Figure:
    """Latency CDF, latency per type and the retry timeline in one figure, readable at notebook width.

    Without retries or copies the retry timeline is left out (the headline says so) rather than
    drawn as an empty frame."""
    if not _repeated_keys(cmp):
        fig = Figure(figsize=(9.0, 6.4), layout="constrained")
        top, middle = fig.subplots(2, 1, height_ratios=(1.0, 1.2))
        plot_latency_cdf(cmp, top)
        plot_latency_by_type(cmp, middle)
        return fig
    fig = Figure(figsize=(9.0, 9.5), layout="constrained")
    top, middle, bottom = fig.subplots(3, 1, height_ratios=(1.0, 1.2, 1.2))
    plot_latency_cdf(cmp, top)
    plot_latency_by_type(cmp, middle)
    plot_retry_timeline(cmp, bottom)
    return fig


def _png(fig: Figure, dpi: float = 72) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# ------------------------------------------------------------------- HTML


def _table(df: pd.DataFrame, *, index: bool = True, index_seconds: bool = False) -> str:
    shown = for_people(df, index_seconds=index_seconds)
    shown = shown.reset_index() if index else shown
    return str(safe_frame(shown).to_html(index=False, escape=True, na_rep="—", border=0))


def report_html(cmp: Comparison, events_limit: int | None) -> str:
    """The comparison as HTML: headline, charts, then every table (escaped, secrets masked)."""
    la, lb = (html.escape(x) for x in cmp.labels)
    retries = cmp.timeline[cmp.timeline["delivery"] > 1]
    parts = [
        f"<h3>slacklab comparison: {la} vs {lb}</h3>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in cmp.headline()) + "</ul>",
        f"<img alt='latency and retries' style='max-width:100%' src='data:image/png;base64,{_png(overview(cmp))}'/>",
        "<h4>Summary</h4>",
        _table(cmp.summary, index_seconds=True),
        "<h4>De-duplication</h4>",
        _table(cmp.dedup),
    ]
    if len(retries):
        parts += [
            "<h4>Retries and copies (which delivery came when, and why)</h4>",
            _table(retries.head(200), index=False),
        ]
    parts += ["<h4>Signatures</h4>", _table(cmp.signatures, index=False)]
    if len(cmp.offline):
        parts += ["<h4>Time without a live connection</h4>", _table(cmp.offline, index=False)]
    parts += ["<h4>By event type</h4>", _table(cmp.by_type)]
    for label, only in ((la, cmp.only_a), (lb, cmp.only_b)):
        if len(only):
            parts += [f"<h4>Only in {label}</h4>", _table(only.head(20), index=False)]
    parts += [
        "<h4>Latency</h4>",
        _table(cmp.latency, index=False),
        "<h4>Payload fields</h4>",
        _table(cmp.fields, index=False),
    ]
    if events_limit is not None:
        shown = cmp.events.head(events_limit)
        cut = f" (first {events_limit} of {len(cmp.events)})" if len(cmp.events) > events_limit else ""
        parts += [f"<h4>Events{cut}</h4>", _table(shown, index=False)]
    parts.append("<h4>Notes</h4><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in cmp.notes) + "</ul>")
    return "\n".join(parts)


# What a notebook shows for ``cmp``: enough to read the story, and where the rest is. Every table in
# the cell output made it several screens long (the report file keeps them all).
_MORE_TABLES = ("dedup", "signatures", "latency", "by_type", "timeline", "fields", "events")


def notebook_html(cmp: Comparison) -> str:
    """The comparison as a notebook shows it: headline, charts, summary, notes, and how to get the rest."""
    la, lb = (html.escape(x) for x in cmp.labels)
    more = ", ".join(f'<code>cmp.readable("{name}")</code>' for name in _MORE_TABLES)
    parts = [
        f"<h3>slacklab comparison: {la} vs {lb}</h3>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in cmp.headline()) + "</ul>",
        f"<img alt='latency and retries' style='max-width:100%' src='data:image/png;base64,{_png(overview(cmp), 80)}'/>",
        "<h4>Summary</h4>",
        _table(cmp.summary, index_seconds=True),
        "<h4>Notes</h4><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in cmp.notes) + "</ul>",
        f"<p><small>Every table, for reading: {more}; as DataFrames: <code>cmp.summary</code>, "
        '<code>cmp.dedup</code>…; all of it in one file: <code>cmp.to_html("report.html")</code>.</small></p>',
    ]
    return "\n".join(parts)
