"""What a db file must be before the simulator writes to it, and who owns it while a simulator runs.

Pointing ``--db`` at the wrong file should cost a clear message, not a traceback or someone else's data: a file that
is not SQLite, another application's database (the simulator would add its tables to it), a db written by a newer
simulator (its migrations are unknown here), or one a running simulator already owns (two schedulers on one db
would each fire every transition and webhook).
"""
from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path

if sys.platform != "win32":  # Windows has no advisory locks: no DbLock there; documented (docs/architecture.md)
    import fcntl

CREATED_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([A-Za-z_][A-Za-z0-9_]*)", re.I)


class DatabaseUnusable(RuntimeError):
    """The db file cannot be used; the message says why and what to do."""


def lock_path(db: str) -> str:
    return db + ".lock"


def check_file(db: str, migrations: Iterable[tuple[int, str, str]]) -> None:
    """Raise DatabaseUnusable unless ``db`` is missing, empty, or a provider-simulator db this version can run."""
    path = Path(db)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        return
    if not path.is_file():
        raise DatabaseUnusable(f"{db} is not a file; give --db a file path (or :memory:)")
    known = list(migrations)
    ours = {t for _, _, sql in known for t in CREATED_TABLE.findall(sql)}
    try:
        # Read-only: nothing is written to a file that may turn out not to be ours.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DatabaseUnusable(f"{db} cannot be opened ({exc})") from None
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        applied: list[tuple[int, str]] = []
        if "schema_migrations" in tables:
            applied = [(int(r[0]), str(r[1])) for r in conn.execute("SELECT version, name FROM schema_migrations")]
    except sqlite3.DatabaseError as exc:
        raise DatabaseUnusable(
            f"{db} is not a usable SQLite database ({exc}); move it aside or choose another --db") from None
    finally:
        conn.close()
    if tables and "schema_migrations" not in tables and not tables & ours:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise DatabaseUnusable(
            f"{db} belongs to another application (tables: {shown}); the simulator will not add its tables to it."
            " Choose another --db")
    known_names = {name for _, name, _ in known}
    newer = sorted(name for _, name in applied if name not in known_names)
    if newer:
        raise DatabaseUnusable(
            f"{db} was written by a newer provider-simulator (migrations unknown to this version: {', '.join(newer)});"
            " upgrade, or choose another --db")


class DbLock:
    """An exclusive advisory lock on ``<db>.lock`` (flock), held while a simulator has the db open.

    A sidecar file, not the db itself: SQLite's POSIX locks on the db would be dropped when any other descriptor
    of it in this process is closed. The kernel releases a flock when its holder dies, so kill -9 leaves no
    stale lock behind; the pid written into the file is only for the message.
    """

    def __init__(self, db: str) -> None:
        self.db = db
        self._fd: int | None = None

    def acquire(self) -> None:
        if sys.platform == "win32" or self._fd is not None:
            return
        fd = os.open(lock_path(self.db), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise DatabaseUnusable(
                f"{self.db} is in use by another running provider-simulator{who}; stop it, or give this one"
                " another --db") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing drops the flock; the file stays (removing it would race a waiter)
            self._fd = None


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        if text.isdigit():
            return text
    return ""


def preflight(db: str, migrations: Iterable[tuple[int, str, str]]) -> None:
    """Everything the store's open would refuse, checked before a server starts (a clean message, no traceback)."""
    if db == ":memory:":
        return
    check_file(db, migrations)
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    probe = DbLock(db)
    probe.acquire()
    probe.release()
