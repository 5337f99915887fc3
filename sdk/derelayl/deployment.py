"""The `Deployment` record: where one DeRelayL task lives on one chain, as saved by
`derelayl deploy` and read by every participant, `status` and `lineage`.

`Deployment.load` validates the file field by field, so a malformed or incomplete file
is one `ConfigurationError` that names the file, the field and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from derelayl._files import write_text_whole
from derelayl.errors import ConfigurationError

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY = re.compile(r"[0-9a-fA-F]{64}")


@dataclass
class Deployment:
    """Where one DeRelayL task lives on one chain."""

    chain_id: int
    rpc_url: str
    relay: str
    token: str
    block: int
    # The genesis model's key (hex), published with the deployment: nobody but the
    # genesis owner holds it, so nobody could courier it, and a trainer checks the
    # genesis with it before bidding on it. Empty: the deployer keeps the key, and
    # the SDK's trainers do not bid on the genesis.
    genesis_key: str = ""
    # Above 0: the relay is a merge relay (MergeRelayLearning, docs/merge.md) whose
    # models earn lineage rewards from this many layers after their own.
    merge_horizon: int = 0

    def __post_init__(self) -> None:
        if self.genesis_key and not _KEY.fullmatch(self.genesis_key):
            raise ConfigurationError(f"genesis_key must be 64 hex digits (a 32-byte key), not {self.genesis_key!r}")

    def published_genesis_key(self) -> bytes | None:
        """The genesis key this deployment publishes, or None."""
        return bytes.fromhex(self.genesis_key) if self.genesis_key else None

    def save(self, path: Path) -> Path:
        """Writes the record as JSON (creating folders); returns `path`. The file appears
        whole or not at all: participants started with `wait_for_deployment` read it as
        soon as it exists."""
        return write_text_whole(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        """The deployment saved at `path`. A missing, malformed or incomplete file, or a
        field of the wrong type, raises ConfigurationError naming file, field and problem."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError as exc:
            raise ConfigurationError(f"no deployment file at {path}: run `derelayl deploy` first") from exc
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{path}: cannot read the deployment file ({exc})") from exc
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(record, source=str(path))

    @classmethod
    def from_dict(cls, record: Any, source: str = "deployment") -> "Deployment":
        """A Deployment from a parsed JSON object, checked field by field."""
        if not isinstance(record, dict):
            raise ConfigurationError(f"{source}: expected a JSON object with the fields "
                                     f"{', '.join(_FIELDS)}, got a JSON {_json_type(record)}")
        unknown = sorted(set(record) - set(_FIELDS))
        if unknown:
            raise ConfigurationError(f"{source}: unknown field(s) {', '.join(map(repr, unknown))} "
                                     f"(a deployment has {', '.join(_FIELDS)})")
        for name, field in _FIELDS.items():
            if name not in record:
                if field.default is dataclasses.MISSING:
                    raise ConfigurationError(f"{source}: field {name!r} is missing (written by `derelayl deploy`)")
                continue
            problem = _CHECKS[name](record[name])
            if problem:
                raise ConfigurationError(f"{source}: field {name!r} {problem}, got {record[name]!r}")
        from eth_utils import is_checksum_address, to_checksum_address

        record = dict(record)
        for name in ("relay", "token"):  # web3 takes checksum addresses only
            value = record[name]
            if value[2:] not in (value[2:].lower(), value[2:].upper()) and not is_checksum_address(value):
                raise ConfigurationError(f"{source}: field {name!r} has a wrong EIP-55 checksum, got {value!r}: "
                                         "check it for a typo")
            record[name] = to_checksum_address(value)
        try:
            return cls(**record)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: {exc}") from exc


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _integer(minimum: int):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        return f"must be at least {minimum}" if value < minimum else None
    return check


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _address(value: Any) -> str | None:
    return None if isinstance(value, str) and _ADDRESS.fullmatch(value) else "must be an address (0x and 40 hex digits)"


def _key(value: Any) -> str | None:
    return (None if isinstance(value, str) and (value == "" or _KEY.fullmatch(value))
            else "must be 64 hex digits (a 32-byte key) or empty")


_FIELDS = {f.name: f for f in dataclasses.fields(Deployment)}
_CHECKS = {"chain_id": _integer(1), "rpc_url": _text, "relay": _address, "token": _address,
           "block": _integer(0), "genesis_key": _key, "merge_horizon": _integer(0)}
