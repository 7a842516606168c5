"""The explore panel's filter controls: the widgets, the :class:`Filters` they mean, and safe updates.

:class:`Controls` owns the widgets (``types``, ``channel``, ``user``, ``source``,
``search``, ``hide_retries``, ``interval``, ``time``) and reads them as a
:class:`~slacklab.notebook.filters.Filters` value. Two threads change them:

* the user, through the browser: ipywidgets applies the change in the kernel
  (``Widget.set_state``), and with ipykernel 7 that can run while a cell runs;
* the panel's refresher thread, when new event types, channels or users
  appear (the pickers' choices and counts), or the time range grows.

So that neither undoes the other, every write from either side happens under
one lock (:attr:`Controls.lock`; the widgets here take it in ``set_state``),
the refresher's writes to one widget are batched in ``hold_sync()`` (one
message to the browser), it re-reads a control's value inside the lock before
writing it back with new choices, and it leaves alone any control the user
changed less than :data:`USER_GRACE` seconds ago (it tries again on its next
tick). Choices keep their places (new ones are added at the end; only the
counts in their labels change): the browser names a selection by position. Nothing here computes: the panel passes the counts in.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w
import pandas as pd

from slacklab.notebook.filters import Filters, time_span, to_utc
from slacklab.notebook.views import nice_step

__all__ = ["ANY", "INTERVAL_CHOICES", "USER_GRACE", "Controls"]

INTERVAL_CHOICES = ("auto", "100ms", "500ms", "1s", "5s", "10s", "30s", "1min", "5min", "15min", "1h")
MAX_PICKER_CHOICES = 200
ANY = ""
"""The value of a channel, user or source picker that filters nothing."""
USER_GRACE = 1.0
"""Seconds after a user's change during which the refresher does not rewrite that control."""

_FILTER_NAMES = {
    "event_types": "types",
    "text": "search",
    "channel": "channel",
    "user": "user",
    "team": "team",
    "source": "source",
    "hide_retries": "hide_retries",
    "interval": "interval",
}

_guarded_classes: dict[type, type] = {}


def _guarded(cls: type) -> Any:
    """A subclass of widget ``cls`` whose browser-side changes wait for the panel's lock."""
    if cls not in _guarded_classes:

        def set_state(self: Any, sync_data: dict[str, Any]) -> None:
            controls: Controls | None = getattr(self, "_slacklab_controls", None)
            if controls is None:
                cls.set_state(self, sync_data)  # type: ignore[attr-defined]
                return
            with controls.lock:
                controls.touched[self._slacklab_name] = time.monotonic()
                cls.set_state(self, sync_data)  # type: ignore[attr-defined]

        _guarded_classes[cls] = type(cls.__name__, (cls,), {"set_state": set_state, "__module__": __name__})
    return _guarded_classes[cls]


def _stable(known: list[Any], values: list[Any]) -> list[Any]:
    """``known`` (the choices shown now) in their places, then the new ``values``: the browser names a
    choice by its position, so a click made while new choices arrive still means what the user saw."""
    seen = set(known)
    return [*known, *(v for v in dict.fromkeys(values) if v not in seen)]


