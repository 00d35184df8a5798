"""gen-monitoring on specs of 200 and 1,000 stores: wall time of the whole command, as a user
runs it (interpreter start, imports, spec load, render, writing the files).

    .venv/bin/python bench/gen_bench.py [--stores 200 1000] [--runs 5]

Prints a Markdown table; the numbers go in docs/benchmarks.md (targets: 1,000 stores under
1.5 s, 200 under 0.5 s). The CPU column (user + system time of the command) moves less than
the wall time when other work shares the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(spec: Path, out: Path) -> tuple[float, float]:
    """(wall s, cpu s) of one `gen-monitoring render`."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "memwatch.generators", "render", "--spec",
                    str(spec), "--out", str(out)], check=True, capture_output=True)
    return time.perf_counter() - start, _children_cpu() - cpu


def measure(stores: int, runs: int, tmp: Path) -> str:
    """One table row: the spec rendered `runs` times into fresh directories."""
    spec = tmp / f"spec-{stores}.yaml"
    spec.write_text(spec_text(stores))
    times = [run_once(spec, tmp / f"out-{stores}-{run}") for run in range(runs)]
    out = tmp / f"out-{stores}-0"
    files = sum(1 for p in out.rglob("*") if p.is_file())
    rules = (out / "rules" / "alerts.yml").read_text().count("- alert:")
    wall = [w for w, _ in times]
    cpu = statistics.median(c for _, c in times)
    return (f"| {stores:,} | {files:,} | {rules:,} | {statistics.median(wall):.2f} | "
            f"{max(wall):.2f} | {cpu:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", type=int, nargs="+", default=[200, 1000])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, args.runs, Path(tmp)) for n in args.stores]
    print(f"{args.runs} runs each; load average {load:.1f} before, {os.getloadavg()[0]:.1f} "
          f"after; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    print("| stores | files | alert rules | median s | max s | median CPU s |")
    print("|--:|--:|--:|--:|--:|--:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
