"""The comparison widget: ``slacklab.explore(cmp)`` for a :class:`~slacklab.comparison.lineup.Comparison`.

:class:`ComparePanel` shows one comparison the way :func:`slacklab.explore` shows a
capture: filters that apply to **both sides at once** (event type, channel, text,
retries hidden), the line-up (matched events and those only one side saw; pick a
row to see both payloads and the fields where they differ), the headline numbers,
and the latency CDF and retry timeline, redrawn as the filters change, in the one
colour per side every comparison chart uses. While either side is a live capture
it follows it, recomparing about twice a second (the same throttled refresher
thread as the explore panel; widget values are set from that thread, never an
``Output``).

Everything the widgets show is plain state, so tests drive it without a browser::

    panel = explore(cmp)
    panel.set_filters(event_types=("message",))
    panel.set_status("only_http")
    panel.refresh()
    panel.comparison, panel.lineup, panel.select(0), panel.detail
"""

from __future__ import annotations

import html
import io
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from slacklab.comparison.lineup import Comparison
from slacklab.comparison.report import fmt_seconds, for_people, plot_latency_cdf, plot_retry_timeline
from slacklab.notebook.filters import Filters, label_counts
from slacklab.notebook.refresher import REFRESH_SECONDS, Refresher, Throttle
from slacklab.redact import mask_text

__all__ = ["ComparePanel", "PanelDetail", "compare_panel"]

_ANY = "__any__"
_LIVE_STATES = frozenset({"connecting", "listening", "reconnecting", "receiving"})
_counter = itertools.count(1)


@dataclass(frozen=True)
class PanelDetail:
    """The selected line-up row: its summary, both payloads (masked JSON) and their differences."""

    row: pd.Series
    payload_a: Any
    payload_b: Any
    differences: pd.DataFrame


