"""Run every benchmark in turn with its default settings (``make bench``).

Each script writes ``benchmarks/results/<name>.md`` and ``.json``; this prints
where. Pass ``--quick`` for smaller loads (a few minutes in all). Scripts run one
after the other, never at once: on a 2-core machine they would measure each other.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "listener": (["bench_listener.py"], ["--quick"]),
    "million": (["bench_million.py"], ["--rows", "200000", "--journal-lines", "200000"]),
    "httplog": (["bench_httplog.py"], ["--entries", "20000", "--compare-rows", "50000"]),
    "redact": (["bench_redact.py"], ["--payloads", "30000"]),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller loads for every script")
    p.add_argument("only", nargs="*", help=f"run only these ({', '.join(SCRIPTS)})")
    args = p.parse_args()
    failed = []
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for name, (script, quick) in SCRIPTS.items():
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script[0]), *(quick if args.quick else [])]
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(cmd, env=env, cwd=HERE.parent)
        print(
            f"== {name}: exit {code} after {time.perf_counter() - t0:.0f} s; results in benchmarks/results/{name}.md",
            flush=True,
        )
        if code:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
