"""gen-monitoring on a 200-store spec: wall time of the whole command, as a user runs it.

    .venv/bin/python bench/gen_bench.py [--stores 200] [--runs 5]

Prints a Markdown table; the numbers go in docs/benchmarks.md (target: under 2 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = [
    "{{name: oc{i}, preset: openclaw-mem, path: /data/{i}.sqlite, expected_dimension: 1536}}",
    "{{name: m{i}, preset: mem0-pgvector, dsn: env:DSN, expected_dimension: 1536, "
    "baseline: 100}}",
    "{{name: h{i}, preset: mem0-history, path: /data/{i}/history.db}}",
    "{{name: b{i}, preset: files, files: [{{name: dumps, glob: /b/{i}/*, max_age: 36h}}]}}",
]


def spec_text(n: int) -> str:
    lines = [PRESETS[i % len(PRESETS)].format(i=i) for i in range(n)]
    return "stores:\n" + "".join(f"  - {line}\n" for line in lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        spec.write_text(spec_text(args.stores))
        times, files = [], 0
        for run in range(args.runs):
            out = Path(tmp) / f"out{run}"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "memwatch.generators", "render", "--spec",
                            str(spec), "--out", str(out)], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
            files = sum(1 for p in out.rglob("*") if p.is_file())
        rules = (Path(tmp) / "out0" / "rules" / "alerts.yml").read_text().count("- alert:")
    print("| stores | files | alert rules | median s | max s |")
    print("|--:|--:|--:|--:|--:|")
    print(f"| {args.stores} | {files} | {rules} | {statistics.median(times):.2f} | "
          f"{max(times):.2f} |")


if __name__ == "__main__":
    main()