class ComparePanel:
    """Filters, line-up, numbers and charts for a comparison (see the module docstring).

    Attributes:
        base: the comparison as given (refreshed while live).
        comparison: the comparison of the filtered deliveries (what the widgets show).
        lineup: the line-up rows shown (after the status choice).
        detail: the selected row's :class:`PanelDetail`, or ``None``.
        widget: the ipywidgets box.
        controls: the filter widgets by name (``types``, ``channel``, ``search``, ``hide_retries``, ``status``).
        redraws: how many times it was redrawn.
    """

    def __init__(self, cmp: Comparison, *, refresh_every: float = REFRESH_SECONDS, max_rows: int = 200) -> None:
        self.base = cmp
        self.comparison = cmp
        self.filters = Filters()
        self.status = "all"
        self.max_rows = max_rows
        self.lineup = cmp.events
        self.detail: PanelDetail | None = None
        self.redraws = 0
        self._lock = threading.RLock()
        self._quiet = False
        self._build()
        self.refresh()
        self._refresher: Refresher | None = Refresher(
            self._tick,
            poll=refresh_every if self.live else None,
            throttle=Throttle(min_interval=refresh_every),
            name=f"slacklab-compare-{next(_counter)}",
        )

    # ---------------------------------------------------------------- state

    @property
    def live(self) -> bool:
        """True while a side is a capture still receiving."""
        return any(getattr(s, "state", None) in _LIVE_STATES for s in self.base.sources)

    def set_filters(self, **changes: Any) -> None:
        """Change filters (fields of :class:`~slacklab.notebook.filters.Filters`) for both sides; redraws soon."""
        with self._lock:
            self.filters = self.filters.replace(**changes)
        self._request()

    def set_status(self, status: str) -> None:
        """Which line-up rows to list: ``all``, ``matched``, ``only_<label>``, or ``retried`` (more than one delivery)."""
        la, lb = self.base.labels
        allowed = ("all", "matched", f"only_{la}", f"only_{lb}", "retried")
        if status not in allowed:
            raise ValueError(f"status must be one of {allowed}, not {status!r}")
        with self._lock:
            self.status = status
        self._request()

    def select(self, row: int | None) -> PanelDetail | None:
        """Show line-up row ``row`` (a position in :attr:`lineup`): both payloads and their differences."""
        with self._lock:
            if row is None or not 0 <= row < len(self.lineup):
                self.detail = None
            else:
                index = int(self.lineup.index[row])
                a, b = self.comparison.payloads(index)
                self.detail = PanelDetail(self.lineup.iloc[row], a, b, self.comparison.diff(index))
            self._draw_detail()
            return self.detail

    def refresh(self) -> None:
        """Recompute the filtered comparison and redraw every part now (from the calling thread)."""
        with self._lock:
            self.comparison = self.base.filtered(self.filters.apply) if self.filters.active else self.base
            self.lineup = self._rows(self.comparison.events)
            self.detail = None
            self._draw()
            self.redraws += 1

    def _rows(self, events: pd.DataFrame) -> pd.DataFrame:
        if self.status == "all":
            return events
        if self.status == "retried":
            la, lb = self.base.labels
            return events[(events[f"{la}_deliveries"] > 1) | (events[f"{lb}_deliveries"] > 1)]
        return events[events["status"] == self.status]

    def _tick(self, requested: bool) -> None:
        with self._lock:
            if not requested:  # a poll: take in what arrived meanwhile
                self.base = self.base.refreshed()
                if not self.live and self._refresher is not None:
                    self._refresher.poll = None
            self.refresh()

    def _request(self) -> None:
        if self._refresher is not None:
            self._refresher.request()
        else:
            self.refresh()

    # -------------------------------------------------------------- widgets

    def _build(self) -> None:
        la, lb = self.base.labels
        label = {"description_width": "80px"}  # "event type" whole, not "event ty…"
        self.controls: dict[str, w.Widget] = {
            "types": w.SelectMultiple(options=[], rows=6, description="event type", style=label),
            "channel": w.Dropdown(options=[("any", _ANY)], value=_ANY, description="channel", style=label),
            "search": w.Text(description="text", placeholder="contains…", style=label),
            "hide_retries": w.Checkbox(description="first deliveries only", indent=False),
            "status": w.ToggleButtons(
                options=[
                    ("all", "all"),
                    ("matched", "matched"),
                    (f"only {la}", f"only_{la}"),
                    (f"only {lb}", f"only_{lb}"),
                    ("retried", "retried"),
                ],
                value="all",
            ),
        }
        c = self.controls
        c["types"].observe(lambda ch: self._control(event_types=tuple(ch["new"])), "value")
        c["channel"].observe(lambda ch: self._control(channel=None if ch["new"] == _ANY else ch["new"]), "value")
        c["search"].observe(lambda ch: self._control(text=ch["new"]), "value")
        c["hide_retries"].observe(lambda ch: self._control(hide_retries=bool(ch["new"])), "value")
        c["status"].observe(lambda ch: None if self._quiet else self.set_status(ch["new"]), "value")
        self._headline = w.HTML()
        # Two charts side by side share the width (each at most its own size), so the second one is
        # never cut off at the notebook's right edge.
        chart = w.Layout(width="48%", max_width=f"{CHART_PX[0]}px", height="auto")
        self._cdf = w.Image(format="png", layout=chart)
        self._retries = w.Image(format="png", layout=chart)
        self._table_head = w.HTML()
        self._table = w.Select(options=[], rows=10, layout=w.Layout(width="100%")).add_class("slacklab-lineup")
        self._table.observe(lambda ch: None if self._quiet else self.select(ch["new"]), "value")
        self._detail = w.HTML()
        self.widget = w.VBox(
            [
                w.HBox([c["types"], w.VBox([c["channel"], c["search"], c["hide_retries"]])]),
                self._headline,
                w.HBox([self._cdf, self._retries], layout=w.Layout(width="100%")),
                c["status"],
                self._table_head,
                self._table,
                self._detail,
            ]
        )

    def _control(self, **changes: Any) -> None:
        if not self._quiet:
            self.set_filters(**changes)

    def _draw(self) -> None:
        cmp = self.comparison
        self._quiet = True
        try:
            types = list(label_counts(self.base.events, "event_type").index)
            if list(self.controls["types"].options) != types:
                self.controls["types"].options = types
            channels = [("any", _ANY), *((str(ch), str(ch)) for ch in label_counts(self.base.events, "channel").index)]
            if list(self.controls["channel"].options) != channels:
                self.controls["channel"].options = channels
            shown = self.lineup.head(self.max_rows)
            widths = self._widths(shown)
            self._table_head.value = _LINEUP_STYLE + (
                f"<pre class='slacklab-lineup-head'>{html.escape(self._header(widths))}</pre>"
            )
            self._table.options = [(self._row_label(r, widths), i) for i, (_, r) in enumerate(shown.iterrows())]
            self._table.value = None
        finally:
            self._quiet = False
        summary = for_people(cmp.summary, index_seconds=True).head(9)
        self._headline.value = (
            "<ul style='line-height:1.4'>"
            + "".join(f"<li>{html.escape(s)}</li>" for s in cmp.headline())
            + "</ul>"
            + _summary_html(summary)
        )
        self._cdf.value = _png(lambda fig: plot_latency_cdf(cmp, fig.add_subplot()))
        self._retries.value = _png(lambda fig: plot_retry_timeline(cmp, fig.add_subplot(), limit=10))
        self._detail.value = ""

    def _widths(self, shown: pd.DataFrame) -> tuple[int, int]:
        """Status and event type column widths for the rows shown (the list is in a monospace font)."""
        la, lb = self.base.labels
        status = max([len("status"), len(f"only_{la}"), len(f"only_{lb}")])
        types = shown["event_type"].astype("object").fillna("?").astype(str).str.len() if len(shown) else pd.Series([0])
        return status, min(max(len("event type"), int(types.max())), 28)

    def _header(self, widths: tuple[int, int]) -> str:
        la, lb = self.base.labels
        return f"{'status':<{widths[0]}}  {'event type':<{widths[1]}}  {f'latency {la} / {lb}':<21}  text"

    def _row_label(self, row: pd.Series, widths: tuple[int, int] = (14, 18)) -> str:
        la, lb = self.base.labels
        lat = [row.get(f"{x}_latency_s") for x in (la, lb)]
        times = " / ".join("—" if pd.isna(v) else fmt_seconds(v) for v in lat)
        text = row.get("text")
        text = "" if text is None or (not isinstance(text, str) and pd.isna(text)) else " ".join(str(text).split())
        event_type = str(row.get("event_type") or "?")[: widths[1]]
        return f"{row['status']:<{widths[0]}}  {event_type:<{widths[1]}}  {times:<21}  {mask_text(text)[:40]}"

    def _draw_detail(self) -> None:
        d = self.detail
        if d is None:
            self._detail.value = ""
            return
        la, lb = self.base.labels

        def pretty(payload: Any) -> str:
            try:
                text = json.dumps(json.loads(payload) if isinstance(payload, str) else payload, indent=1)
            except (TypeError, ValueError):
                text = str(payload)
            return f"<pre style='max-height:18em;overflow:auto;font-size:11px'>{html.escape(mask_text(text))}</pre>"

        diff = d.differences.astype(str).to_html(index=False, escape=True, border=0) if len(d.differences) else "none"
        self._detail.value = (
            f"<b>fields that differ</b>{diff}<table><tr><th>{html.escape(la)}</th><th>{html.escape(lb)}</th></tr>"
            f"<tr><td style='vertical-align:top'>{pretty(d.payload_a)}</td>"
            f"<td style='vertical-align:top'>{pretty(d.payload_b)}</td></tr></table>"
        )

    # ------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Stop following live captures (the panel stays usable)."""
        if self._refresher is not None:
            self._refresher.poll = None

    def close(self) -> None:
        """End the refresher thread and remove the widgets."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.close()
        parts = [self._headline, self._cdf, self._retries, self._table_head, self._table, self._detail]
        for child in [*self.controls.values(), *parts]:
            child.close()
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if not isinstance(bundle, dict):
            return None
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        la, lb = self.base.labels
        return (
            f"<ComparePanel {la} vs {lb}: {len(self.lineup)} line-up rows shown ({self.status}; "
            f"{mask_text(self.filters.describe())}){' live' if self.live else ''}>"
        )


# The line-up list and its header line in the notebook's code font, so the columns line up.
_LINEUP_STYLE = (
    "<style>.widget-select.slacklab-lineup select, pre.slacklab-lineup-head"
    " {font-family: var(--jp-code-font-family, monospace) !important; font-size: 12px !important;"
    " line-height: 1.4} pre.slacklab-lineup-head {margin: 0; padding: 0 5px; color: #555}</style>"
)


def _summary_html(summary: pd.DataFrame) -> str:
    """The headline numbers: names left, values right (pandas' to_html right-aligns the header only)."""
    cell = "padding:1px 8px"
    head = f"<th style='{cell};text-align:left'></th>" + "".join(
        f"<th style='{cell};text-align:right'>{html.escape(str(c))}</th>" for c in summary.columns
    )
    body = "".join(
        f"<tr><td style='{cell};text-align:left'>{html.escape(str(name))}</td>"
        + "".join(f"<td style='{cell};text-align:right'>{html.escape(str(v))}</td>" for v in row)
        + "</tr>"
        for name, row in zip(summary.index, summary.itertuples(index=False, name=None), strict=True)
    )
    # line-height: the widget's HTML box has a 28 px one made for a single line of text
    return f"<table style='border-collapse:collapse;font-size:12px;line-height:1.4'><tr>{head}</tr>{body}</table>"


CHART_PX = (512, 240)  # each chart image: 6.4 x 3.0 inches at 80 dpi


def _png(draw: Any) -> bytes:
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    draw(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()


def compare_panel(cmp: Comparison, *, refresh_every: float = REFRESH_SECONDS, max_rows: int = 200) -> ComparePanel:
    """The comparison widget (``slacklab.explore(cmp)`` calls this)."""
    return ComparePanel(cmp, refresh_every=refresh_every, max_rows=max_rows)
