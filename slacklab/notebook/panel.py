"""The explore panel: filter, count and chart deliveries in a notebook, live or after the fact.

::

    panel = slacklab.explore(cap)   # a live Capture, a loaded one, or any deliveries DataFrame
    panel                           # show it (the last expression of a cell)
    panel.df                        # the rows that pass the filters (compact columns), for the next cell
    panel.full_df                   # the same rows with every column
    panel.set_filters(event_types=["message"], hide_retries=True)
    panel.export_csv("slacklab-out/messages.csv")
    panel.stop()                    # stop following the capture (panel.close(): end its thread, remove it)

The panel is a view of :class:`slacklab.notebook.filters.Filters` (the model): its
controls (:mod:`slacklab.notebook.controls`) only say which filters are set, and
everything it shows is computed from a snapshot of the source by the same
functions a DataFrame goes through (:mod:`slacklab.notebook.filters`,
:mod:`slacklab.notebook.timeline`, :mod:`slacklab.table`), fed with integer codes
for a growing capture (:mod:`slacklab.notebook.codes`), and rendered as text by
:mod:`slacklab.notebook.views`.

How a live capture refreshes, and why a thread
----------------------------------------------
The listener thread only appends to the :class:`~slacklab.capture.Capture`;
it never calls into the panel. Each panel owns one daemon thread, the
*refresher* (:mod:`slacklab.notebook.refresher`), that pulls: about twice a
second it asks the capture whether anything changed (an O(1) check), and if so
takes a snapshot, filters it, renders the chart to PNG with a private matplotlib
``Figure`` (no pyplot) and sets widget values. Control changes made by the user
only wake the refresher, so the kernel answers at once and many quick changes
become one redraw. Redraws are throttled: at most one per ``refresh_every``
seconds, and never more than half of the time.

A timer on the kernel's event loop was the other option; it runs only while the
kernel is idle (``cap.wait_for(500)`` would freeze the panel). Widget updates are
comm messages ipykernel sends safely from any thread; the thread never prints or
uses an ``Output`` widget (both land in whatever cell is running). Since ipykernel 7
the user's widget changes can be applied while a cell runs, so the refresher's and
the browser's writes to the controls are serialised by one lock, batched, and
never undo a control the user just changed (see :mod:`slacklab.notebook.controls`).

Re-running the cell that made a panel closes the old panel (thread and widgets,
:mod:`slacklab.notebook.sources`); a panel with no view left pauses until shown again.
"""

from __future__ import annotations

import html
import itertools
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from slacklab.export import to_csv
from slacklab.notebook.codes import Codes
from slacklab.notebook.filters import Filters, label_counts
from slacklab.notebook.plots import assign_colors, figure_png, plot_timeline_counts
from slacklab.notebook.refresher import REFRESH_SECONDS, Refresher, Throttle
from slacklab.notebook.sources import Source, adopt, current_cell
from slacklab.notebook.timeline import timeline_counts
from slacklab.notebook.views import compact_frame, counts_html, rows_html, status_html
from slacklab.redact import mask_text
from slacklab.table import counts_by_type

try:
    import ipywidgets as w

    from slacklab.notebook.controls import ANY, INTERVAL_CHOICES, Controls
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'slacklab.explore needs ipywidgets and a Jupyter kernel: pip install "slacklab[notebook]"'
    ) from exc

__all__ = ["ANY", "INTERVAL_CHOICES", "ExplorePanel", "explore"]

log = logging.getLogger("slacklab.notebook.panel")

CHART_SIZE = (6.0, 3.0)  # inches; the counts table sits beside the chart when the page is wide enough
CHART_DPI = 96
COUNTS_WIDTH = 320  # px
_counter = itertools.count(1)


