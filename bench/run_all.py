"""Run every benchmark (make bench). Prints each figure with its baseline, ratio and target verdict, and writes
bench/results/latest.json + latest.md. Never part of `make test`.

Usage: .venv/bin/python bench/run_all.py [--quick] [--only send,business_chat,startup,scale,webhooks,postgres,fleet]
       .venv/bin/python bench/run_all.py --only soak --minutes 30     (the soak runs only when named: soak.py)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1 run of 2 s each, 100k-message scale test")
    parser.add_argument("--only", default="send,business_chat,startup,scale,webhooks,postgres,fleet")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the soak (--only soak)")
    args = parser.parse_args()
    runs, duration = (1, 2.0) if args.quick else (3, 5.0)
    print(f"servers' dbs and temporary files: {common.workdir()} (removed at the end)")
    results: dict[str, object] = {"machine": common.machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    lines = ["# provider-simulator benchmarks", "", "machine: " + json.dumps(results["machine"]), ""]
    print("\n".join(lines), flush=True)
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        module = __import__("soak" if name == "soak" else f"bench_{name}")
        kwargs: dict[str, object] = {}
        if name in ("send", "business_chat"):
            kwargs = {"runs": runs, "duration": duration}
        elif name == "scale" and args.quick:
            kwargs = {"total": 100_000, "in_flight": 10_000, "n": 50}
        elif name == "fleet":
            kwargs = {"runs": 1, "duration": 2.0} if args.quick else {"runs": 2, "duration": duration}
        elif name == "postgres":
            kwargs = {"runs": 1, "duration": 2.0} if args.quick else {"runs": 2, "duration": duration}
        elif name == "soak":
            kwargs = {"minutes": 2.0 if args.quick else args.minutes}
        elif name == "webhooks" and args.quick:
            kwargs = {"events": 1000, "runs": 1, "messages": 500}
        t0 = time.perf_counter()
        try:
            result = module.run(**kwargs)
            section = module.report(result)
        except Exception as exc:  # noqa: BLE001 - one failing benchmark must not hide the others
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            section = [f"## {name}", f"FAILED: {result['error']}"]
        results[name] = result
        section.append(f"({name} took {time.perf_counter() - t0:.0f} s)")
        print("\n".join(section) + "\n", flush=True)
        lines += section + [""]
    results["loadavg_at_end"] = list(__import__("os").getloadavg())
    common.RESULTS.mkdir(exist_ok=True)
    (common.RESULTS / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    (common.RESULTS / "latest.md").write_text("\n".join(lines) + "\n")
    print(f"load average at end: {results['loadavg_at_end']}; written bench/results/latest.{{json,md}}")


if __name__ == "__main__":
    main()
