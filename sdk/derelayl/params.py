"""Deployment parameters of a RelayLearning contract, with the project's defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Scores on chain are fixed-point: SCORE_SCALE is a perfect score (accuracy 1.0).
SCORE_SCALE = 1_000_000
#: One token in base units (DRL has 18 decimals).
TOKEN = 10**18
#: Fewest revealed scores a model should be ranked on, and the default quorum. A model
#: ranked on the median of 3 scores is lifted 77% by one colluding evaluator, on the
#: median of 5 by 1% (docs/robustness.md). With this quorum a round with fewer
#: evaluators ranks nothing: every deposit goes back and the relay carries over.
SAFE_QUORUM = 5
#: What a quorum below SAFE_QUORUM risks, as the deploy command and participants say it.
SMALL_QUORUM_RISK = (f"a model ranked on fewer than {SAFE_QUORUM} evaluator scores can be lifted by a single "
                     "colluding evaluator (docs/robustness.md)")


@dataclass(frozen=True)
class ProtocolParams:
    """What one learning task fixes at deployment (mirrors `IRelayLearning.Params`).

    Durations are seconds; 0 means a phase may be closed by anyone at once, and every
    phase also closes as soon as all the participants it waits for have acted.
    """

    k: int = 4
    selection_permille: int = 500
    max_trainers: int = 32
    max_evaluators: int = 8
    quorum: int = SAFE_QUORUM
    bidding_duration: int = 0
    training_duration: int = 0
    commit_duration: int = 0
    reveal_duration: int = 0
    evaluator_penalty_permille: int = 500
    evaluator_stake: int = 10 * TOKEN
    evaluator_reward: int = TOKEN // 100
    lineage_reward: int = TOKEN
    score_tolerance: int = 50_000

    def as_tuple(self) -> tuple[int, ...]:
        """The struct as the contract's constructor takes it (field order matters)."""
        return tuple(asdict(self).values())

    def replace(self, **changes: int) -> "ProtocolParams":
        """A copy with some fields changed."""
        return ProtocolParams(**{**asdict(self), **changes})


DEFAULT_PARAMS = ProtocolParams()
