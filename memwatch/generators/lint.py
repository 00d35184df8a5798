"""`gen-monitoring lint`: the real tools (promtool, amtool) plus memwatch's own rule lint,
in the manner of mixtool's: names, severities, annotations, bounded aggregation labels."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from memwatch.catalogue import SEVERITIES
from memwatch.generators import alertmanager, prometheus
from memwatch.generators.output import MANIFEST, owned_files
from memwatch.generators.ruletests import TESTS_DIR

CAMEL = re.compile(r"^[A-Z][a-zA-Z0-9]*$")
BY_CLAUSE = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
# Labels whose values grow with the data: an alert grouped by one pages once per value.
# memwatch's own `namespace` is not among them: the exporter caps it at max_namespaces (the
# rest is `__other__`), and MemoryNamespaceLost pages per namespace on purpose.
UNBOUNDED = {"user_id", "agent_id", "run_id", "session_id", "memory_id", "id", "event_id",
             "uuid", "path"}
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def passed(self, what: str) -> None:
        self.lines.append(f"ok       {what}")

    def failed(self, what: str, detail: str) -> None:
        self.ok = False
        self.lines.append(f"FAILED   {what}")
        self.lines += [f"         {line}" for line in detail.strip().splitlines()]

    def skipped(self, what: str, why: str) -> None:
        self.lines.append(f"skipped  {what}: {why}")


def _tool(report: Report, what: str, argv: list[str], cwd: Path,
          each: Sequence[str] = ()) -> None:
    """Run the tool on `argv` plus every file of `each`; several files run one tool each,
    side by side (promtool tests one file after another on one core)."""
    if shutil.which(argv[0]) is None:
        package = "prometheus-alertmanager" if argv[0] == "amtool" else "prometheus"
        report.skipped(what, f"{argv[0]} not found (Debian: apt-get install {package})")
        return

    def run(files: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*argv, *files], cwd=cwd, capture_output=True, text=True,
                              timeout=600)

    batches = [[f] for f in each] or [[]]
    with ThreadPoolExecutor(max(1, min(len(batches), os.cpu_count() or 1))) as pool:
        procs = list(pool.map(run, batches))
    if all(p.returncode == 0 for p in procs):
        report.passed(what)
    else:
        report.failed(what, "".join(p.stdout + p.stderr for p in procs if p.returncode))


def lint_rules(groups: list[dict[str, Any]]) -> list[str]:
    """memwatch's own checks on alert rules; returns the problems found."""
    problems = []
    for group in groups:
        for rule in group.get("rules", []):
            name = rule.get("alert")
            if name is None:
                continue
            where = f"{group.get('name')}/{name}"
            if not CAMEL.match(name):
                problems.append(f"{where}: alert name is not CamelCase")
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                problems.append(f"{where}: severity {severity!r} not in {list(SEVERITIES)}")
            annotations = rule.get("annotations") or {}
            for key in REQUIRED_ANNOTATIONS:
                if not str(annotations.get(key, "")).strip():
                    problems.append(f"{where}: annotation {key} missing")
            for clause in BY_CLAUSE.findall(str(rule.get("expr", ""))):
                labels = {x.strip() for x in clause.split(",") if x.strip()}
                if labels & UNBOUNDED:
                    problems.append(f"{where}: aggregates by unbounded label(s) "
                                    f"{sorted(labels & UNBOUNDED)}")
    return problems


def _in(folder: str, rel: str) -> bool:
    path = PurePosixPath(rel)
    return path.parent.as_posix() == folder and path.suffix == ".yml"


def _lint_rules(report: Report, out: Path, present: set[str]) -> None:
    rule_files = sorted(rel for rel in present if _in("rules", rel))
    tests = sorted(rel for rel in present if _in(TESTS_DIR, rel))
    if not rule_files:
        report.failed("rules", f"no rule files under {out / 'rules'}")
        return
    _tool(report, "promtool check rules", ["promtool", "check", "rules", *rule_files], out)
    groups = [g for f in rule_files
              for g in (yaml.safe_load((out / f).read_text()) or {}).get("groups", [])]
    if any(r.get("alert") for g in groups for r in g.get("rules") or []):
        problems = lint_rules(groups)
        if problems:
            report.failed("memwatch rule lint", "\n".join(problems))
        else:
            report.passed("memwatch rule lint (names, severities, annotations, "
                          "bounded by-labels)")
    if tests:
        _tool(report, "promtool test rules", ["promtool", "test", "rules"], out, each=tests)


def lint_tree(out: Path) -> Report:
    """Lint the files render wrote into `out` (its manifest's list): never a file of the
    user's beside them, nor one an earlier render left that the next one removes."""
    report = Report()
    owned = owned_files(out)
    missing = sorted(rel for rel in owned if not (out / rel).is_file())
    if missing:
        report.failed(f"the files {MANIFEST} lists", "\n".join(
            f"{rel}: missing; run gen-monitoring render" for rel in missing))
    present = set(owned) - set(missing)
    _lint_rules(report, out, present)
    for path, what, argv in ((prometheus.PATH, "promtool check config",
                              ["promtool", "check", "config"]),
                             (alertmanager.PATH, "amtool check-config", ["amtool",
                                                                          "check-config"])):
        if path in present:
            _tool(report, what, [*argv, path], out)
        else:
            report.skipped(what, f"no {out / path}")
    return report
