"""Shared helpers for the benchmark scripts: machine facts, timing, results files.

Every figure a script reports is a ratio against a baseline measured in the same
invocation (these machines are noisy); absolute times are printed for context only.
"""

from __future__ import annotations

import datetime as _dt
import gc
import importlib.util
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
_START_LOAD = os.getloadavg()
PACKAGES = (
    "slacklab",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "orjson",
    "websockets",
    "slack_sdk",
    "matplotlib",
    "ipywidgets",
    "aiohttp",
    "websocket-client",
)


def machine() -> dict[str, Any]:
    """CPU count, Python, platform and package versions."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "load_average_at_start": [round(x, 2) for x in _START_LOAD],
        "packages": versions,
    }


def command() -> str:
    """The command line that ran this script, as typed from the repository root."""
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs of ``fn`` (seconds) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def median_of(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, list[float]]:
    """The median of ``repeat`` runs of ``fn`` (seconds) and all the times."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Linux ``VmHWM`` (reset by exec), not ``ru_maxrss``, which a child started with
    ``subprocess`` inherits from its parent across exec.
    """
    try:
        with open("/proc/self/status") as handle:
            for text in handle:
                if text.startswith("VmHWM:"):
                    return int(text.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**NOT met**")


def write_results(name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``results/<name>.json`` and ``results/<name>.md`` with the run's header."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    header = {
        "benchmark": name,
        "command": command(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    json_path = RESULTS / f"{name}.json"
    json_path.write_text(json.dumps({**header, **data}, indent=2, default=str) + "\n", encoding="utf-8")
    m = header["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    head = (
        f"# {name}\n\n"
        f"- command: `{header['command']}` (from the repository root)\n"
        f"- date: {header['date']}\n"
        f"- machine: {m['cpu_count']} CPUs, {m['implementation']} {m['python']}, {m['platform']}; "
        f"load average {m['load_average_at_start']} at the start, "
        f"{[round(x, 2) for x in os.getloadavg()]} at the end (other work shares these cores)\n"
        f"- packages: {versions}\n\n"
    )
    md_path = RESULTS / f"{name}.md"
    md_path.write_text(head + markdown.rstrip() + "\n", encoding="utf-8")
    return json_path, md_path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (missing cells empty; floats to 3 significant digits)."""

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            if v != v:
                return ""
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(cell(r.get(c)) for c in columns) + " |")
    return "\n".join(out)


def recorder(lines: list[dict[str, Any]], *, unit: str = "s", width: int = 50) -> Callable[..., None]:
    """A ``line(what, seconds, baseline, base_name, note="")`` that records a measurement and prints it.

    Each call appends ``{measurement, time_s, baseline, baseline_s, ratio, note}``
    to ``lines`` and prints one aligned line in ``unit`` (``"s"`` or ``"ms"``).
    """
    scale, fmt_t, fmt_b = (1000.0, "10.1f", "9.1f") if unit == "ms" else (1.0, "8.2f", "7.2f")

    def line(what: str, seconds: float, baseline: float | None, base_name: str, note: str = "") -> None:
        ratio = seconds / baseline if baseline else None
        lines.append(
            {
                "measurement": what,
                "time_s": seconds,
                "baseline": base_name,
                "baseline_s": baseline,
                "ratio": ratio,
                "note": note,
            }
        )
        shown_base = (baseline or float("nan")) * scale
        print(
            f"{what:{width}s} {seconds * scale:{fmt_t}} {unit}  baseline {base_name}: {shown_base:{fmt_b}} {unit}  "
            f"ratio {ratio if ratio is not None else float('nan'):.2f}",
            flush=True,
        )

    return line


def scenario_sample(n: int) -> tuple[list[str], list[str]]:
    """``n`` simulator payloads as (kinds, JSON texts): up to 5,000 distinct ones, repeated to ``n``."""
    from slacklab.sim.scenario import build_scenario

    scenario = build_scenario(seed=0, events=min(n, 5000), duration=600.0)
    kinds = [item.kind for item in scenario]
    texts = [json.dumps(item.payload) for item in scenario]
    reps = -(-n // len(texts))
    return (kinds * reps)[:n], (texts * reps)[:n]


def module_from_file(path: Path, name: str) -> Any:
    """Import a module from a file (another checkout's version of a slacklab module, for ``--compare-with``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
