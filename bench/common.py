"""Shared bench helpers: start/stop servers by PID, one temporary directory for everything a run writes, machine
description, RSS, loadgen runs, medians."""
from __future__ import annotations

import atexit
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import httpx2 as httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
PROVIDER_SIM = str(Path(PY).with_name("provider-sim"))
RESULTS = BENCH / "results"

BIRD_KEY = "sim-bird-access-key-0001"
WS = "5b4b2a1e-0000-4000-8000-00000000a001"
CH_US = "7c0f4a8e-0000-4000-8000-00000000c001"
CH_NL = "7c0f4a8e-0000-4000-8000-00000000c002"
SEND_PATH = f"/workspaces/{WS}/channels/{CH_NL}/messages"
AUTH = {"Authorization": f"AccessKey {BIRD_KEY}"}


_SYSTEM_TMP = tempfile.gettempdir()
_SYSTEM_TMPDIR = os.environ.get("TMPDIR")
_WORK: tempfile.TemporaryDirectory[str] | None = None
_PROCS: list[Proc] = []


def workdir() -> Path:
    """The run's temporary directory: every server's db (with its WAL and media), copies of the scale db and any
    temporary file of a bench process or of the servers it starts (TMPDIR points here). Removed when the process
    exits, also after a failure, Ctrl-C or SIGTERM; the servers still running are stopped first."""
    global _WORK
    if _WORK is None:
        _WORK = tempfile.TemporaryDirectory(prefix="provider-sim-bench-", dir=_SYSTEM_TMP)
        os.environ["TMPDIR"] = tempfile.tempdir = _WORK.name
        atexit.register(cleanup)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                # The default action ends the process without unwinding: no finally, no atexit, files left behind.
                signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    return Path(_WORK.name)


def temp_db(prefix: str = "sim") -> str:
    """A fresh db path in its own directory under workdir(), so discard() removes it with its WAL and media."""
    return str(Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=workdir())) / "sim.db")


def discard(db: str) -> None:
    """Remove a db made by temp_db() (and whatever sits beside it) once its server has stopped: a long run keeps
    only the db it is using on disk."""
    shutil.rmtree(Path(db).parent, ignore_errors=True)


def track(proc: Proc) -> Proc:
    """Have cleanup() stop ``proc`` if it is still running when the bench process exits."""
    _PROCS.append(proc)
    return proc


def cleanup() -> None:
    """Stop every server this process started and remove workdir(). Runs at exit; safe to call twice."""
    global _WORK
    for proc in _PROCS:
        proc.stop()
    _PROCS.clear()
    if _WORK is not None:
        _WORK.cleanup()
        _WORK = None
        tempfile.tempdir = None
        if _SYSTEM_TMPDIR is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = _SYSTEM_TMPDIR


