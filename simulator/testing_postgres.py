"""A throwaway PostgreSQL server for tests and benchmarks: found or installed, started on a free port in a
temporary data directory, stopped and removed at the end.

    with ThrowawayPostgres() as pg:
        url = pg.create_database("sim")          # postgresql://...:port/sim, empty
        ...                                      # provider-sim serve --db <url>, Simulator(Settings(db=url))

It looks for the server's binaries (``initdb``, ``pg_ctl``) under /usr/lib/postgresql/*/bin, on PATH and where
``pg_config --bindir`` says; where there are none and this is a Debian machine run as root, it installs Debian's
``postgresql`` package. PostgreSQL refuses to run as root, so as root the server runs as a dedicated system user
(created once). It listens on 127.0.0.1 and a private unix-socket directory, trusts local connections, and runs
without fsync (a test server loses nothing it needs when the machine stays up). ``stop()`` and ``start()`` take the
same server down and up again on the same port and data (an outage drill); ``close()`` removes everything.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

SERVICE_USER = "provider-sim-pg"  # the system user a root process runs the server as


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


def find_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl (the newest version found), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,  # noqa: S603 - found
                                    timeout=10).stdout
            candidates.append(bindir.strip())
    for directory in candidates:
        if directory and (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    return None


def _version_key(path: str) -> float:
    with contextlib.suppress(ValueError):
        return float(Path(path).parent.name)
    return 0.0


def install_binaries() -> Path:
    """Install Debian's postgresql package (root on Debian only) and return its binaries' directory."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) here; install PostgreSQL 13 or"
                                  " newer (Debian: apt-get install postgresql)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)  # noqa: S603 - fixed
        if done.returncode != 0 and command[1] == "install":
            raise PostgresUnavailable(f"apt-get install postgresql failed: {done.stderr.strip()[-500:]}")
    found = find_binaries()
    if found is None:
        raise PostgresUnavailable("apt-get installed postgresql but no initdb/pg_ctl was found")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_user() -> tuple[str | None, int | None, int | None]:
    """(user, uid, gid) to run the server as: None when this process is not root (it runs as itself)."""
    if os.geteuid() != 0:
        return None, None, None
    import pwd

    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",  # noqa: S603, S607 - fixed command
                        "/usr/sbin/nologin", SERVICE_USER], capture_output=True, check=False)
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise PostgresUnavailable(f"running as root, and the user {SERVICE_USER!r} that PostgreSQL must run as"
                                      " could not be created (useradd)") from None
    return SERVICE_USER, entry.pw_uid, entry.pw_gid


def _shared_tmp() -> str | None:
    """A temporary directory every user can enter (/tmp), where there is one; else the default."""
    return "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else None  # noqa: S108 - see above


class ThrowawayPostgres:
    def __init__(self, *, bindir: Path | None = None, install: bool = True, root: Path | None = None,
                 port: int | None = None, fsync: bool = False) -> None:
        """``root``: a directory that keeps the data (``provider-sim postgres --dir``; initialized on first use,
        kept by ``close()``) instead of a temporary one; ``fsync``: durable commits, for data that is kept."""
        found = bindir or find_binaries() or (install_binaries() if install else None)
        if found is None:
            raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) here")
        self.bindir: Path = found
        self.user, self._uid, self._gid = _service_user()
        self._keep = root is not None
        # Under /tmp itself, not $TMPDIR: that may be a directory only its owner can enter (the benchmarks' is),
        # and the server runs as another user.
        self.root = root.resolve() if root is not None else Path(tempfile.mkdtemp(prefix="provider-sim-pg-",
                                                                                  dir=_shared_tmp()))
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.port = port or _free_port()
        self.fsync = fsync
        self.running = False
        self._initialized = (self.data / "PG_VERSION").exists()

    # -- life cycle -----------------------------------------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True,  # noqa: S603
                              timeout=timeout, user=self._uid, group=self._gid, cwd=self.root, check=False)

    def start(self) -> ThrowawayPostgres:
        """Start the server (initializing its data directory the first time)."""
        if self.running:
            return self
        if not self._initialized:
            for path in (self.root, self.sockets):
                path.mkdir(parents=True, exist_ok=True)
                if self._uid is not None and self._gid is not None:
                    os.chown(path, self._uid, self._gid)
            done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                             "--no-sync", "--locale=C")
            if done.returncode != 0:
                raise PostgresUnavailable(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")
            self._initialized = True
        for path in (self.root, self.sockets):  # the socket directory of a kept root may be gone (e.g. a tmpfs)
            path.mkdir(parents=True, exist_ok=True)
            if self._uid is not None and self._gid is not None:
                os.chown(path, self._uid, self._gid)
        durability = "" if self.fsync else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1{durability}"
                   " -c max_connections=200")
        done = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                         "-w", "-t", "60", "start")
        if done.returncode != 0:
            server_log = self.root / "server.log"
            log = server_log.read_text(errors="replace")[-1500:] if server_log.exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {(done.stderr or done.stdout).strip()[-500:]}\n{log}")
        self.running = True
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: sessions are ended, what was committed stays); ``start()`` brings it back."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def close(self) -> None:
        """Stop the server and remove its data (a ``root`` given by the caller stays, stopped cleanly)."""
        with contextlib.suppress(Exception):
            self.stop("fast" if self._keep else "immediate")
        if not self._keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- databases ----------------------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` through psql (as the server's superuser); its output."""
        psql = self.bindir / "psql"
        done = subprocess.run([str(psql if psql.exists() else "psql"), "-X", "-q", "-A", "-t",  # noqa: S603
                               "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                              capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create an empty database (or a copy of ``template``); its URL."""
        clause = f' TEMPLATE "{template}"' if template else ""
        for attempt in range(20):
            try:
                self.psql(f'CREATE DATABASE "{name}"{clause}')
                break
            except RuntimeError as exc:
                # A template is busy for a moment after its last connection went (the server reaps it).
                if "is being accessed by other users" not in str(exc) or attempt == 19:
                    raise
                time.sleep(0.05)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
