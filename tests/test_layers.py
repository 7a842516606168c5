"""The tree is the design: imports point downward only, and the folders say where a module belongs.

Places (folders of ``slacklab/``):

top level   the capture side: pure Socket Mode core, listener, journal, capture store, schema, export
comparison/ HTTP vs Socket Mode: line-up, explanations, report; both transports at once; replay
cli/        the slacklab command
sim/        everything that plays Slack (both transports); never imports the listener, nor it the simulator
http/       reading and receiving HTTP deliveries, signatures
notebook/   the explore panel, filters, charts: reads captures and DataFrames only

Layers, lowest first:

core   pure logic: no sockets, threads, clocks, files, randomness from the OS, pandas
data   schema, tables, capture store, journal, logs, comparison, export: no network code
io     the listener, the simulator's servers, the HTTP receiver and sender
ui     widgets and plots
entry  the façade, the CLI and the one-call helpers: anything
"""

from __future__ import annotations

import ast
from pathlib import Path

import slacklab

PACKAGE = Path(slacklab.__file__).parent

# module (dotted, relative to slacklab) -> layer. A subpackage's __init__ is entry: it re-exports.
LAYERS: dict[str, str] = {
    # the capture side, at the top
    "errors": "core",
    "protocol": "core",
    "supervisor": "core",
    "supervision": "core",
    "redact": "data",
    "fields": "core",
    "schema": "data",
    "table": "data",
    "capture": "data",
    "respond": "data",
    "store": "data",
    "ingest": "data",
    "archive": "data",
    "journal": "data",
    "export": "data",
    "comparison.__init__": "entry",
    "comparison.lineup": "data",
    "comparison.tables": "data",
    "comparison.explain": "data",
    "comparison.report": "data",
    "loader": "data",
    "listener": "io",
    "connection": "io",
    "session": "entry",
    "testing": "entry",
    "pytest_plugin": "entry",
    "comparison.both": "entry",
    "comparison.replay": "entry",
    "cli.__init__": "entry",
    "cli.commands": "entry",
    "cli.console": "entry",
    "cli.args": "entry",
    "__init__": "entry",
    "__main__": "entry",
    # sim/: plays Slack
    "sim.__init__": "entry",
    "sim.workspace": "core",
    "sim.payload_base": "core",
    "sim.payloads": "core",
    "sim.payloads_app": "core",
    "sim.payloads_interactive": "core",
    "sim.scenario": "core",
    "sim.playback": "core",
    "sim.ledger": "core",
    "sim.records": "core",
    "sim.answers": "core",
    "sim.http_rules": "data",
    "sim.http_post": "io",
    "sim.knobs": "io",
    "sim.dual": "io",
    "sim.loopthread": "io",
    "sim.webapi": "io",
    "sim.webapi_methods": "core",
    "sim.socket_mode": "io",
    "sim.server": "io",
    "sim.http_sender": "io",
    # http/: reading and receiving HTTP deliveries
    "http.__init__": "entry",
    "http.signing": "data",
    "http.request": "data",
    "http.har": "data",
    "http.ngrok": "data",
    "http.logs": "data",
    "http.receiver": "io",
    # notebook/: the UI
    "notebook.__init__": "entry",
    "notebook.filters": "ui",
    "notebook.plots": "ui",
    "notebook.timeline": "ui",
    "notebook.codes": "ui",
    "notebook.views": "ui",
    "notebook.controls": "ui",
    "notebook.sources": "ui",
    "notebook.refresher": "ui",
    "notebook.panel": "ui",
    "notebook.compare_panel": "ui",
}
ORDER = ["core", "data", "io", "ui", "entry"]
# What each layer may not import from outside slacklab.
FORBIDDEN_OUTSIDE: dict[str, set[str]] = {
    "core": {
        "socket",
        "ssl",
        "os",
        "threading",
        "asyncio",
        "time",
        "urllib",
        "http",
        "websockets",
        "pandas",
        "matplotlib",
        "ipywidgets",
        "slack_sdk.web",
        "subprocess",
        "concurrent",
        "selectors",
    },
    "data": {
        "socket",
        "ssl",
        "asyncio",
        "urllib.request",
        "http.server",
        "http.client",
        "websockets",
        "ipywidgets",
        "subprocess",
    },
    "io": {"ipywidgets", "matplotlib"},
    "ui": {"websockets", "socket", "http.server", "asyncio"},
    "entry": set(),
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def place(module: str) -> str:
    """The folder a module lives in: '' for the top level, else 'sim', 'http', 'notebook'."""
    return module.rsplit(".", 1)[0] if "." in module else ""


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved to ``slacklab.…``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ["slacklab", *path.relative_to(PACKAGE).parent.parts] if path.is_relative_to(PACKAGE) else ["slacklab"]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
                if node.module:
                    found.add(prefix)
                else:
                    found.update(f"{prefix}.{alias.name}" for alias in node.names)
            elif node.module:
                found.add(node.module)
                # `from slacklab.sim import server` names a module too
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def internal(target: str) -> str | None:
    """The LAYERS key a ``slacklab.…`` import refers to, if any."""
    if not target.startswith("slacklab"):
        return None
    rest = target[len("slacklab") :].lstrip(".")
    if not rest:
        return "__init__"
    if rest in LAYERS:
        return rest
    if f"{rest}.__init__" in LAYERS:
        return f"{rest}.__init__"
    return None


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    modules = {module_name(p) for p in MODULES}
    assert modules - set(LAYERS) == set(), "add new modules to LAYERS in tests/test_layers.py"
    assert set(LAYERS) - modules == set(), "LAYERS names modules that are gone"


def test_modules_stay_short() -> None:
    """A module that grows past ~450 lines is doing more than one job: split it."""
    long = {module_name(p): n for p in MODULES if (n := len(p.read_text(encoding="utf-8").splitlines())) > 460}
    assert long == {}


def violations(path: Path, name: str) -> list[str]:
    layer = LAYERS[name]
    problems = []
    for target in imports_of(path):
        other = internal(target)
        if other is not None:
            if other == name:
                continue
            if ORDER.index(LAYERS[other]) > ORDER.index(layer):
                problems.append(f"{name} ({layer}) imports {other} ({LAYERS[other]})")
            here, there = place(name), place(other)
            if {here, there} == {"", "sim"} and "listener" in (name, other):
                problems.append(f"{name} imports {other}: the listener and the simulator meet only over sockets")
            if here == "notebook" and (there == "sim" or other in ("listener", "http.receiver")):
                problems.append(f"{name} (notebook) imports {other}: the UI reads captures and DataFrames only")
            if here == "" and there == "sim" and layer != "entry":
                problems.append(f"{name} imports {other}: the capture side does not depend on the simulator")
            if here == "http" and there == "sim":
                problems.append(f"{name} imports {other}: reading HTTP deliveries does not need the simulator")
        elif not target.startswith("slacklab"):
            for banned in FORBIDDEN_OUTSIDE[layer]:
                if target == banned or target.startswith(banned + "."):
                    problems.append(f"{name} ({layer}) imports {target}")
    return problems


def test_imports_point_downward() -> None:
    problems = [p for path in MODULES for p in violations(path, module_name(path))]
    assert problems == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "protocol.py"
    bad.write_text("import threading\nfrom .listener import Listener\nfrom slacklab.sim import server\n")
    assert imports_of(bad) >= {"threading", "slacklab.listener", "slacklab.sim.server"}
    assert violations(bad, "protocol") != []
    sneaky = tmp_path / "listener.py"
    sneaky.write_text("from slacklab.sim.server import Simulator\n")
    assert any("meet only over sockets" in p for p in violations(sneaky, "listener"))
