"""Print the consolidator's OpenAPI document: `python -m memwatch.consolidator.openapi`.

docs/consolidator.openapi.json is this output, committed; tests/consolidator/test_openapi.py
checks it is current and holds the served answers to it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from memwatch.consolidator.app import create_app
from memwatch.consolidator.storage.sqlite import SqliteRepository


def document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = SqliteRepository(Path(tmp) / "openapi.sqlite")
        try:
            return create_app(repo).openapi()
        finally:
            repo.close()


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(text(), end="")