class Controls:
    """The filter widgets of one panel (``controls[name]``) and the :class:`Filters` they describe.

    ``on_change()`` is called after a user (or :meth:`set`) changed a value,
    not after the refresher's own updates.
    """

    def __init__(self, interval: str, on_change: Callable[[], None]) -> None:
        self.lock = threading.RLock()
        self.touched: dict[str, float] = {}
        self.t0: pd.Timestamp | None = None
        self._on_change = on_change
        self._quiet_thread: int | None = None
        label = {"description_width": "80px"}
        picker = w.Layout(width="270px")
        self.widgets: dict[str, w.Widget] = {
            "types": _guarded(w.SelectMultiple)(
                options=[], rows=8, description="event type", style=label, layout=w.Layout(width="330px")
            ),
            "channel": _guarded(w.Dropdown)(
                options=[("any", ANY)], value=ANY, description="channel", style=label, layout=picker
            ),
            "user": _guarded(w.Dropdown)(
                options=[("any", ANY)], value=ANY, description="user", style=label, layout=picker
            ),
            "team": _guarded(w.Dropdown)(
                options=[("any", ANY)], value=ANY, description="team", style=label, layout=picker
            ),
            "source": _guarded(w.Dropdown)(
                options=[("both", ANY), ("socket", "socket"), ("http", "http")],
                value=ANY,
                description="source",
                style=label,
                layout=picker,
            ),
            "search": _guarded(w.Text)(
                placeholder="text or payload contains…",
                description="search",
                style=label,
                continuous_update=True,
                layout=picker,
            ),
            "hide_retries": _guarded(w.Checkbox)(
                value=False, description="hide retries", indent=False, layout=w.Layout(width="110px")
            ),
            "interval": _guarded(w.Dropdown)(
                options=INTERVAL_CHOICES if interval in INTERVAL_CHOICES else (interval, *INTERVAL_CHOICES),
                value=interval,
                description="interval",
                style={"description_width": "50px"},
                layout=w.Layout(width="160px"),
            ),
            "time": _guarded(w.FloatRangeSlider)(
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
        for name, widget in self.widgets.items():
            widget._slacklab_controls = self
            widget._slacklab_name = name
            widget.observe(self._changed, names="value")
            widget.add_class(f"slacklab-{widget.description.replace(' ', '-')}")

    def __getitem__(self, name: str) -> w.Widget:
        return self.widgets[name]

    # ------------------------------------------------------------ reading

    @property
    def filters(self) -> Filters:
        """The :class:`Filters` the controls describe right now."""
        c = self.widgets
        with self.lock:
            start = end = None
            slider = c["time"]
            if self.t0 is not None and not slider.disabled:
                low, high = slider.value
                tolerance = slider.step / 2
                if low > slider.min + tolerance:
                    start = self.t0 + pd.Timedelta(seconds=low)
                if high < slider.max - tolerance:
                    end = self.t0 + pd.Timedelta(seconds=high)
            return Filters(
                event_types=tuple(c["types"].value),
                channel=c["channel"].value or None,
                user=c["user"].value or None,
                team=c["team"].value or None,
                text=c["search"].value,
                start=start,
                end=end,
                source=c["source"].value or None,
                hide_retries=c["hide_retries"].value,
            )

    @property
    def interval(self) -> str:
        return str(self.widgets["interval"].value)

    def time_text(self, interval: pd.Timedelta) -> str:
        """The time range the slider selects, in words."""
        from slacklab.notebook.timeline import format_interval

        if self.t0 is None:
            return ""
        low, high = self.widgets["time"].value
        a = self.t0 + pd.Timedelta(seconds=low)
        b = self.t0 + pd.Timedelta(seconds=high)
        return f"<small>{a:%Y-%m-%d %H:%M:%S} – {b:%H:%M:%S} UTC · chart: per {format_interval(interval)}</small>"

    # ------------------------------------------------------------ the user's side

    def _changed(self, _change: dict[str, Any]) -> None:
        if self._quiet_thread != threading.get_ident():
            self._on_change()

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Writes made inside are the refresher's, not the user's (no ``on_change``)."""
        previous, self._quiet_thread = self._quiet_thread, threading.get_ident()
        try:
            yield
        finally:
            self._quiet_thread = previous

    def set(self, **changes: Any) -> None:
        """Set controls from code (see :meth:`slacklab.notebook.panel.ExplorePanel.set_filters`)."""
        unknown = set(changes) - set(_FILTER_NAMES) - {"start", "end"}
        if unknown:
            raise TypeError(f"unknown filter(s) {sorted(unknown)}; use {sorted([*_FILTER_NAMES, 'start', 'end'])}")
        with self.lock:
            for key, value in changes.items():
                if key not in _FILTER_NAMES:
                    continue
                widget = self.widgets[_FILTER_NAMES[key]]
                if key == "event_types":
                    value = (value,) if isinstance(value, str) else tuple(value)
                    self._ensure_options(widget, value)
                elif key in ("channel", "user", "team", "source"):
                    value = ANY if value is None else value
                    self._ensure_options(widget, (value,))
                elif key == "interval" and value not in widget.options:
                    widget.options = (*widget.options, value)
                widget.value = value
            if "start" in changes or "end" in changes:
                self._set_time(changes.get("start"), changes.get("end"))

    @staticmethod
    def _ensure_options(widget: w.Widget, values: tuple[Any, ...]) -> None:
        known = [v for _label, v in widget.options]
        missing = [v for v in values if v not in known]
        if missing:
            widget.options = [*widget.options, *((str(v), v) for v in missing)]

    def _set_time(self, start: Any, end: Any) -> None:
        slider = self.widgets["time"]
        if self.t0 is None:
            return
        low = slider.min if start is None else (to_utc(start) - self.t0).total_seconds()
        high = slider.max if end is None else (to_utc(end) - self.t0).total_seconds()
        slider.value = (max(slider.min, min(low, slider.max)), max(slider.min, min(high, slider.max)))

    # ------------------------------------------------------------ the refresher's side

    def _busy(self, name: str) -> bool:
        """True while the user is (probably) working with this control."""
        return time.monotonic() - self.touched.get(name, float("-inf")) < USER_GRACE

    def update_choices(self, frame: pd.DataFrame, counter: Callable[..., pd.Series]) -> bool:
        """New choices (with counts) for the pickers and a new time range; False if one was left for later.

        ``counter(column, limit=None)`` gives :func:`~slacklab.notebook.filters.label_counts`
        of the snapshot (the panel's coded counts or the plain function).
        """
        complete = True
        counts = counter("event_type")
        columns = {"channel": "channel", "user": "user", "team": "team_id"}  # picker -> column
        pickers = {name: list(counter(column, limit=MAX_PICKER_CHOICES).index) for name, column in columns.items()}
        with self.lock, self._quiet():
            widget = self.widgets["types"]
            if self._busy("types"):
                complete = False
            else:
                selected = tuple(widget.value)
                order = _stable([v for _label, v in widget.options], [*counts.index, *selected])
                options = [(f"{t} ({int(counts.get(t, 0)):,})", t) for t in order]
                if [tuple(o) for o in widget.options] != options:
                    with widget.hold_sync():
                        widget.options = options
                        widget.value = selected
            for name, values in pickers.items():
                widget = self.widgets[name]
                if self._busy(name):
                    complete = False
                    continue
                current = widget.value
                known = [v for _label, v in widget.options if v != ANY]
                wanted = [("any", ANY), *((v, v) for v in _stable(known, sorted(values) + [current] * bool(current)))]
                if list(widget.options) != wanted:
                    with widget.hold_sync():
                        widget.options = wanted
                        widget.value = current
            if self._busy("time"):
                return False
            self._update_time(frame)
        return complete

    def _update_time(self, frame: pd.DataFrame) -> None:
        slider = self.widgets["time"]
        span = time_span(frame)
        if span is None:
            self.t0 = None
            slider.disabled = True
            return
        first, last = span
        old_t0 = self.t0
        self.t0 = first
        length = max((last - first).total_seconds(), 0.001)
        step = nice_step(length)
        with slider.hold_sync():
            if slider.disabled or old_t0 != first:
                slider.disabled = False
                slider.max = max(length, slider.min)
                slider.value = (0.0, length)
            elif not math.isclose(slider.max, length):
                low, high = slider.value
                following = high >= slider.max - slider.step / 2
                slider.max = length
                slider.value = (min(low, length), length if following else min(high, length))
            if slider.step != step:
                slider.step = step
                slider.readout_format = f".{max(0, -math.floor(math.log10(step)))}f"
