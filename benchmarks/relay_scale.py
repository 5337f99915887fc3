"""How many participant processes one Ganache carries, and what each costs it per block
(issue 18, item 2).

Each size runs `derelayl demo` as a user runs it (its own process; a Ganache mining a
block a second, an IPFS daemon, every participant its own OS process), with 5
evaluators and the default quorum of 5 unless told otherwise, the rest trainers. Each
participant counts its own JSON-RPC calls (a counting HTTP provider, state_dir/rpc.json);
the demo checks after every round that every evaluator staked, every drawn evaluator
committed and revealed, every matched trainer got its key and submitted, and that no
slot ended NoQuorum (the round ranked). A size is sustained when every round ranked
and nobody missed a phase. `--baseline REV` also runs the default demo (8 trainers, 2
evaluators, quorum 1) from git revision REV, for the calls per block before.

    .venv/bin/python benchmarks/relay_scale.py --sizes 10,30,50 --rounds 3
    .venv/bin/python benchmarks/relay_scale.py --sizes 50 --rounds 5 --baseline 6d1de4b --default

Writes benchmarks/results/relay_scale.json (merged with the sizes already there) and
docs/img/relay_scale.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "relay_scale.json"
FIGURE = ROOT / "docs" / "img" / "relay_scale.png"
sys.path.insert(0, str(ROOT / "sdk"))


def run_demo(args: list[str], out: Path, sdk: Path | None = None) -> tuple[dict, float, str]:
    """Runs `derelayl demo ARGS --out OUT --json OUT/run.json` (from `sdk`'s code if given);
    returns its record, its wall time and the command line."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "derelayl.cli", "demo", *args, "--out", str(out), "--json", str(out / "run.json")]
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    if sdk is not None:
        env["PYTHONPATH"] = str(sdk)
    started = time.time()
    with open(out / "demo.log", "w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT).returncode
    seconds = time.time() - started
    shown = "derelayl demo " + " ".join(args)
    if code != 0:
        tail = (out / "demo.log").read_text().splitlines()[-5:]
        raise SystemExit(f"{shown} failed ({code}): {' / '.join(tail)}")
    return json.loads((out / "run.json").read_text()), seconds, shown


def size_row(record: dict, seconds: float, command: str) -> dict:
    """What one run says: sustained or not, and its costs."""
    from derelayl.demo import rpc_summary

    rpc = record.get("rpc")
    if rpc is None:  # a baseline revision's record: count its participants' rpc.json here
        out = Path(record["config"]["out"])
        rpc = rpc_summary(sorted((out / "participants").iterdir()))
    rounds = record["rounds"]
    phases = [row.get("phases") for row in rounds]
    per = rpc["per_participant"].values()
    blocks = [v["blocks"] for v in per if v["blocks"]]
    http = [v["http_requests"] for v in per]
    node_blocks = (record.get("last_block") or 0) - (record.get("deployment_block") or 0)
    row = {
        "command": command, "seconds": round(seconds, 1), "processes": len(record["participants"]),
        "trainers": sum(p["role"] == "trainer" for p in record["participants"]),
        "evaluators": sum(p["role"] == "evaluator" for p in record["participants"]),
        "rounds": len(rounds), "relay_seconds": record["wall_seconds"],
        "calls_per_participant_per_block": {"mean": rpc["mean_calls_per_block"], "max": rpc["max_calls_per_block"],
                                            "by_role": rpc["mean_calls_per_block_by_role"]},
        "calls_per_participant_per_round": round(sum(v["loop_calls"] for v in per) / max(1, len(per)) /
                                                 max(1, len(rounds)), 1),
        "blocks_per_round": round(node_blocks / max(1, len(rounds)), 1) if node_blocks > 0 else None,
        "calls_by_method": rpc["by_method"],
        "http_requests_per_participant_per_block": round(sum(http) / sum(blocks), 2) if blocks else None,
        "node_cpu_seconds": record.get("node_cpu_seconds"),
        "node_cpu_seconds_per_block": round(record["node_cpu_seconds"] / node_blocks, 3)
        if record.get("node_cpu_seconds") and node_blocks > 0 else None,
        "participant_memory_mb": {k: max(((r.get("participant_memory_mb") or {}).get(k, 0) for r in rounds),
                                         default=None) for k in ("max_rss", "max_uss", "total_uss")},
    }
    if all(phases):
        summary = record["summary"]
        row.update({"rounds_ranked": summary["rounds_ranked"], "missed": summary["missed"],
                    "sustained": summary["every_round_ranked"] and summary["no_missed_phase"],
                    "phases": phases})
    return row


def baseline(revision: str, rounds: int, work: Path) -> dict:
    """The default demo (8 trainers, 2 evaluators, quorum 1) from git revision `revision`."""
    tree = work / f"rev-{revision}"
    tree.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    record, seconds, command = run_demo(["--rounds", str(rounds)], work / f"baseline-{revision}", tree / "sdk")
    row = size_row(record, seconds, f"{command} (revision {revision})")
    row["revision"] = revision
    return row


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results["sizes"].values(), key=lambda r: r["processes"])
    if not sizes:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    n = [r["processes"] for r in sizes]
    left.plot(n, [r["calls_per_participant_per_block"]["mean"] for r in sizes], "o-", label="after: mean")
    left.plot(n, [r["calls_per_participant_per_block"]["max"] for r in sizes], "s--", label="after: max")
    for name, row in results.get("baseline", {}).items():
        left.scatter([row["processes"]], [row["calls_per_participant_per_block"]["mean"]], marker="x", s=80,
                     color="red", label=f"before ({name}), default demo: mean", zorder=3)
    if "default_demo" in results:
        row = results["default_demo"]
        left.scatter([row["processes"]], [row["calls_per_participant_per_block"]["mean"]], marker="+", s=100,
                     color="green", label="after, default demo: mean", zorder=3)
    left.set_xlabel("participant processes on one Ganache")
    left.set_ylabel("JSON-RPC calls per participant per block")
    left.set_ylim(bottom=0)
    left.legend()
    colors = ["tab:green" if r.get("sustained") else "tab:red" for r in sizes]
    right.bar([str(x) for x in n], [r["node_cpu_seconds_per_block"] or 0 for r in sizes], color=colors)
    right.set_xlabel("participant processes\n(green: every round ranked, no missed phase)")
    right.set_ylabel("Ganache CPU seconds per block (1 s blocks)")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,30,50", help="participant processes per run, comma-separated")
    parser.add_argument("--evaluators", type=int, default=5)
    parser.add_argument("--quorum", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="git revision whose default demo gives the 'before' figures")
    parser.add_argument("--baseline-rounds", type=int, default=2)
    parser.add_argument("--default", action="store_true",
                        help="also run today's default demo (as --baseline does for REV), for the calls after")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--sizes {args.sizes!r}: expected whole numbers separated by commas, e.g. 10,30,50")
    if any(s < args.evaluators + 2 for s in sizes):
        raise SystemExit(f"--sizes {args.sizes}: each size needs at least {args.evaluators + 2} processes "
                         f"({args.evaluators} evaluators and 2 trainers)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="relay-scale-"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"sizes": {}, "baseline": {}}
    results["machine"] = {"cpus": os.cpu_count()}
    if args.baseline:
        row = baseline(args.baseline, args.baseline_rounds, work)
        results["baseline"][args.baseline] = row
        print(f"before ({args.baseline}): {row['processes']} processes, calls per participant per block "
              f"{row['calls_per_participant_per_block']}")
    if args.default:
        record, seconds, command = run_demo(["--rounds", str(args.baseline_rounds)], work / "default")
        results["default_demo"] = size_row(record, seconds, command)
        print(f"after: {results['default_demo']['processes']} processes, calls per participant per block "
              f"{results['default_demo']['calls_per_participant_per_block']}")
    for size in sizes:
        demo_args = ["--trainers", str(size - args.evaluators), "--evaluators", str(args.evaluators),
                     "--quorum", str(args.quorum), "--rounds", str(args.rounds)]
        record, seconds, command = run_demo(demo_args, work / f"size-{size}")
        row = size_row(record, seconds, command)
        results["sizes"][str(size)] = row
        print(f"{size} processes: {row['rounds_ranked']}/{row['rounds']} rounds ranked, "
              f"{'no missed phase' if not row['missed'] else row['missed']}; calls per participant per block "
              f"{row['calls_per_participant_per_block']['mean']} (max {row['calls_per_participant_per_block']['max']}); "
              f"Ganache CPU {row['node_cpu_seconds_per_block']} s per block; {row['seconds']} s")
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")  # after every size: a later failure keeps it
    sustained = [int(s) for s, r in results["sizes"].items() if r.get("sustained")]
    results["largest_sustained"] = max(sustained) if sustained else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    plot(results)
    print(f"largest size sustained (every round ranked, no missed phase): {results['largest_sustained']}; "
          f"{RESULTS.relative_to(ROOT)}, {FIGURE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
