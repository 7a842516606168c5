"""The notebook UI: the explore panel, its filters, and charts. It reads captures and DataFrames only.

* :mod:`~slacklab.notebook.panel` – :func:`explore` (ipywidgets; needs ``slacklab[notebook]``);
* :mod:`~slacklab.notebook.controls` – the panel's filter widgets, safe to update while the user clicks;
* :mod:`~slacklab.notebook.filters` – :class:`Filters`, the panel's selection as plain data;
* :mod:`~slacklab.notebook.codes` – integer codes of a growing capture, for fast counts;
* :mod:`~slacklab.notebook.timeline` – deliveries per interval and type (the chart's numbers);
* :mod:`~slacklab.notebook.plots` – matplotlib charts that return their ``Axes``;
* :mod:`~slacklab.notebook.views` – the panel's HTML pieces and the compact ``panel.df``;
* :mod:`~slacklab.notebook.sources` – what a panel reads, and closing it when its cell re-runs;
* :mod:`~slacklab.notebook.refresher` – the throttled thread that keeps a live panel current.
"""

from __future__ import annotations

from typing import Any

from slacklab.notebook.filters import Filters
from slacklab.notebook.plots import plot_comparison, plot_event_types, plot_latency, plot_timeline

__all__ = ["Filters", "explore", "plot_comparison", "plot_event_types", "plot_latency", "plot_timeline"]


def __getattr__(name: str) -> Any:
    if name == "explore":  # imported on use: ipywidgets is an optional dependency
        from slacklab.notebook.panel import explore

        return explore
    raise AttributeError(f"module 'slacklab.notebook' has no attribute {name!r}")
