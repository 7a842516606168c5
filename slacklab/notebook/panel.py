"""The explore panel: filter, count and chart deliveries in a notebook, live or after the fact.

::

    panel = slacklab.explore(cap)   # a live Capture, a loaded one, or any deliveries DataFrame
    panel                           # show it (the last expression of a cell)
    panel.df                        # the rows that pass the filters, for the next cell
    panel.set_filters(event_types=["message"], hide_retries=True)
    panel.export_csv("slacklab-out/messages.csv")
    panel.stop()                    # stop following the capture; the panel stays usable
    panel.close()                   # end its thread and remove it from the notebook

The panel is a view of :class:`slacklab.notebook.filters.Filters` (the model): its
controls only say which filters are set, and everything it shows is
computed from a snapshot of the source with vectorised pandas
(:mod:`slacklab.notebook.filters`, :mod:`slacklab.notebook.plots`, :mod:`slacklab.table`).

How a live capture refreshes, and why a thread
----------------------------------------------
The listener thread only appends to the :class:`~slacklab.capture.Capture`;
it never calls into the panel. Each panel owns one daemon thread, the
*refresher*, that pulls: about twice a second it asks the capture whether
anything changed (an O(1) check), and if so takes a snapshot, filters it,
renders the chart to PNG with a private matplotlib ``Figure`` (no pyplot)
and sets widget values. Control changes made by the user only wake the
refresher, so the kernel answers at once and many quick changes become one
redraw. Redraws are throttled: at most one per ``refresh_every`` seconds, and
never more than half of the time (a slow redraw of a million rows waits as
long as it took before the next one).

A timer on the kernel's event loop was the other option. It runs only when
the kernel is idle, so a cell such as ``cap.wait_for(500)`` would freeze the
panel, and how the loop is exposed changes between ipykernel releases. Widget
state updates (``widget.value = ...``), on the other hand, are comm messages
that ipykernel sends safely from any thread; the panel never uses an
``Output`` widget or ``print`` from the thread (both land in whatever cell
is running). This works the same in JupyterLab (``tests/test_browser.py``)
and under ``nbclient`` (``tests/test_notebooks.py``). The refresher changes
a control only when its choices change (a new event type or channel), so it
seldom touches a widget the user is using. When every view of the panel is
gone (its cell was re-run or cleared) the refresher pauses; showing the panel
again resumes it.
"""

from __future__ import annotations

import html
import itertools
import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from slacklab.export import to_csv
from slacklab.notebook.filters import NONE_LABEL, Filters, label_counts, time_span, to_utc
from slacklab.notebook.plots import assign_colors, figure_png, plot_timeline_counts
from slacklab.notebook.timeline import format_interval, timeline_counts, timeline_table
from slacklab.notebook.refresher import REFRESH_SECONDS, Refresher, Throttle
from slacklab.redact import mask_text
from slacklab.table import counts_by_type

try:
    import ipywidgets as w
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'slacklab.explore needs ipywidgets and a Jupyter kernel: pip install "slacklab[notebook]"'
    ) from exc

__all__ = ["ExplorePanel", "explore"]

log = logging.getLogger("slacklab.notebook.panel")

INTERVAL_CHOICES = ("auto", "100ms", "500ms", "1s", "5s", "10s", "30s", "1min", "5min", "15min", "1h")
_SHOWN_COLUMNS = ("received_at", "source", "event_type", "channel", "user", "retry_attempt", "ack_ms", "text")
_MAX_PICKER_CHOICES = 200
CHART_DPI = 96
ANY = ""
"""The value of a channel, user or source picker that filters nothing."""
_counter = itertools.count(1)


# ------------------------------------------------------------ sources


class _Source:
    """What the panel reads: a Capture (live or loaded) or a fixed DataFrame."""

    def __init__(self, data: Any) -> None:
        self.capture: Any = None
        self.frame: pd.DataFrame | None = None
        if isinstance(data, pd.DataFrame):
            self.frame = data
            self.label = "DataFrame"
        elif callable(getattr(data, "deliveries", None)):
            self.capture = data
            self.label = f"capture {getattr(data, 'label', '')!r}".strip()
        else:
            raise TypeError(
                "explore() takes a Capture (from slacklab.listen, slacklab.load or read_http_log) "
                f"or a deliveries DataFrame, not {type(data).__name__}"
            )

    @property
    def is_capture(self) -> bool:
        return self.capture is not None

    @property
    def finished(self) -> bool:
        """True when no more rows will arrive (a DataFrame, or a capture that stopped, failed or was loaded)."""
        return self.capture is None or getattr(self.capture, "state", "") in ("stopped", "failed", "loaded")

    def snapshot(self) -> pd.DataFrame:
        if self.capture is not None:
            return self.capture.deliveries()
        assert self.frame is not None
        return self.frame

    def version(self) -> tuple[Any, ...]:
        """Changes whenever the snapshot would (cheap: no DataFrame is built)."""
        if self.capture is None:
            return (len(self.frame),)  # type: ignore[arg-type]
        return (len(self.capture), getattr(self.capture, "state", ""))


