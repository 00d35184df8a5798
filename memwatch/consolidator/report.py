"""The daily Markdown report: per store the day's trend, the alerts, and the recurring
patterns; plain enough for a person and for an agent reading it as context."""

from __future__ import annotations

from pathlib import Path

from memwatch.consolidator.knowledge import Entry, KnowledgeBase
from memwatch.consolidator.records import AlertRecord, DailyRow
from memwatch.consolidator.storage.base import Repository


def _num(v: float | None, fmt: str = "{:g}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(day: str, rows: list[DailyRow], alerts: list[AlertRecord],
           entries: list[Entry]) -> str:
    """`alerts`: the occurrences that started on `day`; `entries`: the knowledge base."""
    out = [f"# memwatch daily report {day}", ""]
    out += ["## Trends", "",
            "| store | last | min | max | mean | net change | largest drop | uptime "
            "| alerts fired | time in alert (s) | snapshots | gaps |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r.store):
        fired = ", ".join(f"{k} {v}" for k, v in r.fired.items()) or "0"
        out.append(f"| {_cell(r.store)} | {_num(r.count_last)} | {_num(r.count_min)} | "
                   f"{_num(r.count_max)} | {_num(r.count_mean, '{:.1f}')} | "
                   f"{_num(r.net_change, '{:+g}')} | {_num(r.largest_drop)} | "
                   f"{_num(r.uptime_ratio, '{:.1%}')} | {fired} | {r.alert_seconds:g} | "
                   f"{r.snapshots} | {r.gaps} |")
    out += ["", "## Alerts", ""]
    if not alerts:
        out.append("No alert fired.")
    for a in sorted(alerts, key=lambda a: (a.starts_at, a.fingerprint)):
        end = f"resolved {a.resolved_at[11:19]}Z" if a.resolved_at else "not resolved"
        summary = a.annotations.get("summary", "")
        out.append(f"- {a.starts_at[11:19]}Z **{_cell(a.alertname)}** ({a.severity or 'none'})"
                   f" on `{a.store}`, {end}" + (f": {_cell(summary)}" if summary else ""))
    out += ["", "## Recurring patterns", ""]
    if not entries:
        out.append("None yet.")
    for e in sorted(entries, key=lambda e: (-e.pattern.occurrences, e.key)):
        p = e.pattern
        mean = "" if p.mean_duration_seconds is None else \
            f", mean duration {p.mean_duration_seconds:g} s"
        out.append(f"### {_cell(e.title)}")
        out.append("")
        out.append(f"`{e.key}`: {p.occurrences} times on {p.days} days{mean}; "
                   f"first {p.first_seen[:10]}, last {p.last_seen[:10]}. "
                   f"Severity {e.severity}, category {e.category}.")
        if e.solution:
            out += ["", e.solution]
        if e.steps:
            out += [""] + [f"{i}. {s}" for i, s in enumerate(e.steps, 1)]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def report_for(repo: Repository, kb: KnowledgeBase, day: str) -> str | None:
    """The report of a consolidated day as it stood at the day's end; None if the day was
    not consolidated. Exact for the days after the pruned alerts (every report written when
    its day is consolidated); a day older than the retention period lists only the alerts
    still stored, and its patterns count the archived series last seen by that day."""
    rows = [r for r in repo.daily() if r.day == day]
    if not rows:
        return None
    alerts = repo.alerts()
    until = [a for a in alerts if a.starts_at[:10] <= day]
    started = [a for a in alerts if a.starts_at[:10] == day]
    archived = [g for g in repo.alert_archive() if (g.last_seen or "")[:10] <= day]
    return render(day, rows, started, kb.entries(until, archived))


def write_reports(repo: Repository, kb: KnowledgeBase, days: list[str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for day in days:
        text = report_for(repo, kb, day)
        if text is not None:
            tmp = folder / f".{day}.md.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(folder / f"{day}.md")
