"""slacklab: listen to Slack's Events API from a notebook and explore what arrives.

Start here::

    import slacklab
    cap = slacklab.listen()       # the built-in simulator, or real Slack with SLACK_APP_TOKEN
    cap.wait_for(50)
    cap.df                        # every delivery, as a pandas DataFrame
    cap.events()                  # one row per event, with its delivery count
    slacklab.explore(cap)         # filter and chart, live (in Jupyter)
    cap.to_csv("events.csv")      # safe CSV: secrets masked, formulas neutralised
    cap.stop()

    http = slacklab.load("capture.har", signing_secret=...)   # any file slacklab reads
    slacklab.compare(cap, http)                                # HTTP vs Socket Mode
    slacklab.replay(http.df, to=url, signing_secret=...)       # send it again, re-signed

The package is laid out by concern:

* the capture side at the top: :mod:`slacklab.protocol` and
  :mod:`slacklab.supervisor` (pure Socket Mode logic), :mod:`slacklab.listener`
  (the only code that talks to Slack), :mod:`slacklab.journal`,
  :mod:`slacklab.capture`, :mod:`slacklab.schema`, :mod:`slacklab.table`;
* :mod:`slacklab.sim`: everything that plays Slack (both transports);
* :mod:`slacklab.http`: reading and receiving HTTP deliveries, signatures;
* :mod:`slacklab.notebook`: the explore panel, filters and charts.

Names are imported lazily, so ``import slacklab`` stays fast.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "listen": "session",
    "load": "loader",
    "explore": "notebook.panel",
    "compare": "comparison.lineup",
    "replay": "comparison.replay",
    "receive_http": "http.receiver",
    "to_csv": "export",
    "Capture": "capture",
    "Comparison": "comparison.lineup",
    "Listener": "listener",
    "Simulator": "sim.server",
    "build_scenario": "sim.scenario",
    "SlacklabError": "errors",
    "TokenError": "errors",
    "SlackAPIError": "errors",
    "LogFormatError": "errors",
}

# Names of the 0.1 façade that moved: still importable from here for one release,
# with a DeprecationWarning naming the new home. (old name -> (module, name there))
_DEPRECATED: dict[str, tuple[str, str]] = {
    "read_http_log": ("loader", "load"),
    "load_log": ("loader", "load"),
    "Scenario": ("sim.scenario", "Scenario"),
    "ScenarioBuilder": ("sim.scenario", "ScenarioBuilder"),
    "ScenarioItem": ("sim.scenario", "ScenarioItem"),
    "HttpDelivery": ("sim.http_sender", "HttpDelivery"),
    "FAKE_SIGNING_SECRET": ("sim.http_sender", "FAKE_SIGNING_SECRET"),
    "HttpReceiver": ("http.receiver", "HttpReceiver"),
    "Reply": ("http.receiver", "Reply"),
    "Filters": ("notebook.filters", "Filters"),
    "plot_event_types": ("notebook.plots", "plot_event_types"),
    "plot_timeline": ("notebook.plots", "plot_timeline"),
    "plot_latency": ("notebook.plots", "plot_latency"),
    "plot_comparison": ("notebook.plots", "plot_comparison"),
    "ListenerStopped": ("errors", "ListenerStopped"),
    "ExportError": ("errors", "ExportError"),
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    moved = _DEPRECATED.get(name)
    if moved is not None:
        module, new_name = moved
        warnings.warn(
            f"slacklab.{name} moved: use slacklab.{module}.{new_name}"
            + (" (slacklab.load reads every file format)" if module == "loader" else "")
            + "; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f"{__name__}.{module}"), new_name)
    raise AttributeError(f"module 'slacklab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover
    from slacklab.capture import Capture
    from slacklab.comparison.lineup import Comparison, compare
    from slacklab.comparison.replay import replay
    from slacklab.errors import LogFormatError, SlackAPIError, SlacklabError, TokenError
    from slacklab.export import to_csv
    from slacklab.http.receiver import receive_http
    from slacklab.listener import Listener
    from slacklab.loader import load
    from slacklab.notebook.panel import explore
    from slacklab.session import listen
    from slacklab.sim.scenario import build_scenario
    from slacklab.sim.server import Simulator
