#!/usr/bin/env python3
"""Sums a test run's CPU profile per test file, costliest first.

    DERELAYL_CPU_PROFILE=$PWD/build/cpu-profile.jsonl make test
    .venv/bin/python tools/cpu-profile.py build/cpu-profile.jsonl

Each line of the profile (tests/conftest.py writes it) is one test: its wall time and
the CPU seconds of its xdist worker, of the worker's finished child processes
(participants, IPFS and Ganache nodes of the SDK tests, pip) and of the worker's own
chain. On 2 cores the run's wall time is bounded below by the total CPU over 2.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

FIELDS = ("wall", "worker", "children", "chain")


def main(path: str) -> None:
    files: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FIELDS + ("tests",), 0.0))
    for line in open(path):
        record = json.loads(line)
        row = files[record["test"].split("::")[0]]
        for field in FIELDS:
            row[field] += record[field]
        row["tests"] += 1
    cpu = {name: row["worker"] + row["children"] + row["chain"] for name, row in files.items()}
    total = sum(cpu.values())
    print(f"{'file':58} {'tests':>5} {'wall':>7} {'worker':>7} {'childr':>7} {'chain':>7} {'CPU':>7} {'share':>6}")
    for name in sorted(files, key=cpu.get, reverse=True):
        row = files[name]
        print(f"{name:58} {row['tests']:5.0f} {row['wall']:7.1f} {row['worker']:7.1f} {row['children']:7.1f} "
              f"{row['chain']:7.1f} {cpu[name]:7.1f} {cpu[name] / total:6.1%}")
    sums = {field: sum(row[field] for row in files.values()) for field in FIELDS}
    print(f"{'total':58} {sum(r['tests'] for r in files.values()):5.0f} {sums['wall']:7.1f} {sums['worker']:7.1f} "
          f"{sums['children']:7.1f} {sums['chain']:7.1f} {total:7.1f}")
    print(f"CPU over 2 cores: {total / 2 / 60:.1f} min")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/cpu-profile.jsonl")
