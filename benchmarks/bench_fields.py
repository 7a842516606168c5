"""Field extraction: the event columns of 100,000 payloads, against parsing them.

One command (~20 s)::

    .venv/bin/python benchmarks/bench_fields.py [--payloads 100000] [--compare-with OLD/slacklab/schema.py]

Payloads are the simulator's default scenario mix (every event family it plays),
each its own object as in a live capture. Timed, best of 3:

* baseline ``json.loads``: parsing each payload's JSON text, which every delivery
  already costs before any column is filled;
* ``fields.extract``: the columns of each payload (what ``schema.make_row`` calls);
* with ``--compare-with``: ``payload_fields`` of another checkout's ``schema.py`` on the
  same payloads, e.g. the one before ``slacklab.fields``:
  ``git show d007cc6:slacklab/schema.py > /tmp/old_schema.py``.

Figures are ratios to the baseline; absolute times are for context only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, module_from_file, scenario_sample, table, write_results

from slacklab.fields import extract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--compare-with", type=Path, help="a schema.py whose payload_fields to time as well")
    args = parser.parse_args()
    kinds, texts = scenario_sample(args.payloads)
    payloads = [json.loads(t) for t in texts]
    pairs = list(zip(kinds, payloads, strict=True))

    def parse() -> None:
        for t in texts:
            json.loads(t)

    def run(fn: Any) -> None:
        for kind, payload in pairs:
            fn(kind, payload)

    rows: list[dict[str, Any]] = []
    base, _ = best_of(parse)
    rows.append({"what": "json.loads (baseline)", "seconds": round(base, 3), "ratio": 1.0})
    new, _ = best_of(lambda: run(extract))
    rows.append({"what": "fields.extract", "seconds": round(new, 3), "ratio": round(new / base, 3)})
    if args.compare_with:
        old_schema = module_from_file(args.compare_with, "old_schema")
        old, _ = best_of(lambda: run(old_schema.payload_fields))
        rows.append(
            {"what": f"payload_fields of {args.compare_with}", "seconds": round(old, 3), "ratio": round(old / base, 3)}
        )
    text = table(rows, ["what", "seconds", "ratio"])
    print(f"{args.payloads} payloads\n{text}")
    write_results(
        "fields", {"payloads": args.payloads, "rows": rows}, f"{args.payloads} payloads, best of 3\n\n{text}\n"
    )


if __name__ == "__main__":
    main()