def send_body(i: int = 0) -> str:
    """A realistic ~200-byte Bird SMS send (a number whose scripted outcome is 'delivered')."""
    return json.dumps({"receiver": {"contacts": [{"identifierValue": f"+3161234{i % 1000:04d}0"}]},
                       "body": {"type": "text", "text": {"text": f"Your code is {100000 + i}. It expires in 10 minutes."}},
                       "reference": f"order-{i}", "tags": ["otp"]}, separators=(",", ":"))


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    versions = {}
    for dist in ("provider-simulator", "starlette", "uvicorn", "uvloop", "httptools", "aiosqlite", "jsonschema",
                 "httpx2", "aiohttp", "hypothesis", "pyinstrument"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    import sqlite3

    mem_gb = None
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem_gb = round(mem_kb / 1024 / 1024, 1)
    except (OSError, AttributeError):
        pass
    load = os.getloadavg()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "os": platform.platform(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "versions": versions,
            "loadavg_at_start": [round(x, 2) for x in load]}


def rss_mb(pid: int) -> float:
    """Resident set size of a process and its children, MB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{p}/status").read_text())
            if m:
                total += int(m.group(1))
        except OSError:
            pass
    return round(total / 1024, 1)


def loaded_libraries(pid: int) -> dict[str, bool]:
    """Which fast paths the server process actually loaded (from /proc/<pid>/maps)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return {}
    return {"uvloop": "uvloop" in maps, "httptools": "httptools" in maps}


@dataclass
class Proc:
    popen: subprocess.Popen[str]
    port: int
    started_s: float
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if "discard" in self.extra:
            discard(self.extra.pop("discard"))


def _spawn(cmd: list[str], pattern: str, health: str, log_name: str, env: dict[str, str] | None = None,
           timeout: float = 30) -> Proc:
    workdir()  # before the child starts: it inherits TMPDIR, and exit stops it
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / log_name
    t0 = time.perf_counter()
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, cwd=ROOT,
                             env={**os.environ, **(env or {})})
    proc = track(Proc(popen, 0, 0.0, log))
    assert popen.stdout is not None
    port = None
    deadline = time.monotonic() + timeout
    while port is None:
        line = popen.stdout.readline()
        if not line:
            raise RuntimeError(f"{cmd} exited before binding; see {log}")
        m = re.search(pattern, line)
        if m:
            port = int(m.group(1))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{cmd} did not print its port")
    with httpx.Client(timeout=1.0) as client:
        while True:
            try:
                # A fresh connection every poll, as a test harness waiting for readiness would do.
                if client.get(f"http://127.0.0.1:{port}{health}", headers={"Connection": "close"}).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd} never answered 200 on {health}")
            time.sleep(0.005)
    started = time.perf_counter() - t0
    # Drain stdout in the background so a chatty server never blocks on a full pipe.
    import threading

    threading.Thread(target=lambda: [None for _ in popen.stdout], daemon=True).start()  # type: ignore[union-attr]
    proc.port, proc.started_s = port, started
    return proc


def start_simulator(db: str | None = None, extra_args: list[str] | None = None, env: dict[str, str] | None = None
                    ) -> Proc:
    """`provider-sim serve` on a free port; without ``db``, on a fresh one that is removed when it stops."""
    own_db = db is None
    db = db or temp_db("bench-sim")
    cmd = [PROVIDER_SIM, "serve", "--port", "0", "--db", db, "--clock", "manual", *(extra_args or [])]
    proc = _spawn(cmd, r"listening on http://[\d.]+:(\d+)", "/_sim/health", "simulator.log", env)
    proc.extra["db"] = db
    if own_db:
        proc.extra["discard"] = db
    return proc


def start_baseline() -> Proc:
    return _spawn([PY, str(BENCH / "baseline_app.py"), "--port", "0"], r"listening on (\d+)", "/health",
                  "baseline.log")


def written(pid: int | str = "self") -> tuple[int, int]:
    """Bytes the process has passed to write calls and how many calls it made (/proc/<pid>/io wchar, syscw):
    counts, which hold steady on a noisy host where CPU time does not."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["wchar"]), int(fields["syscw"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (from /proc; 0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadgen(port: int, path: str, *, method: str = "POST", headers: dict[str, str] | None = None,
            bodies: list[str] | None = None, conns: int = 1, duration: float = 5.0, warmup: float = 0.5,
            pid: int | None = None) -> dict[str, Any]:
    """One bounded load run. With ``pid`` (the server's), also the server's CPU time per answered request and
    its CPU use while loaded (1.0 = one core busy): unlike req/s, these hardly move when the host is noisy."""
    spec = {"port": port, "method": method, "path": path, "headers": headers or {}, "bodies": bodies or [""],
            "conns": conns, "duration": duration, "warmup": warmup}
    cpu0 = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run([PY, str(BENCH / "loadgen.py")], input=json.dumps(spec), capture_output=True, text=True,
                         timeout=duration + warmup + 60, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if pid and result.get("answered"):
        cpu = cpu_seconds(pid) - cpu0
        result["server_cpu_us_per_req"] = round(cpu / result["answered"] * 1e6, 1)
        result["server_cpu_share"] = round(cpu / (duration + warmup), 2)  # over the loaded seconds
    return result


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return round(statistics.median(values), 3) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


@contextmanager
def stopping(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"
