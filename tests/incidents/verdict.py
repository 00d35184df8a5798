"""What an incident test asserts, and the one place its measured time is written down: the
table of docs/incidents.md, which every replay checks its own row against."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from memwatch.catalogue import BY_NAME
from tests.helpers import exporter_for, run_integrity
from tests.incidents.replay import AFTER_MINUTES, Replay, Rules, Snapshot, start, timeline

DOC = Path(__file__).resolve().parents[2] / "docs" / "incidents.md"
NOT_CAUGHT = "not caught"


def for_minutes(alert: str) -> int:
    """The alert's default `for`, in minutes."""
    return int(BY_NAME[alert].for_seconds // 60)


@dataclass(frozen=True)
class Outcome:
    incident: Replay  # before, then the incident's after-scrapes
    baseline: Replay  # before, then a scrape with nothing changed


def replay_both(rules: Rules, before: Snapshot, still: Snapshot, after: Sequence[Snapshot],
                stores: Sequence[str], frozen: Sequence[str] = (),
                minutes: int = AFTER_MINUTES) -> Outcome:
    """Replay the incident and the baseline; the steady state and the baseline of every
    store fire nothing (so a control firing nothing new means firing nothing at all)."""
    pending = (start(rules, timeline(before, *after, frozen=frozen), minutes, "incident"),
               start(rules, timeline(before, still), minutes, "baseline"))
    inc, base = (finish() for finish in pending)
    assert not inc.before(), f"the steady state fires: {inc.before()}"
    for store in stores:
        assert not base.alerts(store, since=0), f"nothing changed, yet {base.alerts(store)}"
    return Outcome(inc, base)


def scrape_around(spec: str, change: Callable[[], None]
                  ) -> tuple[Snapshot, Snapshot, Snapshot]:
    """before, still (nothing changed), after `change()`: each after an integrity pass."""
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        change()
        run_integrity(exp)
        return before, still, Snapshot.take(exp)


def caught(out: Outcome, store: str, alert: str, within: int, **labels: str) -> int:
    """`alert` of `store` (with `labels`) fires within `within` minutes of the incident;
    returns the minutes it took."""
    took = out.incident.first(alert, store=store, **labels)
    assert took is not None, f"{alert} never fired; fired: {out.incident.alerts(store)}"
    assert took <= within, f"{alert} took {took} min (bound {within})"
    return took


def harmless(out: Outcome, control: str) -> None:
    """The control fires nothing the no-change replay did not."""
    new = out.incident.names(control) - out.baseline.names(control)
    assert not new, f"the control fired {new}"


# -- docs/incidents.md ----------------------------------------------------------------------

Row = tuple[str, str]  # the `fires after` and `pages` cells


def table(text: str | None = None) -> dict[tuple[str, str], Row]:
    """{(incident number, alert): (fires after, pages)} from the table's rows."""
    rows: dict[tuple[str, str], Row] = {}
    for line in (DOC.read_text() if text is None else text).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"\d+", cells[0]):
            alert = cells[4].strip("`")
            assert (cells[0], alert) not in rows, f"row {cells[0]} {alert} twice"
            rows[(cells[0], alert)] = (cells[5], cells[6].split(" ", 1)[0])
    return rows


def measured(out: Outcome, *stores: str) -> dict[str, Row]:
    """Every alert of `stores` that fired after the incident: its minutes to fire, and
    whether Alertmanager would notify it (`no`: inhibited whenever it fired)."""
    rows: dict[str, Row] = {}
    for store in stores:
        paged = out.incident.paged(store)
        for name in sorted(out.incident.names(store)):
            took = out.incident.first(name, store=store)
            assert name not in rows, f"{name} fired for two of {stores}"
            rows[name] = (f"{took} min", "yes" if name in paged else "no")
    return rows or {"—": (NOT_CAUGHT, "no")}


def documented(number: str, out: Outcome, *stores: str) -> None:
    """The doc's rows of incident `number` are what the replay measured: one per alert
    that fired for `stores` (minutes to fire, paged or inhibited), or `—`, `not caught`."""
    rows = {alert: row for (n, alert), row in table().items() if n == number}
    got = measured(out, *stores)
    assert rows == got, f"docs/incidents.md, incident {number}: {rows} != measured {got}"
