"""Masking: the masked JSON text of 100,000 payloads (what every delivery row costs), against json.dumps.

One command (~15 s)::

    .venv/bin/python benchmarks/bench_redact.py [--payloads 100000] [--compare-with OLD/slacklab/redact.py]

Payloads are the simulator's default scenario mix, each its own object as in a live
capture; slash commands and interactive payloads carry a ``response_url``, every
payload the verification ``token``. Timed, best of 3:

* baseline ``json.dumps`` (compact, not ASCII-escaped): serialising without masking;
* ``mask_json_text``: the masked text the ``payload`` column holds;
* ``mask_json`` then ``json.dumps``: the full walk the fast path must equal;
* with ``--compare-with``: ``mask_json_text`` of another checkout's ``redact.py``, e.g. the
  one before session tokens, hook URLs and secret keys were masked:
  ``git show d007cc6:slacklab/redact.py > /tmp/old_redact.py``.

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

from slacklab.redact import mask_json, mask_json_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=100_000)
    parser.add_argument("--compare-with", type=Path, help="a redact.py whose mask_json_text to time as well")
    args = parser.parse_args()
    _kinds, texts = scenario_sample(args.payloads)
    payloads = [json.loads(t) for t in texts]
    hooks = sum("hooks.slack" in t for t in texts) / len(texts)

    def run(fn: Any) -> None:
        for payload in payloads:
            fn(payload)

    rows: list[dict[str, Any]] = []
    base, _ = best_of(lambda: run(lambda p: json.dumps(p, ensure_ascii=False, separators=(",", ":"))))
    rows.append({"what": "json.dumps (baseline)", "seconds": round(base, 3), "ratio": 1.0})
    timed = [
        ("mask_json_text", mask_json_text),
        ("mask_json + json.dumps (full walk)", lambda p: json.dumps(mask_json(p), ensure_ascii=False)),
    ]
    if args.compare_with:
        old = module_from_file(args.compare_with, "old_redact")
        timed.append((f"mask_json_text of {args.compare_with}", old.mask_json_text))
    for what, fn in timed:
        seconds, _ = best_of(lambda fn=fn: run(fn))
        rows.append({"what": what, "seconds": round(seconds, 3), "ratio": round(seconds / base, 2)})
        print(f"{what:50s} {seconds:6.2f} s  ratio {seconds / base:.2f}", flush=True)
    note = (
        f"{len(payloads):,} payloads ({hooks:.0%} with a response_url), best of 3. "
        "The ratio is to serialising the same payloads without masking."
    )
    write_results(
        "redact", {"payloads": len(payloads), "rows": rows}, note + "\n\n" + table(rows, ["what", "seconds", "ratio"])
    )


if __name__ == "__main__":
    main()
