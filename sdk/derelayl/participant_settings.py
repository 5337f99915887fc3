"""The settings file of `derelayl participant`: DIR/participant.json.

Its fields, with their types (relative paths are relative to DIR)::

    {
      "role": "trainer",                 # "trainer" (a model owner once accepted) or "evaluator"
      "deployment": "deployment.json",   # the file `derelayl deploy` wrote
      "ipfs_api": "/ip4/127.0.0.1/tcp/5001/http",
      "data": "data.npz",                # optional (default data.npz): the participant's own data
      "task": "examples/iris_task.py:task",  # optional: its own copy of the task code
                                         #   (default: the entry point the task spec names)
      "account_index": 1,                # a dev-chain account; or set $DERELAYL_PRIVATE_KEY instead
      "rounds": 3,                       # optional: stop once this many rounds are settled
      "seed": 0,                         # optional: seeds its training turns
      "threads": 1,                      # optional: torch threads (many participants on one machine)
      "rpc_url": "http://...",           # optional: instead of the deployment file's
      "merge": "clipped",                # optional, a merge relay's trainer: how it merges the
                                         #   parent layer (mean, median, trimmed, clipped)
      "wait_for_deployment": 0           # optional: seconds to wait for the deployment file to appear
    }

`load` refuses a malformed or incomplete file with one line that names the file, the
field and the problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from derelayl.errors import ConfigurationError

FILE = "participant.json"
#: The merges a merge relay's trainer may use (`derelayl.merge.MERGES`; named here so
#: that reading the settings does not import torch).
MERGE_NAMES = ("mean", "median", "trimmed", "clipped")
_TYPES: dict[str, tuple[type, ...]] = {
    "role": (str,), "deployment": (str,), "ipfs_api": (str,), "data": (str,), "task": (str,),
    "account_index": (int,), "rounds": (int,), "seed": (int,), "threads": (int,), "rpc_url": (str,),
    "wait_for_deployment": (int, float), "merge": (str,),
}
_REQUIRED = ("role", "deployment", "ipfs_api")


@dataclass(frozen=True)
class ParticipantSettings:
    """A validated participant.json."""

    folder: Path
    role: str
    deployment: Path
    ipfs_api: str
    data: Path
    task: str | None = None
    account_index: int | None = None
    rounds: int | None = None
    seed: int = 0
    threads: int | None = None
    rpc_url: str | None = None
    wait_for_deployment: float = 0.0
    merge: str = "clipped"

    @classmethod
    def load(cls, folder: Path) -> "ParticipantSettings":
        """The settings in `folder`/participant.json, or `ConfigurationError`."""
        path = folder / FILE
        where = str(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigurationError(f"{where} is missing: see `derelayl participant --help`") from None
        except ValueError as exc:
            raise ConfigurationError(f"{where}: not valid JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{where}: expected a JSON object of settings, got {type(raw).__name__}")
        unknown = sorted(raw.keys() - _TYPES.keys())
        if unknown:
            raise ConfigurationError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(_TYPES)})")
        for field in _REQUIRED:
            if field not in raw:
                raise ConfigurationError(f"{where}: field {field!r} is missing (see `derelayl participant --help`)")
        for field, value in raw.items():
            kinds = _TYPES[field]
            if value is None and field in ("rounds", "task", "threads", "rpc_url", "account_index"):
                continue
            if isinstance(value, bool) or not isinstance(value, kinds):
                names = " or ".join(k.__name__ for k in kinds)
                raise ConfigurationError(f"{where}: field {field!r} must be {names}, not {json.dumps(value)}")
        if raw["role"] not in ("trainer", "evaluator"):
            raise ConfigurationError(f"{where}: field 'role' must be \"trainer\" or \"evaluator\", "
                                     f"not {json.dumps(raw['role'])}")
        if raw.get("merge", "clipped") not in MERGE_NAMES:
            raise ConfigurationError(f"{where}: field 'merge' must be one of {', '.join(MERGE_NAMES)}, "
                                     f"not {json.dumps(raw['merge'])}")
        for field in ("rounds", "threads"):
            if raw.get(field) is not None and raw[field] < 1:
                raise ConfigurationError(f"{where}: field {field!r} must be at least 1, not {raw[field]}")
        return cls(folder=folder, role=raw["role"], deployment=folder / raw["deployment"], ipfs_api=raw["ipfs_api"],
                   data=folder / raw.get("data", "data.npz"), task=raw.get("task"),
                   account_index=raw.get("account_index"), rounds=raw.get("rounds"), seed=raw.get("seed", 0),
                   threads=raw.get("threads"), rpc_url=raw.get("rpc_url"),
                   wait_for_deployment=float(raw.get("wait_for_deployment", 0)), merge=raw.get("merge", "clipped"))