# ------------------------------------------------------------ codes


_CODED = ("event_type", "event_key", "channel", "user", "source")
_LABELLED = ("event_type", "channel", "user")


class _Codes:
    """Integer codes of the text columns the panel counts and filters, for a frame that only grows.

    Hashing a million strings costs ~50-150 ms per pass, and each redraw needed several
    (the pickers' counts, the chart's types, events per type, the type filter). A capture
    only ever appends rows, so this factorises each row once, when it first shows up, and
    every count or filter over these columns is then a NumPy lookup or ``bincount``.
    Codes are positions in ``uniques[column]`` (the values in order of appearance), ``-1``
    for a missing value. ``retry`` is ``retry_attempt > 0`` per row (missing: no).
    """

    def __init__(self) -> None:
        self.n = 0
        self.frame: pd.DataFrame | None = None
        self.codes: dict[str, np.ndarray] = {}
        self.uniques: dict[str, list[Any]] = {}
        self.index: dict[str, dict[Any, int]] = {}
        self.retry = np.zeros(0, dtype=bool)
        self.ns = np.zeros(0, dtype="int64")
        self._reset()

    def _reset(self) -> None:
        self.n = 0
        self.codes = {c: np.zeros(0, dtype="int64") for c in _CODED}
        self.uniques = {c: [] for c in _CODED}
        self.index = {c: {} for c in _CODED}
        self.retry = np.zeros(0, dtype=bool)
        self.ns = np.zeros(0, dtype="int64")

    def update(self, frame: pd.DataFrame, append_only: bool) -> bool:
        """Bring the codes up to ``frame`` (only its new rows when it grew); False when it cannot be coded."""
        if not frame.columns.is_unique or not {*_CODED, "retry_attempt", "received_at"} <= set(frame.columns):
            self.frame = None
            return False
        if len(frame) < self.n or not (append_only or frame is self.frame):
            self._reset()
        self.frame = frame
        if len(frame) == self.n:
            return True
        try:
            tail = frame.iloc[self.n :]
            received = tail["received_at"]
            if not isinstance(received.dtype, pd.DatetimeTZDtype | np.dtype) or received.dtype.kind != "M":
                raise TypeError("received_at is not a datetime column")
            ns = received.array.as_unit("ns").asi8
            retry = (tail["retry_attempt"].fillna(0) > 0).to_numpy(dtype=bool)
            new = {c: self._factorize(c, tail[c]) for c in _CODED}
            if not all(type(u) is str for c in _LABELLED for u in self.uniques[c]):
                raise TypeError("labels that are not text")  # label_counts would turn them into text
        except Exception:  # an odd DataFrame: the panel takes the plain pandas way
            self._reset()
            self.frame = None
            return False
        for c, codes in new.items():
            self.codes[c] = self._append(self.codes[c], codes)
        self.retry = self._append(self.retry, retry)
        self.ns = self._append(self.ns, ns)
        self.n = len(frame)
        return True

    @staticmethod
    def _append(values: np.ndarray, more: np.ndarray) -> np.ndarray:
        """``values`` + ``more`` as a view of a buffer with spare room (a live capture grows by small tails)."""
        n, k = len(values), len(more)
        base = values.base if values.base is not None else values
        if n + k <= len(base) and base.dtype == more.dtype and values.ctypes.data == base.ctypes.data:
            base[n : n + k] = more  # past the end of the earlier view, which nothing else reads
            return base[: n + k]
        grown = np.empty(max(1024, int((n + k) * 1.5)), dtype=np.result_type(values, more))
        grown[:n] = values
        grown[n : n + k] = more
        return grown[: n + k]

    def _factorize(self, column: str, values: pd.Series) -> np.ndarray:
        local, found = pd.factorize(values)
        found = list(found)
        index, uniques = self.index[column], self.uniques[column]
        if not uniques:
            index.update(zip(found, range(len(found)), strict=True))
            uniques.extend(found)
            return local.astype("int64", copy=False)
        lookup = np.empty(len(found) + 1, dtype="int64")
        lookup[-1] = -1  # local code -1 (missing) stays -1
        for j, value in enumerate(found):
            code = index.get(value)
            if code is None:
                code = index[value] = len(uniques)
                uniques.append(value)
            lookup[j] = code
        return lookup[local]

    def labels(self, column: str) -> tuple[np.ndarray, list[str]]:
        """Each code's position in the labels (code -1, missing, is last: :data:`NONE_LABEL`), and the labels.

        The labels are what :func:`~slacklab.notebook.filters.label_counts` shows: one per text, a literal
        ``"(none)"`` and the missing values sharing one.
        """
        where: dict[str, int] = {}
        positions = [where.setdefault(str(u), len(where)) for u in self.uniques[column]]
        positions.append(where.setdefault(NONE_LABEL, len(where)))  # code -1 indexes the last entry
        labels = list(where)
        return np.array(positions, dtype="int64"), labels

    def label_counts(self, column: str, mask: np.ndarray | None = None, *, limit: int | None = None) -> pd.Series:
        """:func:`slacklab.notebook.filters.label_counts` of the (masked) rows, without hashing their values."""
        codes = self.codes[column] if mask is None else self.codes[column][mask]
        if not len(codes):
            return label_counts(pd.DataFrame(), column)
        positions, labels = self.labels(column)
        counts = np.bincount(positions[codes], minlength=len(labels))
        present = np.flatnonzero(counts)
        out = pd.Series(counts[present], index=[labels[i] for i in present])
        out = out.sort_index().sort_values(ascending=False, kind="stable").astype("int64")
        out.index = pd.Index(out.index, name=column, dtype="object")
        out.name = "count"
        return out if limit is None else out.iloc[:limit]

    def mask(self, filters: Filters, start: int) -> tuple[np.ndarray, Filters]:
        """The mask of rows ``start:`` for the coded filters, and the filters left to apply with pandas."""
        keep = np.ones(self.n - start, dtype=bool)
        if filters.event_types:
            hit = np.zeros(len(self.uniques["event_type"]) + 1, dtype=bool)
            hit[-1] = NONE_LABEL in filters.event_types  # a missing type
            index = self.index["event_type"]
            for name in filters.event_types:
                if name != NONE_LABEL and index.get(name) is not None:
                    hit[index[name]] = True
            keep &= hit[self.codes["event_type"][start:]]
        for name, wanted in (("channel", filters.channel), ("user", filters.user), ("source", filters.source)):
            if wanted is not None:
                code = -1 if wanted == NONE_LABEL else self.index[name].get(wanted, -2)
                keep &= self.codes[name][start:] == code
        rest = filters.replace(event_types=(), channel=None, user=None, source=None)
        return keep, rest

    def counts_by_type(self, mask: np.ndarray | None) -> pd.DataFrame:
        """:func:`slacklab.table.counts_by_type` of the (masked) rows, by codes."""
        types = self.codes["event_type"] if mask is None else self.codes["event_type"][mask]
        if not len(types):
            return counts_by_type(pd.DataFrame(columns=["event_type", "event_key", "retry_attempt"]))
        positions, labels = self.labels("event_type")
        types = positions[types]
        keys = self.codes["event_key"] if mask is None else self.codes["event_key"][mask]
        retry = self.retry if mask is None else self.retry[mask]
        size = len(labels)
        deliveries = np.bincount(types, minlength=size)
        has_key = keys >= 0
        n_keys = max(1, len(self.uniques["event_key"]))
        pairs = pd.unique(types[has_key] * n_keys + keys[has_key])
        events = np.bincount(pairs // n_keys, minlength=size)
        retries = np.bincount(types[retry], minlength=size)
        present = sorted(np.flatnonzero(deliveries), key=lambda i: labels[i])
        out = pd.DataFrame(
            {
                "deliveries": deliveries[present].astype("int64"),
                "events": events[present].astype("int64"),
                "retries": retries[present].astype("int64"),
            },
            index=pd.Index([labels[i] for i in present], name="event_type"),
        )
        return out.sort_values(["deliveries", "events"], ascending=False)


# ------------------------------------------------------------ HTML pieces


def _status_html(cap: Any, label: str) -> str:
    """The status line of a capture: state, size, rate, last ack, connections, the latest note."""
    summary = cap._summary() if hasattr(cap, "_summary") else {}
    state = str(getattr(cap, "state", "?"))
    colour = {"listening": "#2e7d32", "receiving": "#2e7d32", "failed": "#c62828"}.get(state, "#ef6c00")
    if state in ("stopped", "loaded", "idle"):
        colour = "#616161"
    parts = [f"<b style='color:{colour}'>● {html.escape(state)}</b>", html.escape(label)]
    parts.append(f"{len(cap):,} deliveries / {getattr(cap, 'n_events', 0):,} events")
    if getattr(cap, "running", False):
        parts.append(f"{cap.rate():.1f} deliveries/s")
    if summary.get("last_ack_ms") is not None:
        parts.append(f"last ack {summary['last_ack_ms']:.1f} ms")
    if summary.get("connections"):
        parts.append(f"{summary['open']} open / {summary['connections']} connections")
    if summary.get("problems"):
        parts.append(f"{summary['problems']} problems")
    text = " · ".join(parts)
    detail = summary.get("detail") or ""
    notes = summary.get("notes") or []
    if detail:
        text += f"<br><i>{html.escape(mask_text(str(detail)))}</i>"
    if notes:
        text += f"<br><span style='color:#ef6c00'>⚠ {html.escape(mask_text(str(notes[-1])))}</span>"
    return f"<div class='slacklab-status'>{text}</div>"


def _cell(value: Any, width: int = 80) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        text = value.strftime("%H:%M:%S.%f")[:-3]
    elif isinstance(value, float):
        text = f"{value:.1f}"
    else:
        text = " ".join(str(value).split())
    text = mask_text(text)
    if len(text) > width:
        text = text[: width - 1] + "…"
    return html.escape(text)


_TABLE_STYLE = "border-collapse:collapse;font-size:12px"


def _rows_html(df: pd.DataFrame, max_rows: int, total: int | None = None) -> str:
    """The newest ``max_rows`` rows as an HTML table (escaped, masked, long text cut).

    ``df`` may hold only the newest rows of the ``total`` that match (``len(df)`` by default).
    """
    columns = [c for c in _SHOWN_COLUMNS if c in df.columns]
    if df.empty:
        return "<i>no deliveries match</i>"
    tail = df.iloc[-max_rows:][columns].iloc[::-1]
    head = "".join(f"<th style='text-align:left;padding:0 6px'>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:0 6px'>{_cell(v)}</td>" for v in row) + "</tr>"
        for row in tail.itertuples(index=False, name=None)
    )
    matching = len(df) if total is None else total
    caption = f"newest {len(tail)} of {matching:,} matching rows (all of them in <code>panel.df</code>)"
    return (
        f"<div class='slacklab-rows'><small>{caption}</small>"
        f"<table style='{_TABLE_STYLE}'><tr>{head}</tr>{body}</table></div>"
    )


