"""The demo's settings, apart from the demo itself so that the CLI reads their defaults
(its `--help`) without importing torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from derelayl.errors import ConfigurationError

#: The most evaluator seats a round can have (the contract's MAX_EVALUATORS_CAP).
MAX_EVALUATOR_SEATS = 16


@dataclass
class DemoConfig:
    """What `derelayl demo` runs: how many participants, rounds, which task and chain.

    `quorum` is the fewest revealed scores a model is ranked on. The default 1 keeps
    the small demo's two evaluators enough; a relay open to strangers ranks on
    `derelayl.params.SAFE_QUORUM` (5), which needs at least 5 evaluators
    (`derelayl demo --evaluators 5 --quorum 5`)."""

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
    quorum: int = 1
    merge_horizon: int = 0  # above 0: a merge relay (docs/merge.md) with this lineage horizon

    def validate(self) -> "DemoConfig":
        """Self, or ConfigurationError in one line naming the setting."""
        for name in ("trainers", "evaluators", "rounds", "quorum", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a whole number of at least 1, not {value!r}")
        if isinstance(self.merge_horizon, bool) or not isinstance(self.merge_horizon, int) or self.merge_horizon < 0:
            raise ConfigurationError(f"merge_horizon must be 0 (the plain relay) or a whole number of layers, "
                                     f"not {self.merge_horizon!r}")
        if self.trainers < 2:
            raise ConfigurationError(f"trainers = {self.trainers}: the demo needs at least 2 (the genesis owner "
                                     f"offers, the others train)")
        if self.quorum > self.evaluators:
            raise ConfigurationError(f"quorum = {self.quorum} needs at least {self.quorum} evaluators, not "
                                     f"{self.evaluators}: no round could rank a model")
        if self.quorum > MAX_EVALUATOR_SEATS:
            raise ConfigurationError(f"quorum = {self.quorum}: a round has at most {MAX_EVALUATOR_SEATS} "
                                     f"evaluator seats")
        return self
