"""Running `memwatch doctor` in-process (click's CliRunner) on spec text, for the doctor
tests of every backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from memwatch.cli import main


@dataclass
class Outcome:
    code: int
    text: str  # stdout and stderr
    rows: list[dict[str, str]]  # --format json: store, check, status, message

    def statuses(self, store: str | None = None) -> dict[str, str]:
        """check -> status (the last of a repeated check wins: use `messages` for all)."""
        return {r["check"]: r["status"] for r in self.rows if store in (None, r["store"])}

    def messages(self, check: str, status: str | None = None) -> list[str]:
        return [r["message"] for r in self.rows
                if r["check"] == check and status in (None, r["status"])]

    def message(self, check: str, status: str | None = None) -> str:
        found = self.messages(check, status)
        assert len(found) == 1, (check, status, self.rows)
        return found[0]


def doctor(tmp_path: Path, spec_text: str, *args: str, fmt: str = "json") -> Outcome:
    spec = tmp_path / "doctor-spec.yaml"
    spec.write_text(spec_text)
    result = CliRunner().invoke(main, ["doctor", "--spec", str(spec), "--format", fmt,
                                       *args])
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    rows = json.loads(result.stdout) if fmt == "json" and result.exit_code in (0, 1) else []
    return Outcome(result.exit_code, text, rows)
