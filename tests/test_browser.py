"""Real browser: JupyterLab on 127.0.0.1, notebooks run in Chromium (Playwright). Notebook 02's explore
panel renders with its controls and chart, and picking an event type changes the count it shows; filters
hold while events stream; and every notebook runs top to bottom with no error or stderr output and
every chart image rendered, leaving screen-by-screen screenshots in ``test-artifacts/tour/``.

Needs Debian's Chromium at /usr/bin/chromium (``apt-get install chromium``); Playwright's own browser
download is not used. Without Chromium the test is skipped — unless ``SLACKLAB_REQUIRE_BROWSER=1``
(CI), where it fails. A screenshot lands in ``test-artifacts/browser-02.png`` either way it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02-live-capture.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 90  # s
RUN_ALL_TIMEOUT = 150  # s, the notebook itself takes about 25
UI_TIMEOUT = 60  # s, for any one thing to appear in the page

# Quiet JupyterLab: no news or update checks (they would reach the network and pop up toasts).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    # Every cell in the page at once: a screenshot never catches a cell the browser has not painted yet.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# True once every code cell ran and the kernel is idle; the text of an error output if one appeared.
RUN_STATE_JS = """
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return false;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  for (const cell of cells) {
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') return `${out.ename}: ${out.evalue}`;
    }
  }
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel && kernel.status === 'idle' && cells.length
                 && cells.every(c => c.model.executionCount !== null && c.model.executionCount !== undefined));
}
"""
KERNEL_READY_JS = """
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
                 && panel.sessionContext.session.kernel;
  return Boolean(kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
}
"""


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    reason = "the real-browser test needs Debian's Chromium at /usr/bin/chromium: sudo apt-get install chromium"
    if os.environ.get("SLACKLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (SLACKLAB_REQUIRE_BROWSER=1 forbids skipping)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Lab:
    url: str
    token: str
    workdir: Path
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, "<token>")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End JupyterLab and everything it started (its kernels), politely then firmly."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def running_lab(tmp_path: Path, kernelspec_dir: Path, source: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 (free port, a token, no browser, private config/runtime/settings dirs),
    serving a temporary copy of ``source`` (one notebook, or the notebooks folder) so the repository's
    copies keep no outputs. JupyterLab and its kernels stop on the way out."""
    workdir = tmp_path / "work"
    if source.is_dir():
        shutil.copytree(source, workdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "slacklab-out"))
    else:
        workdir.mkdir()
        shutil.copy(source, workdir / source.name)
    settings = tmp_path / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values), encoding="utf-8")
    token = secrets.token_hex(16)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JUPYTER_")) and k != "MPLBACKEND"
    }  # offline, inline charts
    env.update(
        JUPYTER_PATH=str(kernelspec_dir),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_PLATFORM_DIRS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    log = tmp_path / "jupyterlab.log"
    for _attempt in range(3):  # a port taken between picking and binding: pick another
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={workdir}",
            "--LabApp.expose_app_in_browser=True",  # lets the test run commands such as run-all
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            "--LabServerApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # never ask PyPI for extensions
            *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = Lab(f"http://127.0.0.1:{port}", token, workdir, log)
        try:
            if _wait_until_serving(server, process):
                yield server
                return
        finally:
            _stop(process)
        if "already in use" not in server.log_tail():
            break
    raise AssertionError(f"JupyterLab did not start; its log ends with:\n{server.log_tail()}")


@pytest.fixture
def lab(tmp_path: Path, kernelspec_dir: Path) -> Iterator[Lab]:
    """JupyterLab serving a temporary copy of notebook 02 (``running_lab``)."""
    _browser_or_skip()
    with running_lab(tmp_path, kernelspec_dir, NOTEBOOK) as server:
        yield server


def _wait_until_serving(server: Lab, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    request = urllib.request.Request(f"{server.url}/api/status", headers={"Authorization": f"token {server.token}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"JupyterLab not serving after {SERVER_START_TIMEOUT} s:\n{server.log_tail()}")


def _count(text: str) -> int:
    return int(text.replace(",", "").strip())


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1100) -> Iterator[Page]:
    """A page in headless Debian Chromium (Playwright's own browser download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=UI_TIMEOUT * 1000
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(UI_TIMEOUT * 1000)
            yield page
        finally:
            browser.close()


@pytest.mark.timeout(420)
def test_explore_panel_in_jupyterlab(lab: Lab) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "browser-02.png"
    with chromium_page() as page:
        try:
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK.name}?token={lab.token}")
            page.wait_for_function(KERNEL_READY_JS, timeout=UI_TIMEOUT * 1000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            state = page.wait_for_function(RUN_STATE_JS, timeout=RUN_ALL_TIMEOUT * 1000).json_value()
            assert state is True, f"a cell failed in the browser: {state}"

            # The panel rendered: its controls and its chart image are in the page.
            panel = page.locator(".slacklab-explore").first
            panel.scroll_into_view_if_needed()
            types = panel.locator(".slacklab-event-type select")
            types.wait_for(state="visible")
            for control in ("channel", "user", "source", "search", "hide-retries", "interval", "seconds"):
                assert panel.locator(f".slacklab-{control}").count() == 1, f"no {control} control"
            assert panel.locator(".slacklab-export").count() == 1
            chart = panel.locator("img.slacklab-chart")
            chart.wait_for(state="visible")
            page.wait_for_function(
                "() => { const img = document.querySelector('.slacklab-explore img.slacklab-chart');"
                " return img && img.complete && img.naturalWidth > 300; }"
            )
            assert "stopped" in panel.locator(".slacklab-status").inner_text()
            before = _count(panel.locator(".slacklab-shown").inner_text())
            labels = types.locator("option").all_inner_texts()
            assert len(labels) > 1 and before > 0, (labels, before)

            # Pick one event type: the count shown becomes that type's count.
            label = labels[1]  # the second most frequent type; ipywidgets joins "type (n)" with a no-break space
            parsed = re.fullmatch(r"(.+?)\s\(([\d,]+)\)", label)
            assert parsed is not None, label
            event_type, expected = parsed.group(1), _count(parsed.group(2))
            types.select_option(label=label)
            page.wait_for_function(
                "(before) => { const el = document.querySelector('.slacklab-explore .slacklab-shown');"
                " return el && el.textContent.replace(/,/g, '') !== String(before); }",
                arg=before,
            )
            after = _count(panel.locator(".slacklab-shown").inner_text())
            assert after == expected < before, (label, before, after)
            assert f"type {event_type}" in panel.locator(".slacklab-count").inner_text()
            panel.scroll_into_view_if_needed()
            page.wait_for_timeout(500)  # let the new chart image paint before the screenshot
        finally:
            page.screenshot(path=str(screenshot))
            with contextlib.suppress(Exception):  # an extra artifact; never hide the real failure
                page.locator(".slacklab-explore").first.screenshot(
                    path=str(ARTIFACTS / "browser-02-panel.png"), timeout=5000
                )


# ------------------------------------------------------------ filters changed while events stream

STREAM_CELLS = [
    "import threading, slacklab\ncap = slacklab.listen(simulate=True, events=4000, duration=400, speed=10)",
    "panel = slacklab.explore(cap, refresh_every=0.3)\npanel",
    "cap.stop()\npanel.stop()\nprint('stopped with', len(cap), 'deliveries')",
    "print('explore threads:', sum(t.name.startswith('slacklab-explore') for t in threading.enumerate()))",
]
RUN_CELL_JS = """
async (i) => {
  const nb = window.jupyterapp.shell.currentWidget;
  nb.content.activeCellIndex = i;
  await window.jupyterapp.commands.execute('notebook:run-cell');
  return true;
}
"""
CELL_TEXT_JS = """
(i) => {
  const nb = window.jupyterapp.shell.currentWidget;
  const cell = nb && nb.content.widgets[i];
  if (!cell || !cell.model.outputs) return '';
  return cell.model.outputs.toJSON().map(o => o.text || (o.data && o.data['text/plain']) || o.evalue || '').join('');
}
"""
SELECTED_JS = "(s) => Array.from(s.selectedOptions).map(o => o.index)"


def _run_cell(page, index: int, expect: str | None = None) -> str:  # type: ignore[no-untyped-def]
    page.evaluate(RUN_CELL_JS, index)
    if expect is not None:
        page.wait_for_function(f"(i) => ({CELL_TEXT_JS})(i).includes({json.dumps(expect)})", arg=index)
    return str(page.evaluate(CELL_TEXT_JS, index))


@pytest.mark.timeout(420)
def test_filters_changed_while_events_stream(lab: Lab) -> None:
    """Re-run the explore cell (one thread stays), then click event types while 100 deliveries a second
    arrive and the choices' counts change under the pointer: each click stands, and once the capture stops
    the count shown is the chosen type's count."""
    import random

    import nbformat

    name = "stream.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in STREAM_CELLS]
    nbformat.write(nb, lab.workdir / name)
    ARTIFACTS.mkdir(exist_ok=True)
    rng = random.Random(7)
    with chromium_page() as page:
        try:
            page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}")
            page.wait_for_function(KERNEL_READY_JS, timeout=UI_TIMEOUT * 1000)
            _run_cell(page, 0)
            for _ in range(3):  # re-running the cell closes the panel the earlier run made
                _run_cell(page, 1)
                page.locator(".slacklab-explore .slacklab-event-type select").first.wait_for(state="visible")
            assert "explore threads: 1" in _run_cell(page, 3, expect="explore threads")
            panel = page.locator(".slacklab-explore").first
            types = panel.locator(".slacklab-event-type select")
            page.wait_for_function(
                "() => document.querySelectorAll('.slacklab-explore .slacklab-event-type option').length >= 4"
            )
            assert "listening" in panel.locator(".slacklab-status").inner_text()
            picked = 0
            for _ in range(8):
                picked = rng.randrange(min(4, types.locator("option").count()))
                types.select_option(index=picked)
                page.wait_for_timeout(rng.randint(200, 1200))  # several redraws, new counts each time
                assert types.evaluate(SELECTED_JS) == [picked], "the panel undid the user's choice"
            label = types.locator("option").nth(picked).inner_text()
            assert "stopped with" in _run_cell(page, 2, expect="stopped with")
            page.wait_for_function(
                "() => (document.querySelector('.slacklab-explore .slacklab-status') || {}).textContent"
                "?.includes('stopped')"
            )
            page.wait_for_timeout(1500)  # the last redraw after stop
            assert types.evaluate(SELECTED_JS) == [picked]
            label = types.locator("option").nth(picked).inner_text()
            parsed = re.fullmatch(r"(.+?)\s\(([\d,]+)\)", label)
            assert parsed is not None, label
            shown = _count(panel.locator(".slacklab-shown").inner_text())
            assert shown == _count(parsed.group(2)) > 0, (label, shown)
            assert f"type {parsed.group(1)}" in panel.locator(".slacklab-count").inner_text()
        finally:
            page.screenshot(path=str(ARTIFACTS / "browser-stream.png"))
            with contextlib.suppress(Exception):
                page.locator(".slacklab-explore").first.screenshot(
                    path=str(ARTIFACTS / "browser-stream-panel.png"), timeout=5000
                )


# ------------------------------------------------------------ every notebook, run and looked at

NOTEBOOKS = ROOT / "notebooks"
TOURED = sorted(
    str(p.relative_to(NOTEBOOKS)) for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
TOUR_TIMEOUT = 180  # s for one notebook's run-all in the browser (nbclient runs each in under 60)

# What a run-all left in the page: every code cell's outputs (from the model) and every output image's
# size (from the DOM: an <img> whose data did not decode has naturalWidth 0). `done` once the kernel is
# idle and every cell ran, or one failed (run-all stops there).
NOTEBOOK_STATE_JS = """
() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const outputs = cells.map(c => c.model.outputs.toJSON());
  const failed = outputs.some(outs => outs.some(o => o.output_type === 'error'));
  const ran = cells.every(c => c.model.executionCount !== null && c.model.executionCount !== undefined);
  const text = (o) => {
    const value = o.text || o.evalue || (o.data && o.data['text/plain']) || '';
    return (Array.isArray(value) ? value.join('') : String(value)).slice(0, 4000);
  };
  return {
    done: Boolean(kernel && kernel.status === 'idle' && (ran || failed)),
    cells: cells.map((c, i) => ({
      index: panel.content.widgets.indexOf(c),
      outputs: outputs[i].map(o => ({type: o.output_type, name: o.name || '', mimes: Object.keys(o.data || {}),
                                     text: text(o)})),
    })),
    images: Array.from(panel.node.querySelectorAll('.jp-OutputArea-output img'))
      .map(img => ({width: img.naturalWidth, complete: img.complete})),
  };
}
"""
SCROLL_JS = """
(top) => {
  const notebook = window.jupyterapp.shell.currentWidget.content.node;
  const scroller = notebook.querySelector('.jp-WindowedPanel-outer') || notebook;
  scroller.scrollTop = top;
  return [scroller.scrollTop, scroller.scrollHeight, scroller.clientHeight];
}
"""


@dataclass
class Toured:
    """One notebook run top to bottom in JupyterLab: what its outputs held, and where its screenshots are."""

    name: str
    seconds: float
    errors: list[str]  # error outputs, "cell N: Name: message"
    stderr: list[str]  # stderr outputs (warnings, logging), "cell N: text"
    charts: int  # images in the outputs that rendered: matplotlib outputs and images in widgets
    broken_charts: int  # images whose data did not decode
    image_outputs: int  # outputs holding an image/png (each must be one of the charts)
    shots: list[Path]

    def problems(self) -> list[str]:
        broken = [f"{self.broken_charts} image(s) did not render"] if self.broken_charts else []
        return [*self.errors, *self.stderr, *broken]


def tour_notebook(page: Page, lab: Lab, name: str, shots: Path) -> Toured:
    """Open ``name`` (relative to the served folder), run all its cells, wait until it finished, save
    viewport-sized screenshots of the whole notebook as ``shots/<stem>-NN.png``, shut its kernel down."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_READY_JS, timeout=UI_TIMEOUT * 1000)
    started = time.monotonic()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(
        f"() => {{ const s = ({NOTEBOOK_STATE_JS})(); return s && s.done; }}", timeout=TOUR_TIMEOUT * 1000, polling=500
    )
    seconds = time.monotonic() - started
    page.wait_for_timeout(1000)  # the last widget redraws and images decode
    files: list[Path] = []
    shots.mkdir(parents=True, exist_ok=True)
    stem = Path(name).stem
    panel = page.locator(f"#{page.evaluate('() => window.jupyterapp.shell.currentWidget.id')}")
    top = 0
    for number in range(60):  # a long notebook is about 20 screens
        shown, height, visible = page.evaluate(SCROLL_JS, top)
        page.wait_for_timeout(300)
        path = shots / f"{stem}-{number:02d}.png"
        panel.screenshot(path=str(path))
        files.append(path)
        if shown + visible >= height:
            break
        top = shown + visible - 80  # a little overlap, so no line is cut in two unseen
    state = page.evaluate(NOTEBOOK_STATE_JS)
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.shutdown(); }")
    errors, stderr = [], []
    for cell in state["cells"]:
        for out in cell["outputs"]:
            if out["type"] == "error":
                errors.append(f"cell {cell['index']}: {out['text']}")
            elif out["type"] == "stream" and out["name"] == "stderr":
                stderr.append(f"cell {cell['index']}: {out['text'].strip()}")
    images = state["images"]
    broken = sum(1 for img in images if not img["complete"] or img["width"] == 0)
    pngs = sum("image/png" in out["mimes"] for cell in state["cells"] for out in cell["outputs"])
    return Toured(name, seconds, errors, stderr, len(images) - broken, broken, pngs, files)


@pytest.fixture(scope="module")
def notebooks_lab(tmp_path_factory: pytest.TempPathFactory, kernelspec_dir: Path) -> Iterator[Lab]:
    """JupyterLab serving a temporary copy of the whole notebooks folder."""
    _browser_or_skip()
    with running_lab(tmp_path_factory.mktemp("lab"), kernelspec_dir, NOTEBOOKS) as server:
        yield server


# Images inside widgets (not image/png outputs) each notebook must show: the explore panel's chart,
# the comparison widget's two charts.
WIDGET_IMAGES = {"02-live-capture.ipynb": 1, "03-http-vs-socket.ipynb": 2, "05-export-csv.ipynb": 1}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", TOURED)
def test_notebook_runs_clean_in_jupyterlab(notebooks_lab: Lab, name: str) -> None:
    """Every notebook, run top to bottom in the browser (about 80 s for all of them): no error, nothing
    on stderr, every chart image rendered. Screenshots land in ``test-artifacts/tour/`` to be looked at;
    ``python tests/browser_tour.py`` does the same outside pytest."""
    with chromium_page() as page:
        toured = tour_notebook(page, notebooks_lab, name, ARTIFACTS / "tour")
    assert toured.problems() == [], toured.problems()
    expected = toured.image_outputs + WIDGET_IMAGES.get(name, 0)
    assert toured.charts >= expected, f"{name}: {toured.charts} images rendered, {expected} expected"
