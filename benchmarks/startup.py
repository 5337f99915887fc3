"""CLI start-up: `derelayl --help`, `python -c "import derelayl"` and
`python -c "from derelayl import RelayProtocol"` beside `python -c pass`, measured in
the same run (interleaved, median of several runs each), so the figure that matters is
what derelayl adds to starting Python on this machine at this moment.

    .venv/bin/python benchmarks/startup.py     # or: make bench-startup

Writes benchmarks/results/startup.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands() -> dict[str, list[str]]:
    """What is timed, by label. `derelayl` is the console script next to this Python."""
    script = Path(sys.executable).with_name("derelayl")
    cli = [str(script)] if script.exists() else [shutil.which("derelayl") or "derelayl"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import derelayl": [sys.executable, "-c", "import derelayl"],
        "from derelayl import RelayProtocol": [sys.executable, "-c", "from derelayl import RelayProtocol"],
        "derelayl --help": [*cli, "--help"],
    }


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (median reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json")
    args = parser.parse_args()
    todo = commands()
    for command in todo.values():  # warm the file cache once, untimed
        timed(command)
    samples: dict[str, list[float]] = {label: [] for label in todo}
    for _ in range(args.runs):  # interleaved, so a busy moment weighs on every command alike
        for label, command in todo.items():
            samples[label].append(timed(command))
    baseline = statistics.median(samples["python -c pass"])
    rows = []
    print(f"{'command':<36} {'median s':>9} {'own s':>7} {'x python':>9}")
    for label, times in samples.items():
        median = statistics.median(times)
        rows.append({"command": label, "median_s": round(median, 4), "own_s": round(median - baseline, 4),
                     "ratio_to_python": round(median / baseline, 2), "min_s": round(min(times), 4),
                     "max_s": round(max(times), 4)})
        print(f"{label:<36} {median:9.3f} {median - baseline:7.3f} {median / baseline:9.2f}")
    record = {"runs": args.runs, "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
