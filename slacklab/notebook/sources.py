"""What an explore panel reads (:class:`Source`) and which notebook cell made it (:func:`adopt`).

A panel reads a :class:`~slacklab.capture.Capture` (live or loaded) or a fixed
DataFrame. When the cell that made a panel runs again, :func:`adopt` closes
the panels the earlier run made (their threads and widgets): a notebook where a
cell is re-run twenty times has one panel thread, not twenty. The cell is
known from the ``cellId`` JupyterLab and nbclient send with each execution;
outside a kernel nothing is tracked (a script may want two panels).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

import pandas as pd

__all__ = ["Source", "adopt", "current_cell"]

log = logging.getLogger("slacklab.notebook.panel")


class Source:
    """What the panel reads: a Capture (live or loaded) or a fixed DataFrame."""

    def __init__(self, data: Any) -> None:
        self.capture: Any = None
        self.frame: pd.DataFrame | None = None
        if isinstance(data, pd.DataFrame):
            self.frame = data
            self.label = "DataFrame"
        elif callable(getattr(data, "deliveries", None)):
            self.capture = data
            self.label = f"capture {getattr(data, 'label', '')!r}".strip()
        else:
            raise TypeError(
                "explore() takes a Capture (from slacklab.listen, slacklab.load or read_http_log) "
                f"or a deliveries DataFrame, not {type(data).__name__}"
            )

    @property
    def is_capture(self) -> bool:
        return self.capture is not None

    @property
    def finished(self) -> bool:
        """True when no more rows will arrive (a DataFrame, or a capture that stopped, failed or was loaded)."""
        return self.capture is None or getattr(self.capture, "state", "") in ("stopped", "failed", "loaded")

    def snapshot(self) -> pd.DataFrame:
        if self.capture is not None:
            return self.capture.deliveries()
        assert self.frame is not None
        return self.frame

    def version(self) -> tuple[Any, ...]:
        """Changes whenever the snapshot would (cheap: no DataFrame is built)."""
        if self.capture is None:
            return (len(self.frame),)  # type: ignore[arg-type]
        return (len(self.capture), getattr(self.capture, "state", ""))


# ------------------------------------------------------------ codes


# ------------------------------------------------------------ re-run cells

# cell id -> (execution count, panels made by that execution)
_by_cell: dict[str, tuple[int, list[weakref.ref[Any]]]] = {}
_by_cell_lock = threading.Lock()


def current_cell() -> tuple[str, int] | None:
    """The running notebook cell's id and execution count, or ``None`` outside a Jupyter kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None or threading.current_thread() is not threading.main_thread():
        return None
    try:
        parent = kernel.get_parent("shell")
    except TypeError:  # pragma: no cover - ipykernel 6.x takes no channel
        parent = kernel.get_parent()
    cell_id = ((parent or {}).get("metadata") or {}).get("cellId")
    return (str(cell_id), int(shell.execution_count)) if cell_id else None


def adopt(panel: Any, cell: tuple[str, int] | None) -> None:
    """Close the panels an earlier run of this cell made, and remember this one."""
    if cell is None:
        return
    cell_id, run = cell
    with _by_cell_lock:
        previous_run, panels = _by_cell.get(cell_id, (run, []))
        old = panels if previous_run != run else []
        kept = [] if previous_run != run else panels
        kept.append(weakref.ref(panel))
        _by_cell[cell_id] = (run, kept)
    for ref in old:
        stale = ref()
        if stale is not None:
            stale.close()
            log.info("closed the panel of an earlier run of this cell")
