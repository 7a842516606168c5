"""How a :class:`~slacklab.comparison.lineup.Comparison` reads: numbers for people, one colour per side, charts, HTML.

* :func:`side_colours` – the one colour map every comparison chart uses (Socket
  Mode blue, HTTP orange, whatever the argument order; unknown labels get what is left);
* :func:`fmt_seconds`, :func:`for_people` – ``12 ms``, ``1.43 s``, ``5.0 min``; counts as
  integers; never scientific notation;
* charts that return their ``Axes`` (matplotlib ``Figure`` objects, no pyplot state):
  :func:`plot_latency_cdf`, :func:`plot_latency_by_type`, :func:`plot_retry_timeline`,
  :func:`plot_types`, and :func:`overview` (three of them in one figure, sized for a notebook);
* :func:`report_html` – the self-contained report (``Comparison.to_html``).
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
from matplotlib.figure import Figure

from slacklab.export import safe_frame

if TYPE_CHECKING:  # pragma: no cover
    from slacklab.comparison.lineup import Comparison

__all__ = [
    "SIDE_COLOURS",
    "fmt_seconds",
    "for_people",
    "overview",
    "plot_latency_by_type",
    "plot_latency_cdf",
    "plot_retry_timeline",
    "plot_types",
    "report_html",
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
    whose index says ``(s)`` when ``index_seconds``) as :func:`fmt_seconds`, times as ``HH:MM:SS.mmm``."""
    out = pd.DataFrame(index=df.index, columns=df.columns, dtype=object)
    for col in df.columns:
        col_seconds = str(col).endswith("_s")
        for idx, value in df[col].items():
            row_seconds = index_seconds and "(s)" in str(idx)
            out.at[idx, col] = _fmt_value(value, col_seconds or row_seconds)
    if index_seconds:  # the values now say their unit
        out.index = pd.Index([str(i).replace(" (s)", "") for i in out.index], name=df.index.name)
    return out


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
                label=f"{label} (p50 {fmt_seconds(values[len(values) // 2])})",
            )
    if not drawn:
        return _empty(ax, "no latencies: the events carry no event_time")
    _log_if_spread(ax, cmp.events[[f"{la}_latency_s" for la in cmp.labels]].stack().to_numpy(dtype="float64"))
    ax.xaxis.set_major_formatter(lambda x, _pos: fmt_seconds(x))
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of events")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
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
    for patch, colour in zip(boxes["boxes"], face, strict=True):
        patch.set_facecolor(colour)
        patch.set_alpha(0.75)
    ax.set_yticks(range(len(types)), list(reversed([str(t) for t in types])))
    _log_if_spread(ax, np.concatenate(data))
    ax.xaxis.set_major_formatter(lambda x, _pos: fmt_seconds(x))
    handles = [ax.bar(0, 0, color=colours[label], label=label) for label in cmp.labels]
    ax.legend(handles=handles, fontsize="small", loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return ax


def plot_retry_timeline(cmp: Comparison, ax: Axes | None = None, *, limit: int = 15) -> Axes:
    """Events delivered more than once: each delivery at its time after the event happened, and why."""
    ax = _axes(ax, (7.0, 3.6))
    colours = side_colours(cmp.labels)
    ax.set_title("deliveries of events that came more than once")
    tl = cmp.timeline
    repeated = tl.groupby("event_key")["delivery"].transform("max") > 1 if len(tl) else pd.Series(dtype=bool)
    keys = list(dict.fromkeys(tl.loc[repeated, "event_key"]))[:limit] if len(tl) else []
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
    ax.xaxis.set_major_formatter(lambda x, _pos: fmt_seconds(x))
    ax.set_xlabel("time after the event happened")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize="x-small", loc="lower right")
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
    """Latency CDF, latency per type and the retry timeline in one figure, readable at notebook width."""
    fig = Figure(figsize=(9.0, 9.5), layout="constrained")
    top, middle, bottom = fig.subplots(3, 1, height_ratios=(1.0, 1.2, 1.2))
    plot_latency_cdf(cmp, top)
    plot_latency_by_type(cmp, middle)
    plot_retry_timeline(cmp, bottom)
    return fig


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
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