class ExplorePanel:
    """Filters, counts, a timeline chart and the newest rows of a capture or DataFrame.

    Build one with :func:`explore`. Read :attr:`df` (compact) or :attr:`full_df`,
    :attr:`filters`; change them with :meth:`set_filters` or the controls; :meth:`refresh`
    redraws now; :meth:`stop` stops following a live capture; :meth:`close` ends it.

    Attributes:
        widget: the ipywidgets box shown in the notebook.
        controls: the filter widgets by name (``types``, ``channel``, ``user``,
            ``search``, ``time``, ``source``, ``hide_retries``, ``interval``).
        chart_data: the per-interval counts of the chart last drawn
            (:func:`slacklab.notebook.timeline.timeline_counts` of the filtered rows).
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
        self._source = Source(source)
        self._lock = threading.RLock()  # one redraw at a time; the controls have their own lock
        self._colors: dict[str, str] = {}
        self._mask_key: tuple[int, Filters] | None = None
        self._mask: np.ndarray = np.ones(0, dtype=bool)
        self._codes = Codes()
        self._drawn_version: tuple[Any, ...] | None = None
        self._choices_pending = True
        self._chart_png_key: tuple[Any, ...] | None = None
        self._refresher: Refresher | None = None
        self.max_rows = max_rows
        self.refresh_every = refresh_every
        self.redraws = 0
        self.shown = 0
        self.chart_data = timeline_counts(pd.DataFrame(), interval)
        self.counts = counts_by_type(pd.DataFrame(columns=["event_type", "event_key", "retry_attempt"]))
        self.last_error: str | None = None
        self._following = not self._source.finished
        self._figure = Figure(figsize=CHART_SIZE, layout="constrained")
        self._controls = Controls(interval, on_change=self._request)
        self.controls = self._controls.widgets
        self._build(export_path)
        self.refresh()
        self._refresher = Refresher(
            self._tick,
            poll=refresh_every if self._following else None,
            throttle=Throttle(min_interval=refresh_every),
            name=f"slacklab-explore-{next(_counter)}",
        )

    # ------------------------------------------------------------ widgets

    def _build(self, export_path: str) -> None:
        c = self.controls
        self._status = w.HTML().add_class("slacklab-status-line")
        self._time_label = w.HTML()
        self._count = w.HTML().add_class("slacklab-count")
        width, height = (x * CHART_DPI for x in CHART_SIZE)
        self._chart = w.Image(format="png", layout=w.Layout(width=f"{width:.0f}px", max_width="100%"))
        self._chart.add_class("slacklab-chart")
        self._counts_html = w.HTML()
        self._rows = w.HTML()
        self._export_path = w.Text(
            value=export_path,
            description="CSV file",
            style={"description_width": "80px"},
            layout=w.Layout(width="380px"),
        )
        self._export_button = w.Button(
            description="Export CSV", icon="download", tooltip="write the filtered rows as safe CSV"
        )
        self._export_button.add_class("slacklab-export")
        self._export_message = w.HTML()
        self._export_button.on_click(lambda _button: self._on_export())
        wrap = {"flex_flow": "row wrap", "align_items": "flex-start"}
        pickers = w.VBox(
            [c["channel"], c["user"], c["team"], c["source"], c["search"], w.HBox([c["hide_retries"], c["interval"]])]
        )
        # A fixed width: where the table sits depends on the page's width only, never on its rows.
        counts = w.Box(
            [self._counts_html],
            layout=w.Layout(
                width=f"{COUNTS_WIDTH}px", max_height=f"{height:.0f}px", overflow="auto", margin="0 0 0 8px"
            ),
        ).add_class("slacklab-counts-box")
        self.widget = w.VBox(
            [
                self._status,
                w.HBox([c["types"], pickers], layout=w.Layout(**wrap)),
                w.HBox([c["time"], self._time_label], layout=w.Layout(**wrap)),
                self._count,
                w.HBox([self._chart, counts], layout=w.Layout(**wrap)),
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

    def _request(self) -> None:
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
            self._export_message.value = f"wrote {self.shown:,} rows to <code>{html.escape(str(path))}</code>"

    # ------------------------------------------------------------ model

    @property
    def filters(self) -> Filters:
        """The :class:`~slacklab.notebook.filters.Filters` the controls describe right now."""
        return self._controls.filters

    def set_filters(self, **changes: Any) -> ExplorePanel:
        """Set controls from code: ``event_types``, ``channel``, ``user``, ``text``, ``source``,
        ``hide_retries``, ``interval``, ``start``/``end`` (times), then redraw soon. Returns the panel.
        """
        self._controls.set(**changes)
        self._request()
        return self

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
        narrowed = key is not None and len(self._mask) == key[0] == len(frame) and key[1].narrows(filters)
        mask = filters.search(frame, self._mask) if narrowed else self._mask_rows(frame, filters, 0)  # typing on
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
    def full_df(self) -> pd.DataFrame:
        """The rows of the latest snapshot that pass the current filters, with every column."""
        with self._lock:
            frame = self._source.snapshot()
            filters = self.filters
            if not filters.active:
                return frame
            return frame[self._filtered_mask(frame, filters)]

    @property
    def df(self) -> pd.DataFrame:
        """:attr:`full_df`, compact for reading: useful columns, times in ms (:func:`~.views.compact_frame`)."""
        return compact_frame(self.full_df)

    def export_csv(self, path: str | Path | None = None, *, overwrite: bool = True) -> Path:
        """Write :attr:`full_df` as safe CSV (secrets masked, formulas neutralised; see :func:`slacklab.export.to_csv`)."""
        return to_csv(self.full_df, path or self._export_path.value, overwrite=overwrite)

    # ------------------------------------------------------------ drawing

    def refresh(self) -> None:
        """Redraw now, in the calling thread (the refresher does this by itself; scripts and tests call it)."""
        with self._lock:
            try:
                self._redraw()
                self.last_error = None
                if self._choices_pending:  # the user was busy with a control: new choices come on a later tick
                    self._request()
            except Exception as exc:
                self.last_error = mask_text(f"{type(exc).__name__}: {exc}")
                log.exception("slacklab panel redraw failed")
                self._status.layout.display = None
                self._status.value = f"<span style='color:#c62828'>redraw failed: {html.escape(self.last_error)}</span>"

    def _tick(self, requested: bool) -> None:
        """One refresher tick: redraw when asked or when the source changed; else just the status line."""
        with self._lock:
            changed = self._source.version() != self._drawn_version or self._choices_pending
            if requested or (self._following and changed):
                self.refresh()
            elif self._following and self.last_error is None:
                self._set(self._status, "value", status_html(self._source.capture, self._source.label))
            finished = self._source.finished and not self._choices_pending
            if self._following and finished and self._source.version() == self._drawn_version:
                self._stop_following()  # nothing more will arrive

    @staticmethod
    def _set(widget: w.Widget, name: str, value: Any) -> None:  # only on change: each is a message
        if getattr(widget, name) != value:
            setattr(widget, name, value)

    def _redraw(self) -> None:
        version = self._source.version()
        frame = self._source.snapshot()
        coded = self._codes.update(frame, self._source.is_capture)
        if version != self._drawn_version or self._choices_pending:  # the choices only change with the data
            counter = self._codes.label_counts if coded else (lambda column, **kw: label_counts(frame, column, **kw))
            self._choices_pending = not self._controls.update_choices(frame, counter)
        filters = self.filters
        interval = self._controls.interval
        mask = self._filtered_mask(frame, filters) if filters.active else None
        if coded:  # counts from the codes; only the newest rows are taken out of the frame
            self.chart_data = self._codes.timeline(mask, interval)
            self.counts = self._codes.counts_by_type(mask)
            n_shown = len(frame) if mask is None else int(np.count_nonzero(mask))
            newest = frame
            if mask is not None:  # a slice, then a boolean filter: cheap on Arrow-backed text columns,
                picked = np.flatnonzero(mask)[-self.max_rows :]  # where a take of positions across
                start = int(picked[0]) if len(picked) else len(frame)  # many chunks costs ~50 ms a column
                newest = frame.iloc[start:][mask[start:]]
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
        self._set(self._counts_html, "value", counts_html(self.counts))
        self._set(self._rows, "value", rows_html(newest, self.max_rows, n_shown))
        self._set(self._time_label, "value", self._controls.time_text(self.chart_data.attrs["interval"]))
        self.shown = n_shown
        if self._source.is_capture:
            self._set(self._status, "value", status_html(self._source.capture, self._source.label))
        self._drawn_version = version
        self.redraws += 1

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
        """Stop the panel's refresher thread and remove its widgets from the notebook. Safe to call twice."""
        refresher, self._refresher = self._refresher, None
        self._following = False
        if refresher is not None:
            refresher.close()
        _close_all(self.widget)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: Any = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle if isinstance(bundle, dict) else None

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
    press *Export CSV*; call ``panel.stop()`` when done. Re-running the cell
    closes the panel the earlier run made. A :class:`~slacklab.comparison.lineup.Comparison` gets its own widget.

    Args:
        source: ``slacklab.listen(...)``, ``slacklab.load(path)``, an HTTP log capture, or a DataFrame.
        interval: the chart's bar width: ``"auto"``, ``"1s"``, ``"10s"``, ``"1min"``…
        max_rows: how many of the newest matching rows the table shows.
        refresh_every: shortest time between two redraws, in seconds.
    """
    from slacklab.comparison.lineup import Comparison
    from slacklab.notebook.compare_panel import compare_panel

    if isinstance(source, Comparison):  # the comparison widget instead
        return compare_panel(source, refresh_every=refresh_every)  # type: ignore[return-value]
    cell = current_cell()
    panel = ExplorePanel(source, interval=interval, max_rows=max_rows, refresh_every=refresh_every)
    adopt(panel, cell)
    return panel
