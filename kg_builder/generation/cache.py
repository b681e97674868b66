"""A content-addressed cache of model answers (SQLite in the run folder).

Key = sha256 of (stage, model, prompt version, input). A rerun, or a rerun after a crash or
Ctrl-C, finds every answer already paid for; failures are kept with their reason so that
``--retry-failed`` can retry only those.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any


def cache_key(stage: str, model: str, prompt_version: str, payload: dict[str, Any]) -> str:
    blob = json.dumps([stage, model, prompt_version, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class StageCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Several processes may share it (`miko build --engine ray`): wait for a writer's lock.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                   timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, stage TEXT NOT NULL, "
            "status TEXT NOT NULL, value TEXT, reason TEXT, tokens_in INTEGER, tokens_out INTEGER, "
            "created REAL NOT NULL)")

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT value FROM answers WHERE key = ? AND status = 'ok'", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def failure(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT reason FROM answers WHERE key = ? AND status = 'failed'", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, stage: str, value: dict[str, Any], tokens_in: int = 0,
            tokens_out: int = 0) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, 'ok', ?, NULL, ?, ?, ?)",
            (key, stage, json.dumps(value, ensure_ascii=False), tokens_in, tokens_out, time.time()))

    def fail(self, key: str, stage: str, reason: str) -> None:
        self._db.execute(
            "INSERT INTO answers VALUES (?, ?, 'failed', NULL, ?, 0, 0, ?) "
            "ON CONFLICT(key) DO UPDATE SET status = 'failed', reason = excluded.reason "
            "WHERE answers.status != 'ok'",
            (key, stage, reason, time.time()))

    def close(self) -> None:
        self._db.close()
