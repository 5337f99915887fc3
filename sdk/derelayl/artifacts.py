"""The compiled contracts shipped inside the package (ABI, creation bytecode, compiler
version and settings, a hash of the sources), loaded with importlib.resources.

Deploying or talking to a deployment needs no solc, no node and no checkout: the JSON
files under `derelayl/artifacts/` are package data. They are written by the developer
tool `tools/build_artifacts.py` (`make artifacts`), and `tests/sdk/test_artifacts.py`
fails when they differ from a fresh compile of contracts/, so they never go stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from derelayl.errors import ConfigurationError

#: The contracts the SDK deploys, by name (each is `artifacts/<name>.json`).
CONTRACTS = ("RelayLearning", "MergeRelayLearning", "RelayToken")
#: The fields every artifact file carries.
FIELDS = ("contractName", "abi", "bytecode", "compiler", "sourceHash", "sources")


@dataclass(frozen=True)
class CompiledContract:
    """ABI and creation bytecode of one contract, and how they were made."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    compiler: dict[str, Any] = field(default_factory=dict)
    source_hash: str = ""


def load_artifact(name: str) -> CompiledContract:
    """The shipped artifact of contract `name`; ConfigurationError if absent or malformed."""
    resource = resources.files("derelayl") / "artifacts" / f"{name}.json"
    where = f"derelayl/artifacts/{name}.json"
    try:
        record = json.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{where} is missing from the installed package: reinstall derelayl "
                                 "(in a checkout: `make artifacts`)") from exc
    except ValueError as exc:
        raise ConfigurationError(f"{where}: not valid JSON ({exc}): run `make artifacts`") from exc
    missing = [f for f in FIELDS if f not in record] if isinstance(record, dict) else list(FIELDS)
    if missing:
        raise ConfigurationError(f"{where}: missing field(s) {', '.join(missing)}: run `make artifacts`")
    return CompiledContract(record["contractName"], record["abi"], record["bytecode"], record["compiler"],
                            record["sourceHash"])


@cache
def load_contracts() -> dict[str, CompiledContract]:
    """Every shipped contract by name (read once per process)."""
    return {name: load_artifact(name) for name in CONTRACTS}


def all_abis() -> list[list[dict[str, Any]]]:
    """The ABIs of every shipped contract (what an `ErrorDecoder` needs)."""
    return [c.abi for c in load_contracts().values()]
