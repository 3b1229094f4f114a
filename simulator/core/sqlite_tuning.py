"""Process-wide SQLite settings, for a process that is the simulator's own (``provider-sim serve``).

SQLite keeps memory statistics by default: every allocation and free it makes takes a global mutex and updates
counters that only ``sqlite3_memory_used()`` and a soft heap limit read, and the simulator reads neither. With them
off a Bird send costs ~5 % fewer instructions (725.7 k instead of 763.9 k, ``bench/instructions.py send``) and the
SQL alone ~9 % fewer. Python's ``sqlite3`` has no switch for it: ``sqlite3_config()`` is reached through ctypes, on
the very library ``_sqlite3`` loaded, and only while no connection is open (it needs ``sqlite3_shutdown()`` first).
That is why only the CLI's ``serve`` calls this, before it opens its db; a test process may hold connections of
its own, so the in-process ``Simulator`` leaves SQLite as it finds it.
"""
from __future__ import annotations

import importlib
import sys

SQLITE_OK = 0
SQLITE_CONFIG_MEMSTATUS = 9

memory_statistics_off = False  # reported by /_sim/health


def loaded_library() -> str | None:
    """The path of the SQLite library Python's ``_sqlite3`` is linked to; None where that cannot be known (not
    Linux, or SQLite built into the module). Loading any other copy would configure a library no one uses."""
    if sys.platform != "linux":
        return None
    importlib.import_module("sqlite3")  # maps the library if nothing has yet

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and "/libsqlite3" in fields[5]:
                    return fields[5].strip()
    except OSError:
        return None
    return None


def stop_memory_statistics() -> bool:
    """Turn SQLite's memory statistics off for this process. Call it before any connection is opened.
    Returns whether they are off now; when the library cannot be reached nothing changes."""
    global memory_statistics_off
    import ctypes

    path = loaded_library()
    if path is None:
        return False
    try:
        lib = ctypes.CDLL(path)  # the library already mapped: dlopen hands back the same handle
    except OSError:
        return False
    if lib.sqlite3_shutdown() != SQLITE_OK:
        return False
    configured: bool = lib.sqlite3_config(SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == SQLITE_OK
    lib.sqlite3_initialize()
    memory_statistics_off = memory_statistics_off or configured
    return configured