def _counts_html(counts: pd.DataFrame) -> str:
    if counts.empty:
        return "<div class='slacklab-counts'><i>no deliveries</i></div>"
    pad = "padding:0 6px"
    head = "".join(
        f"<th style='{pad};text-align:{a}'>{h}</th>"
        for h, a in (("event type", "left"), ("deliveries", "right"), ("events", "right"), ("retries", "right"))
    )
    body = "".join(
        f"<tr><td style='{pad}'>{_cell(t, 40)}</td><td style='{pad}' align='right'>{r.deliveries:,}</td>"
        f"<td style='{pad}' align='right'>{r.events:,}</td><td style='{pad}' align='right'>{r.retries:,}</td></tr>"
        for t, r in counts.iterrows()
    )
    return f"<div class='slacklab-counts'><table style='{_TABLE_STYLE}'><tr>{head}</tr>{body}</table></div>"


def _nice_step(span: float) -> float:
    """A slider step that gives about 500 positions over ``span`` seconds (at least 1 ms)."""
    if span <= 0:
        return 0.1
    return max(0.001, 10.0 ** math.floor(math.log10(span / 500.0)))


# ------------------------------------------------------------ the panel


class ExplorePanel:
    """Filters, counts, a timeline chart and the newest rows of a capture or DataFrame.

    Build one with :func:`explore`. Read :attr:`df` for the filtered rows,
    :attr:`filters` for the current :class:`~slacklab.notebook.filters.Filters`;
    change them with :meth:`set_filters` or the controls; :meth:`refresh`
    redraws now; :meth:`stop` stops following a live capture (the panel
    stays usable); :meth:`close` ends its thread and removes the widgets.

    Attributes:
        widget: the ipywidgets box shown in the notebook.
        controls: the filter widgets by name (``types``, ``channel``, ``user``,
            ``search``, ``time``, ``source``, ``hide_retries``, ``interval``).
        chart_data: the per-interval counts of the chart last drawn
            (:func:`slacklab.notebook.plots.timeline_counts` of the filtered rows).
        counts: the counts table last drawn (:func:`slacklab.table.counts_by_type`).
        shown: how many deliveries passed the filters at the last redraw.
        redraws: how many times the panel was redrawn.
    """

    def __init__(
        self,
        source: Any,
        *,
        interval: str = "auto",
        max_rows: int = 10,
        refresh_every: float = REFRESH_SECONDS,
        export_path: str = "slacklab-out/filtered.csv",
    ) -> None:
        self._source = _Source(source)
        self._lock = threading.RLock()
        self._quiet_thread: int | None = None
        self._colors: dict[str, str] = {}
        self._mask_key: tuple[int, Filters] | None = None
        self._mask: np.ndarray = np.ones(0, dtype=bool)
        self._codes = _Codes()
        self._t0: pd.Timestamp | None = None
        self._drawn_version: tuple[Any, ...] | None = None
        self._chart_png_key: tuple[Any, ...] | None = None
        self.max_rows = max_rows
        self.refresh_every = refresh_every
        self.redraws = 0
        self.shown = 0
        self.chart_data = timeline_counts(pd.DataFrame(), interval)
        self.counts = counts_by_type(pd.DataFrame(columns=["event_type", "event_key", "retry_attempt"]))
        self.last_error: str | None = None
        self._following = not self._source.finished
        self._figure = Figure(figsize=(8.6, 3.0), layout="constrained")
        self._build(interval, export_path)
        self.refresh()
        self._refresher: Refresher | None = Refresher(
            self._tick,
            poll=refresh_every if self._following else None,
            throttle=Throttle(min_interval=refresh_every),
            name=f"slacklab-explore-{next(_counter)}",
        )

    # ------------------------------------------------------------ widgets

    def _build(self, interval: str, export_path: str) -> None:
        label = {"description_width": "80px"}
        picker = w.Layout(width="270px")
        c: dict[str, w.Widget] = {
            "types": w.SelectMultiple(
                options=[], rows=8, description="event type", style=label, layout=w.Layout(width="330px")
            ),
            "channel": w.Dropdown(options=[("any", ANY)], value=ANY, description="channel", style=label, layout=picker),
            "user": w.Dropdown(options=[("any", ANY)], value=ANY, description="user", style=label, layout=picker),
            "source": w.Dropdown(
                options=[("both", ANY), ("socket", "socket"), ("http", "http")],
                value=ANY,
                description="source",
                style=label,
                layout=picker,
            ),
            "search": w.Text(
                placeholder="text or payload contains…",
                description="search",
                style=label,
                continuous_update=True,
                layout=picker,
            ),
            "hide_retries": w.Checkbox(
                value=False, description="hide retries", indent=False, layout=w.Layout(width="110px")
            ),
            "interval": w.Dropdown(
                options=INTERVAL_CHOICES if interval in INTERVAL_CHOICES else (interval, *INTERVAL_CHOICES),
                value=interval,
                description="interval",
                style={"description_width": "50px"},
                layout=w.Layout(width="160px"),
            ),
            "time": w.FloatRangeSlider(
                value=(0.0, 1.0),
                min=0.0,
                max=1.0,
                step=0.1,
                description="seconds",
                continuous_update=False,
                readout_format=".1f",
                style=label,
                layout=w.Layout(width="480px"),
            ),
        }
        self.controls = c
        for name in ("types", "channel", "user", "source", "hide_retries", "interval", "time"):
            c[name].observe(self._on_control, names="value")
        c["search"].observe(self._on_control, names="value")
        for widget in c.values():
            widget.add_class(f"slacklab-{widget.description.replace(' ', '-')}")
        self._status = w.HTML().add_class("slacklab-status-line")
        self._time_label = w.HTML()
        self._count = w.HTML().add_class("slacklab-count")
        width, height = self._figure.get_size_inches() * CHART_DPI
        self._chart = w.Image(format="png", layout=w.Layout(width="100%", max_width=f"{width:.0f}px"))
        self._chart.add_class("slacklab-chart")
        self._counts_html = w.HTML()
        self._rows = w.HTML()
        self._export_path = w.Text(
            value=export_path, description="CSV file", style=label, layout=w.Layout(width="380px")
        )
        self._export_button = w.Button(
            description="Export CSV", icon="download", tooltip="write the filtered rows as safe CSV"
        )
        self._export_button.add_class("slacklab-export")
        self._export_message = w.HTML()
        self._export_button.on_click(lambda _button: self._on_export())
        wrap = {"flex_flow": "row wrap", "align_items": "flex-start"}
        pickers = w.VBox(
            [c["channel"], c["user"], c["source"], c["search"], w.HBox([c["hide_retries"], c["interval"]])]
        )
        counts = w.Box(
            [self._counts_html], layout=w.Layout(max_height=f"{height:.0f}px", overflow="auto", margin="0 0 0 12px")
        )
        self.widget = w.VBox(
            [
                self._status,
                w.HBox([c["types"], pickers, counts], layout=w.Layout(**wrap)),
                w.HBox([c["time"], self._time_label], layout=w.Layout(**wrap)),
                self._count,
                self._chart,
                self._rows,
                w.HBox([self._export_path, self._export_button, self._export_message], layout=w.Layout(**wrap)),
            ],
            layout=w.Layout(border="1px solid #ddd", padding="6px"),
        ).add_class("slacklab-explore")
        if not self._source.is_capture:
            self._status.layout.display = "none"
        # Pause refreshing when every view of the panel is gone (the frontend counts them).
        self.widget._view_count = 0
        self.widget.observe(self._on_views, names="_view_count")

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Programmatic control changes made inside do not count as the user's."""
        previous, self._quiet_thread = self._quiet_thread, threading.get_ident()
        try:
            yield
        finally:
            self._quiet_thread = previous

    def _on_control(self, _change: dict[str, Any]) -> None:
        if self._quiet_thread == threading.get_ident():
            return
        if self._refresher is not None:
            self._refresher.request()

    def _on_views(self, change: dict[str, Any]) -> None:
        if self._refresher is None:
            return
        if (change["new"] or 0) > 0:
            self._refresher.resume()
        elif (change["old"] or 0) > 0:
            self._refresher.pause()

    def _on_export(self) -> None:
        try:
            path = self.export_csv(self._export_path.value or None)
        except Exception as exc:  # shown to the user, never raised into the comm handler
            self._export_message.value = f"<span style='color:#c62828'>{html.escape(mask_text(str(exc)))}</span>"
        else:
            self._export_message.value = f"wrote {len(self.df):,} rows to <code>{html.escape(str(path))}</code>"

    # ------------------------------------------------------------ model

    @property
    def filters(self) -> Filters:
        """The :class:`~slacklab.notebook.filters.Filters` the controls describe right now."""
        c = self.controls
        start = end = None
        slider = c["time"]
        if self._t0 is not None and not slider.disabled:
            low, high = slider.value
            tolerance = slider.step / 2
            if low > slider.min + tolerance:
                start = self._t0 + pd.Timedelta(seconds=low)
            if high < slider.max - tolerance:
                end = self._t0 + pd.Timedelta(seconds=high)
        return Filters(
            event_types=tuple(c["types"].value),
            channel=c["channel"].value or None,
            user=c["user"].value or None,
            text=c["search"].value,
            start=start,
            end=end,
            source=c["source"].value or None,
            hide_retries=c["hide_retries"].value,
        )

    def set_filters(self, **changes: Any) -> ExplorePanel:
        """Set controls from code: ``event_types``, ``channel``, ``user``, ``text``, ``source``,
        ``hide_retries``, ``interval``, ``start``/``end`` (times), then redraw soon. Returns the panel.
        """
        c = self.controls
        names = {
            "event_types": "types",
            "text": "search",
            "channel": "channel",
            "user": "user",
            "source": "source",
            "hide_retries": "hide_retries",
            "interval": "interval",
        }
        unknown = set(changes) - set(names) - {"start", "end"}
        if unknown:
            raise TypeError(f"unknown filter(s) {sorted(unknown)}; use {sorted([*names, 'start', 'end'])}")
        with self._lock:
            for key, value in changes.items():
                if key in names:
                    widget = c[names[key]]
                    if key == "event_types":
                        value = (value,) if isinstance(value, str) else tuple(value)
                        self._ensure_options(widget, value)
                    elif key in ("channel", "user", "source"):
                        value = ANY if value is None else value
                        self._ensure_options(widget, (value,))
                    elif key == "interval" and value not in widget.options:
                        widget.options = (*widget.options, value)
                    widget.value = value
            if "start" in changes or "end" in changes:
                self._set_time(changes.get("start"), changes.get("end"))
        if self._refresher is not None:
            self._refresher.request()
        return self

    @staticmethod
    def _ensure_options(widget: w.Widget, values: tuple[Any, ...]) -> None:
        known = [v for _label, v in widget.options]
        missing = [v for v in values if v not in known]
        if missing:
            widget.options = [*widget.options, *((str(v), v) for v in missing)]

    def _set_time(self, start: Any, end: Any) -> None:
        slider = self.controls["time"]
        if self._t0 is None:
            return
        low = slider.min if start is None else (to_utc(start) - self._t0).total_seconds()  # type: ignore[operator]
        high = slider.max if end is None else (to_utc(end) - self._t0).total_seconds()  # type: ignore[operator]
        slider.value = (max(slider.min, min(low, slider.max)), max(slider.min, min(high, slider.max)))

    def _filtered_mask(self, frame: pd.DataFrame, filters: Filters) -> np.ndarray:
        """The filter mask for ``frame``; a growing capture only filters its new rows."""
        key = self._mask_key
        if key is not None and key[1] == filters and len(self._mask) == key[0] <= len(frame):
            if key[0] == len(frame):
                return self._mask
            if self._source.is_capture:  # captures only ever append rows
                tail = self._mask_rows(frame, filters, key[0])
                mask = np.concatenate([self._mask, tail])
                self._mask_key, self._mask = (len(frame), filters), mask
                return mask
        mask = self._mask_rows(frame, filters, 0)
        self._mask_key, self._mask = (len(frame), filters), mask
        return mask

    def _mask_rows(self, frame: pd.DataFrame, filters: Filters, start: int) -> np.ndarray:
        """``filters.mask(frame.iloc[start:])``, with the text-column filters done on codes when it can."""
        if not self._codes.update(frame, self._source.is_capture):
            return filters.mask(frame.iloc[start:])
        keep, rest = self._codes.mask(filters, start)
        if rest.active:
            keep &= rest.mask(frame.iloc[start:])
        return keep

    @property
    def df(self) -> pd.DataFrame:
        """The rows of the latest snapshot that pass the current filters (every row, not only those shown)."""
        with self._lock:
            frame = self._source.snapshot()
            filters = self.filters
            if not filters.active:
                return frame
            return frame[self._filtered_mask(frame, filters)]

    def export_csv(self, path: str | Path | None = None, *, overwrite: bool = True) -> Path:
        """Write :attr:`df` as safe CSV (secrets masked, formulas neutralised; see :func:`slacklab.export.to_csv`)."""
        return to_csv(self.df, path or self._export_path.value, overwrite=overwrite)

    # ------------------------------------------------------------ drawing

    def refresh(self) -> None:
        """Redraw now, in the calling thread (the refresher does this by itself; scripts and tests call it)."""
        with self._lock:
            try:
                self._redraw()
                self.last_error = None
            except Exception as exc:
                self.last_error = mask_text(f"{type(exc).__name__}: {exc}")
                log.exception("slacklab panel redraw failed")
                self._status.layout.display = None
                self._status.value = f"<span style='color:#c62828'>redraw failed: {html.escape(self.last_error)}</span>"

    def _tick(self, requested: bool) -> None:
        """One refresher tick: redraw when asked or when the source changed; else just the status line."""
        with self._lock:
            if requested or (self._following and self._source.version() != self._drawn_version):
                self.refresh()
            elif self._following and self.last_error is None:
                self._set(self._status, "value", _status_html(self._source.capture, self._source.label))
            if self._following and self._source.finished and self._source.version() == self._drawn_version:
                self._stop_following()  # nothing more will arrive

    @staticmethod
    def _set(widget: w.Widget, name: str, value: Any) -> None:
        """Set a widget trait only when it changes (every change is a message to the browser)."""
        if getattr(widget, name) != value:
            setattr(widget, name, value)

    def _redraw(self) -> None:
        version = self._source.version()
        frame = self._source.snapshot()
        coded = self._codes.update(frame, self._source.is_capture)
        if version != self._drawn_version:  # the choices only change with the data
            with self._quiet():
                self._update_choices(frame, coded)
        filters = self.filters
        interval = self.controls["interval"].value
        mask = self._filtered_mask(frame, filters) if filters.active else None
        if coded:  # counts from the codes; only the newest rows are taken out of the frame
            self.chart_data = self._timeline(mask, interval)
            self.counts = self._codes.counts_by_type(mask)
            n_shown = len(frame) if mask is None else int(np.count_nonzero(mask))
            newest = frame if mask is None else frame.iloc[np.flatnonzero(mask)[-self.max_rows :]]
        else:
            shown = frame if mask is None else frame[mask]
            self.chart_data = timeline_counts(shown, interval)
            self.counts = counts_by_type(shown)
            n_shown, newest = len(shown), shown
        self._draw_chart(self.chart_data)
        events = int(self.counts["events"].sum()) if not self.counts.empty else 0
        retries = int(self.counts["retries"].sum()) if not self.counts.empty else 0
        self._set(
            self._count,
            "value",
            (
                f"<div>showing <b class='slacklab-shown'>{n_shown:,}</b> of "
                f"{len(frame):,} deliveries · {events:,} events · {retries:,} retries"
                f" · <i>{html.escape(mask_text(filters.describe()))}</i></div>"
            ),
        )
        self._set(self._counts_html, "value", _counts_html(self.counts))
        self._set(self._rows, "value", _rows_html(newest, self.max_rows, n_shown))
        self._set(self._time_label, "value", self._time_text())
        self.shown = n_shown
        if self._source.is_capture:
            self._set(self._status, "value", _status_html(self._source.capture, self._source.label))
        self._drawn_version = version
        self.redraws += 1

    def _timeline(self, mask: np.ndarray | None, interval: str) -> pd.DataFrame:
        """:func:`slacklab.notebook.plots.timeline_counts` of the masked rows, from the codes."""
        codes = self._codes
        ns = codes.ns if mask is None else codes.ns[mask]
        timed = ns != np.iinfo("int64").min  # NaT

        def types() -> tuple[pd.Series, np.ndarray, list[str]]:
            positions, labels = codes.labels("event_type")
            type_codes = codes.codes["event_type"] if mask is None else codes.codes["event_type"][mask]
            return codes.label_counts("event_type", mask), positions[type_codes[timed]], labels

        return timeline_table(ns[timed], types, interval)

    def _draw_chart(self, counts: pd.DataFrame) -> None:
        self._colors = assign_colors(counts.columns, self._colors)
        key = (
            tuple(counts.columns),
            counts.index.asi8.tobytes() if len(counts) else b"",
            counts.to_numpy().tobytes(),
            counts.attrs.get("interval"),
        )
        if key == self._chart_png_key:
            return  # nothing new to draw: spare the browser a PNG
        self._figure.clear()
        ax = self._figure.add_subplot()
        plot_timeline_counts(counts, ax=ax, colors=self._colors)
        self._chart.value = figure_png(self._figure, dpi=CHART_DPI)
        self._chart_png_key = key

    def _update_choices(self, frame: pd.DataFrame, coded: bool = False) -> None:
        c = self.controls
        counter = self._codes.label_counts if coded else (lambda column, **kw: label_counts(frame, column, **kw))
        types = counter("event_type")
        options = [(f"{t} ({n:,})", t) for t, n in types.items()]
        selected = tuple(c["types"].value)
        options += [(f"{t} (0)", t) for t in selected if t not in types.index]
        if [tuple(o) for o in c["types"].options] != options:
            with c["types"].hold_sync():
                c["types"].options = options
                c["types"].value = selected
        for name, what in (("channel", "channel"), ("user", "user")):
            widget = c[name]
            values = sorted(counter(what, limit=_MAX_PICKER_CHOICES).index)
            current = widget.value
            if current and current not in values:
                values.append(current)
            wanted = [("any", ANY), *((v, v) for v in values)]
            if list(widget.options) != wanted:
                with widget.hold_sync():
                    widget.options = wanted
                    widget.value = current
        self._update_time(frame)

    def _update_time(self, frame: pd.DataFrame) -> None:
        slider = self.controls["time"]
        span = time_span(frame)
        if span is None:
            self._t0 = None
            slider.disabled = True
            return
        first, last = span
        old_t0 = self._t0
        self._t0 = first
        length = max((last - first).total_seconds(), 0.001)
        if slider.disabled or old_t0 != first:
            with slider.hold_sync():
                slider.disabled = False
                slider.max = max(length, slider.min)
                slider.value = (0.0, length)
        elif not math.isclose(slider.max, length):
            low, high = slider.value
            following = high >= slider.max - slider.step / 2
            with slider.hold_sync():
                slider.max = length
                slider.value = (min(low, length), length if following else min(high, length))
        step = _nice_step(length)
        if slider.step != step:
            slider.step = step
            slider.readout_format = f".{max(0, -math.floor(math.log10(step)))}f"

    def _time_text(self) -> str:
        if self._t0 is None:
            return ""
        low, high = self.controls["time"].value
        a = self._t0 + pd.Timedelta(seconds=low)
        b = self._t0 + pd.Timedelta(seconds=high)
        return (
            f"<small>{a:%Y-%m-%d %H:%M:%S} – {b:%H:%M:%S} UTC · "
            f"chart: per {format_interval(self.chart_data.attrs['interval'])}</small>"
        )

    # ------------------------------------------------------------ lifecycle

    @property
    def live(self) -> bool:
        """True while the panel follows a capture by itself (until :meth:`stop`, or the capture ends)."""
        return self._following and self._refresher is not None

    def _stop_following(self) -> None:
        self._following = False
        if self._refresher is not None:
            self._refresher.poll = None

    def stop(self) -> None:
        """Stop following the capture, after one last redraw. Safe to call twice.

        The panel stays on screen and usable: changing a filter still redraws
        it (from the then latest snapshot). :meth:`close` ends its thread too.
        """
        with self._lock:
            self._stop_following()
            self.refresh()

    def close(self) -> None:
        """Stop the panel's refresher thread and remove its widgets from the notebook."""
        refresher, self._refresher = self._refresher, None
        self._following = False
        if refresher is not None:
            refresher.close()
        _close_all(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        filters = self.filters
        following = ""
        if self._source.is_capture:
            following = f" ({self._source.capture.state}, " + (
                f"followed every {self.refresh_every:g} s)" if self.live else "not followed)"
            )
        return (
            f"<ExplorePanel {self._source.label}{following}: showing {self.shown:,} deliveries"
            f" ({mask_text(filters.describe())}); panel.df has the rows>"
        )


def _close_all(widget: w.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_all(child)
    widget.close()


def explore(
    source: Any,
    *,
    interval: str = "auto",
    max_rows: int = 10,
    refresh_every: float = REFRESH_SECONDS,
) -> ExplorePanel:
    """Explore deliveries with filters, counts and a chart: a live or loaded Capture, or any deliveries DataFrame.

    Show the returned panel by making it the last expression of a cell. For
    a live capture it refreshes by itself while events arrive (at most every
    ``refresh_every`` seconds). Then read ``panel.df`` in the next cell, or
    press *Export CSV*; call ``panel.stop()`` when done.

    Args:
        source: ``slacklab.listen(...)``, ``slacklab.load(path)``, an HTTP log capture, or a DataFrame.
        interval: the chart's bar width: ``"auto"``, ``"1s"``, ``"10s"``, ``"1min"``…
        max_rows: how many of the newest matching rows the table shows.
        refresh_every: shortest time between two redraws, in seconds.
    """
    return ExplorePanel(source, interval=interval, max_rows=max_rows, refresh_every=refresh_every)
