#!/usr/bin/env python3
"""Developer tool: compile contracts/ and write the SDK's shipped artifacts.

    python tools/build_artifacts.py            # (re)write sdk/derelayl/artifacts/*.json  (make artifacts)
    python tools/build_artifacts.py --check    # exit 1, naming what differs, if they are stale

Compiles with py-solc-x and exactly the compiler settings of brownie-config.yaml (solc
version, EVM version, viaIR, optimizer, remappings), so the SDK deploys the bytecode
brownie tests. Needs a checkout after `make setup` (the solc shim, node_modules'
OpenZeppelin); the installed package never runs this: it reads the JSON files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import solcx
import yaml

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "sdk" / "derelayl" / "artifacts"
SOURCES = ("contracts/RelayLearning.sol", "contracts/MergeRelayLearning.sol", "contracts/RelayToken.sol")
# Only the OpenZeppelin files RelayToken's imports reach (ERC20 and what it imports).
OZ_NEEDED = ("token/ERC20/ERC20.sol", "token/ERC20/IERC20.sol", "extensions/IERC20Metadata.sol",
             "utils/Context.sol", "interfaces/draft-IERC6093.sol")


def compiler_settings() -> dict[str, Any]:
    """The solc settings of brownie-config.yaml."""
    config = yaml.safe_load((ROOT / "brownie-config.yaml").read_text())["compiler"]
    solc = config["solc"]
    return {
        "version": str(solc["version"]),
        "evmVersion": config["evm_version"],
        "viaIR": bool(solc.get("viaIR", False)),
        "optimizer": solc["optimizer"],
        "remappings": solc["remappings"],
    }


def solc_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The part of `compiler_settings()` that goes to solc and into each artifact."""
    return {k: settings[k] for k in ("evmVersion", "viaIR", "optimizer", "remappings")}


def source_tree() -> list[str]:
    """contracts/**/*.sol and the OpenZeppelin files they import, relative to ROOT."""
    contracts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "contracts").rglob("*.sol"))
    oz = ROOT / "node_modules" / "@openzeppelin" / "contracts"
    if not oz.exists():
        sys.exit(f"OpenZeppelin contracts not found at {oz}: run `make setup`")
    return contracts + sorted(str(p.relative_to(ROOT)) for p in oz.rglob("*.sol")
                              if any(part in p.as_posix() for part in OZ_NEEDED))


def source_hash(sources: dict[str, str]) -> str:
    """sha256 over every source file's path and content (sorted by path)."""
    digest = hashlib.sha256()
    for path in sorted(sources):
        digest.update(path.encode() + b"\0" + hashlib.sha256(sources[path].encode()).digest())
    return "sha256:" + digest.hexdigest()


def build(contracts: tuple[str, ...] = SOURCES) -> dict[str, dict[str, Any]]:
    """A fresh compile of `contracts` (all of SOURCES by default; the tests compile only
    RelayToken, 2 s where the three take half a minute through solcjs): each contract's
    artifact record, as written to its JSON file. The whole source tree goes to solc
    either way, so a record is the same whichever others are compiled with it."""
    settings = compiler_settings()
    sources = {path: (ROOT / path).read_text() for path in source_tree()}
    to_solc = solc_settings(settings)
    selection = {path: {Path(path).stem: ["abi", "evm.bytecode.object"]} for path in contracts}
    standard_input = {
        "language": "Solidity",
        "sources": {path: {"content": text} for path, text in sources.items()},
        "settings": {**to_solc, "outputSelection": selection},
    }
    try:
        output = solcx.compile_standard(standard_input, solc_version=settings["version"],
                                        allow_paths=[str(ROOT)], base_path=str(ROOT))
        executable = solcx.install.get_executable(settings["version"])
        version = str(solcx.wrapper.get_solc_version(executable, with_commit_hash=True))
    except solcx.exceptions.SolcNotInstalled as exc:
        sys.exit(f"solc {settings['version']} is not installed: run `make setup` ({exc})")
    records = {}
    for path in contracts:
        name = Path(path).stem
        compiled = output["contracts"][path][name]
        records[name] = {
            "contractName": name,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "compiler": {"name": "solc", "version": version, "settings": to_solc},
            "sourceHash": source_hash(sources),
            "sources": sorted(sources),
            "generatedBy": "tools/build_artifacts.py (make artifacts): do not edit",
        }
    return records


def render(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def check(records: dict[str, dict[str, Any]], folder: Path) -> list[str]:
    """What differs between a fresh compile and the artifacts in `folder` (empty: none)."""
    problems = []
    for name, record in records.items():
        path = folder / f"{name}.json"
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        try:
            shipped = json.loads(path.read_text())
        except ValueError as exc:
            problems.append(f"{path}: not valid JSON ({exc})")
            continue
        differing = sorted(k for k in set(record) | set(shipped) if record.get(k) != shipped.get(k))
        if differing:
            problems.append(f"{path}: {', '.join(differing)} differ from a fresh compile of contracts/")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 if stale")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS, help=f"folder (default {ARTIFACTS})")
    args = parser.parse_args()
    records = build()
    if args.check:
        problems = check(records, args.artifacts)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("stale contract artifacts: run `make artifacts` and commit them", file=sys.stderr)
            return 1
        print(f"artifacts in {args.artifacts} match a fresh compile ({', '.join(records)})")
        return 0
    args.artifacts.mkdir(parents=True, exist_ok=True)
    for name, record in records.items():
        (args.artifacts / f"{name}.json").write_text(render(record))
        print(f"wrote {args.artifacts / f'{name}.json'} ({len(record['bytecode']) // 2 - 1} bytes of creation code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
