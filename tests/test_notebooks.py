"""The teaching notebooks: committed clean, in step with their generator, and each one runs top to
bottom offline (nbclient, this interpreter's kernel, ``MPLBACKEND=Agg``, no Slack token) in under a
minute, stopping what it started. The exercise solutions pass their checks."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
IDS = [str(p.relative_to(NOTEBOOKS)) for p in ALL]
CELL_TIMEOUT = 90  # seconds, per cell
NOTEBOOK_BUDGET = 60  # seconds, per notebook, as promised to workshop attendees

# Appended to each executed copy: whatever the notebook started (listener, simulator, receiver,
# HTTP sender) must be gone after its last cell. A stopped panel's refresher (the explore panel's,
# the comparison widget's) is an idle reader thread that keeps the panel usable; it is not counted.
LEFTOVER_CHECK = """
import threading, time
deadline = time.monotonic() + 15
left = []
while time.monotonic() < deadline:
    left = sorted(t.name for t in threading.enumerate()
                  if t.name.startswith("slacklab-")
                  and not t.name.startswith(("slacklab-explore-", "slacklab-compare-")))
    if not left:
        break
    time.sleep(0.1)
assert not left, f"still running after the notebook's last cell: {left}"
"""


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it is being run
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernel_env(kernelspec_dir: Path) -> Iterator[None]:
    """This interpreter's kernel as ``python3``, matplotlib headless, and no Slack credentials."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(kernelspec_dir))
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        for name in ("SLACK_APP_TOKEN", "SLACK_API_URL", "SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
            mp.delenv(name, raising=False)
        yield


def execute(nb: nbformat.NotebookNode, workdir: Path) -> float:
    """Run every cell of ``nb`` in ``workdir``; return the seconds it took."""
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        startup_timeout=60,
        resources={"metadata": {"path": str(workdir)}},
    )
    started = time.monotonic()
    client.execute()
    return time.monotonic() - started


def copy_notebooks(tmp_path: Path) -> Path:
    """A private copy of notebooks/ (so outputs and files written by cells stay out of the repo)."""
    target = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "slacklab-out"))
    return target


# ------------------------------------------------------------ committed form


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs committed"
    assert "slacklab-nav" in nb.cells[-1].source


def test_every_notebook_is_numbered_and_listed() -> None:
    top = [p.name for p in ALL if p.parent == NOTEBOOKS]
    assert top[0] == "00-tour.ipynb" and all(name[:2].isdigit() for name in top)
    tour = (NOTEBOOKS / "00-tour.ipynb").read_text(encoding="utf-8")
    for path in ALL[1:]:
        assert str(path.relative_to(NOTEBOOKS)) in tour, f"the tour does not link {path.name}"


def test_generator_and_notebooks_agree() -> None:
    generator = load_generator()
    stale = [
        str(p.relative_to(NOTEBOOKS))
        for p, text in generator.render().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `python notebooks/build_notebooks.py` and commit: {stale}"
    assert sorted(generator.render()) == ALL


# ------------------------------------------------------------ execution


@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_notebook_runs_offline(path: Path, kernel_env: None, tmp_path: Path) -> None:
    copy = copy_notebooks(tmp_path) / path.relative_to(NOTEBOOKS)
    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LEFTOVER_CHECK))
    took = execute(nb, copy.parent)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert took < NOTEBOOK_BUDGET, f"{path.name} took {took:.0f} s (budget {NOTEBOOK_BUDGET} s)"


def test_real_slack_notebook_says_plainly_it_did_not_connect(kernel_env: None, tmp_path: Path) -> None:
    copy = copy_notebooks(tmp_path) / "06-real-slack.ipynb"
    nb = nbformat.read(copy, as_version=4)
    execute(nb, copy.parent)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "SLACK_APP_TOKEN is not set" in text
    assert "Nothing to stop" in text


@pytest.mark.timeout(240)
def test_exercise_solutions_pass_their_checks(kernel_env: None, tmp_path: Path) -> None:
    folder = copy_notebooks(tmp_path) / "exercises"
    nb = nbformat.read(folder / "exercises.ipynb", as_version=4)
    solved = 0
    for cell in nb.cells:
        first = cell.source.splitlines()[0] if cell.source else ""
        if cell.cell_type == "code" and first.startswith("# %load solutions/"):
            # What `%load` does in the browser: the cell becomes the file's text.
            name = first.split("# %load ", 1)[1].strip()
            cell.source = f"# %load {name}\n" + (folder / name).read_text(encoding="utf-8")
            solved += 1
    assert solved == len(list((NOTEBOOKS / "exercises" / "solutions").glob("*.py")))
    execute(nb, folder)
    verdicts = [
        "".join(o.get("text", "") for o in c.outputs)
        for c in nb.cells
        if c.cell_type == "code" and "✓ right" in c.source
    ]
    assert len(verdicts) == solved
    assert all(v.strip() == "✓ right" for v in verdicts), verdicts


# ------------------------------------------------------------ git hygiene


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.timeout(240)
@pytest.mark.skipif(shutil.which("make") is None or shutil.which("git") is None, reason="needs make and git")
def test_running_a_notebook_leaves_git_clean(kernel_env: None, tmp_path: Path) -> None:
    """Run notebook 02 (widgets, chart, files) in a clone-like folder with the filter `make hooks` sets up,
    save it with its outputs as JupyterLab does: git sees nothing to commit."""
    repo = tmp_path / "repo"
    shutil.copytree(NOTEBOOKS, repo / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "*.py"))
    for name in (".gitattributes", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    git("init", "-q", cwd=repo)
    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "hooks", f"PY={sys.executable}"], cwd=repo, check=True)
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "clean", cwd=repo)
    path = repo / "notebooks" / "02-live-capture.ipynb"
    nb = nbformat.read(path, as_version=4)
    execute(nb, path.parent)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert nb.metadata["language_info"].get("version")  # the kernel filled it in
    nbformat.write(nb, path)  # what JupyterLab's save writes
    assert '"output_type"' in path.read_text(encoding="utf-8")  # the working copy keeps its outputs
    assert git("diff", "HEAD", "--stat", cwd=repo) == ""  # git sees no change in the notebook
    # git status lists a file whose size changed until it is added again (it compares sizes before
    # running the filter); adding it stages nothing, and the status is clean.
    git("add", "-A", cwd=repo)
    assert git("diff", "--cached", "--stat", cwd=repo) == ""
    assert git("status", "--porcelain", cwd=repo) == ""
