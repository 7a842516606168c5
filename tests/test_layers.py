"""Imports point downward only (see the README's architecture section).

core   pure protocol logic and helpers: no sockets, threads, clocks, randomness, pandas
data   schema, tables, capture store, journal, logs, comparison, export: no network code
io     the listener, the simulator, the HTTP receiver and sender (listener ↮ simulator)
ui     widgets and plots: read captures and DataFrames only
entry  the façade, the CLI and the one-call helpers: anything
"""

from __future__ import annotations

import ast
from pathlib import Path

import slacklab

PACKAGE = Path(slacklab.__file__).parent

LAYERS: dict[str, str] = {
    "errors": "core",
    "redact": "data",
    "protocol": "core",
    "signing": "data",
    "workspace": "core",
    "payloads": "core",
    "scenario": "core",
    "playback": "core",
    "ledger": "core",
    "schema": "data",
    "table": "data",
    "capture": "data",
    "journal": "data",
    "export": "data",
    "httplog": "data",
    "httprequest": "data",
    "har": "data",
    "ngrok": "data",
    "compare": "data",
    "listener": "io",
    "loopthread": "io",
    "simapi": "io",
    "simsocket": "io",
    "simulator": "io",
    "receiver": "io",
    "http_delivery": "io",
    "plots": "ui",
    "filters": "ui",
    "widgets": "ui",
    "refresher": "ui",
    "session": "entry",
    "cli": "entry",
    "__init__": "entry",
    "__main__": "entry",
}
ORDER = ["core", "data", "io", "ui", "entry"]
# What each layer may import from outside slacklab (besides the harmless stdlib).
FORBIDDEN_OUTSIDE: dict[str, set[str]] = {
    "core": {"socket", "ssl", "os", "threading", "asyncio", "time", "urllib", "http", "websockets", "pandas",
             "matplotlib", "ipywidgets", "slack_sdk.web", "subprocess", "concurrent"},
    "data": {"socket", "ssl", "asyncio", "urllib.request", "http.server", "http.client", "websockets",
             "ipywidgets", "subprocess"},
    "io": {"ipywidgets"},
    "ui": {"websockets", "socket", "http.server"},
    "entry": set(),
}
# Pairs that must never import each other even within a layer.
SIMULATOR_PARTS = {"simulator", "simapi", "simsocket", "playback", "loopthread"}
NEVER = {("listener", part) for part in SIMULATOR_PARTS} | {(part, "listener") for part in SIMULATOR_PARTS}
# The ui layer reads data only.
UI_MAY_NOT = {"listener", "receiver", "http_delivery"} | SIMULATOR_PARTS


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from . import x
                if node.module:
                    found.add("slacklab." + node.module)
                else:
                    found.update("slacklab." + alias.name for alias in node.names)
            elif node.module:
                found.add(node.module)
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules - set(LAYERS) == set(), "add new modules to LAYERS in tests/test_layers.py"


def test_imports_point_downward() -> None:
    problems = []
    for path in sorted(PACKAGE.glob("*.py")):
        name = path.stem
        layer = LAYERS[name]
        for target in imports_of(path):
            if target.startswith("slacklab."):
                other = target.split(".")[1]
                if other not in LAYERS:
                    continue
                if ORDER.index(LAYERS[other]) > ORDER.index(layer):
                    problems.append(f"{name} ({layer}) imports {other} ({LAYERS[other]})")
                if (name, other) in NEVER:
                    problems.append(f"{name} imports {other}: they must stay independent")
                if layer == "ui" and other in UI_MAY_NOT:
                    problems.append(f"{name} (ui) imports {other}: the ui reads captures and DataFrames only")
            else:
                for banned in FORBIDDEN_OUTSIDE[layer]:
                    if target == banned or target.startswith(banned + "."):
                        problems.append(f"{name} ({layer}) imports {target}")
    assert problems == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "protocol.py"
    bad.write_text("import threading\nfrom .listener import Listener\n")
    assert imports_of(bad) == {"threading", "slacklab.listener"}
