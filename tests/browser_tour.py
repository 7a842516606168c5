"""Run every teaching notebook top to bottom in JupyterLab in Debian's Chromium and save screenshots.

    python tests/browser_tour.py                 # all notebooks → test-artifacts/tour/
    python tests/browser_tour.py --out DIR 03    # the notebooks whose path contains "03"

Prints, per notebook, how long it ran, how many chart images rendered, and any error or stderr
output; exits 1 if there was one. Look at the screenshots: they are what a workshop attendee sees.
The test suite runs the two notebooks with the most UI the same way
(``tests/test_browser.py::test_notebook_runs_clean_in_jupyterlab``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import python3_kernelspec  # noqa: E402
from tests.test_browser import ARTIFACTS, CHROMIUM, NOTEBOOKS, TOURED, chromium_page, running_lab, tour_notebook  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ARTIFACTS / "tour", help="folder for the screenshots")
    parser.add_argument("only", nargs="*", help="run only notebooks whose path contains one of these")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"needs Debian's Chromium at {CHROMIUM}: sudo apt-get install chromium", file=sys.stderr)
        return 2
    names = [n for n in TOURED if not args.only or any(part in n for part in args.only)]
    failed = False
    with tempfile.TemporaryDirectory(prefix="slacklab-tour-") as tmp:
        kernels = python3_kernelspec(Path(tmp) / "jupyter-path")
        with running_lab(Path(tmp), kernels, NOTEBOOKS) as lab, chromium_page() as page:
            for name in names:
                toured = tour_notebook(page, lab, name, args.out)
                print(
                    f"{name:34} {toured.seconds:5.1f} s  {toured.charts:2} charts  "
                    f"{len(toured.shots):2} screenshots  {'ok' if not toured.problems() else 'PROBLEMS'}",
                    flush=True,
                )
                for problem in toured.problems():
                    print(f"    {problem}")
                failed = failed or bool(toured.problems())
    print(f"screenshots: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
