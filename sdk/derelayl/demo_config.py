"""The demo's settings, apart from the demo itself so that the CLI reads their defaults
(its `--help`) without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class DemoConfig:
    """What `derelayl demo` runs: how many participants, rounds, which task and chain."""

    trainers: int = 8
    evaluators: int = 2
    rounds: int = 5
    alpha: float = 1.0
    seed: int = 0
    task: str = "digits-mlp"  # a built-in task (one with a public data set to split)
    epochs: int = 20  # local epochs per turn (the task spec records them)
    out: Path = Path("demo-output")
    json_path: Path | None = None
    chain: str | None = None  # "ganache" or "anvil"; None: $DERELAYL_CHAIN, else ganache
