"""Job history and settings in one SQLite file (survives server restarts; WAL so readers never block the
job threads' updates)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    params TEXT NOT NULL,          -- what the Run page sent (JSON)
    argv TEXT NOT NULL,            -- the engine command (JSON list; never a shell string)
    layout TEXT NOT NULL,          -- the engine's output layout (JSON)
    state TEXT NOT NULL,           -- queued / running / done / failed / cancelled / interrupted
    stage TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    progress REAL NOT NULL DEFAULT 0,
    frame_start INTEGER,
    frame_end INTEGER,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,                    -- {"message", "hint", "code"} (JSON)
    warnings TEXT NOT NULL DEFAULT '[]',
    run_ids TEXT NOT NULL DEFAULT '[]',
    pid INTEGER,
    started REAL,
    ended REAL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
JSON_COLUMNS = ("params", "argv", "layout", "error", "warnings", "run_ids")


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _row(self, row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        job = dict(row)
        for key in JSON_COLUMNS:
            job[key] = json.loads(job[key]) if job[key] is not None else None
        return job

    def add_job(self, params: dict, argv: list[str], layout: dict) -> int:
        with self._lock:
            cur = self._db.execute("INSERT INTO jobs (created, params, argv, layout, state) VALUES (?, ?, ?, ?, ?)",
                                   (time.time(), json.dumps(params), json.dumps(argv), json.dumps(layout), "queued"))
            return int(cur.lastrowid)

    def update(self, job_id: int, **fields: Any) -> None:
        if not fields:
            return
        values = [json.dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in fields.items()]
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                             (*values, job_id))

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self._lock:
            return self._row(self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def jobs(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if states:
                rows = self._db.execute(f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(states))}) "
                                        "ORDER BY id", states).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall()
        return [self._row(r) for r in rows]

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {r["key"]: json.loads(r["value"]) for r in self._db.execute("SELECT * FROM settings")}

    def save_settings(self, values: dict[str, Any]) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in values.items()])
