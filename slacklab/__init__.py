"""slacklab: listen to Slack's Events API from a notebook and explore what arrives.

Start here::

    import slacklab
    sim = slacklab.Simulator(slacklab.build_scenario(events=200), speed=20)  # offline Slack
    cap = slacklab.listen(app_token=sim.app_token, api_url=sim.api_url)       # returns at once
    cap.wait_for(50)
    cap.df            # every delivery, as a pandas DataFrame
    cap.events()      # one row per event, with its delivery count
    cap.to_csv("events.csv")

With ``SLACK_APP_TOKEN`` set (an ``xapp-`` app-level token), ``slacklab.listen()``
connects to real Slack instead. Names are imported lazily, so ``import
slacklab`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Capture": "capture",
    "load": "journal",
    "to_csv": "export",
    "listen": "session",
    "Listener": "listener",
    "Simulator": "simulator",
    "build_scenario": "scenario",
    "ScenarioBuilder": "scenario",
    "Scenario": "scenario",
    "ScenarioItem": "scenario",
    "explore": "widgets",
    "Filters": "filters",
    "plot_event_types": "plots",
    "plot_timeline": "plots",
    "plot_latency": "plots",
    "plot_comparison": "plots",
    "read_http_log": "httplog",
    "load_log": "httplog",
    "receive_http": "receiver",
    "HttpReceiver": "receiver",
    "Reply": "receiver",
    "HttpDelivery": "http_delivery",
    "FAKE_SIGNING_SECRET": "http_delivery",
    "compare": "compare",
    "Comparison": "compare",
    "SlacklabError": "errors",
    "TokenError": "errors",
    "SlackAPIError": "errors",
    "ListenerStopped": "errors",
    "LogFormatError": "errors",
    "ExportError": "errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slacklab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover
    from .capture import Capture
    from .errors import ExportError, ListenerStopped, LogFormatError, SlackAPIError, SlacklabError, TokenError
    from .export import to_csv
    from .journal import load
    from .listener import Listener
    from .compare import Comparison, compare
    from .filters import Filters
    from .http_delivery import FAKE_SIGNING_SECRET, HttpDelivery
    from .httplog import load_log, read_http_log
    from .plots import plot_comparison, plot_event_types, plot_latency, plot_timeline
    from .receiver import HttpReceiver, Reply, receive_http
    from .scenario import Scenario, ScenarioBuilder, ScenarioItem, build_scenario
    from .session import listen
    from .simulator import Simulator
    from .widgets import explore
