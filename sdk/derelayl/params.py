"""Deployment parameters of a RelayLearning contract, with the project's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from derelayl.errors import ConfigurationError

#: Scores on chain are fixed-point: SCORE_SCALE is a perfect score (accuracy 1.0).
SCORE_SCALE = 1_000_000
#: One token in base units (DRL has 18 decimals).
TOKEN = 10**18
#: Fewest revealed scores a model should be ranked on, and the default quorum. A model
#: ranked on the median of 3 scores is lifted 77% by one colluding evaluator, on the
#: median of 5 by 1% (docs/robustness.md). With this quorum a round with fewer
#: evaluators ranks nothing: every deposit goes back and the relay carries over.
SAFE_QUORUM = 5
#: The accepted share a merge relay deploys with (`derelayl deploy --merge-horizon`):
#: every ranked submission at or above the task's floor. A child of a merge turn
#: starts from the whole layer, so accepting all of them loses no direction a single
#: trainer's data holds; measured best in docs/merge.md ("Selection made for the merge turn").
MERGE_SELECTION_PERMILLE = 1000
#: The lineage horizon the merge relay was measured with (docs/merge.md): each accepted
#: model pays one lineage reward to each of the 10 layers before it.
MERGE_HORIZON = 10
#: What a quorum below SAFE_QUORUM risks, as the deploy command and participants say it.
SMALL_QUORUM_RISK = (f"a model ranked on fewer than {SAFE_QUORUM} evaluator scores can be lifted by a single "
                     "colluding evaluator (docs/robustness.md)")

# The contract's caps (RelayLearning.sol); `ProtocolParams.validate` applies its
# `_validateParams` with them, so bad parameters are refused before a transaction.
MAX_TRAINERS_CAP = 64
MAX_EVALUATORS_CAP = 16
MAX_SCORES_PER_ROUND = 512
MAX_AMOUNT = 2**96 - 1  # a bid and its trainer fit one storage word
#: The Solidity width of each field of `IRelayLearning.Params` (all unsigned).
_BITS = {"k": 32, "selection_permille": 32, "max_trainers": 32, "max_evaluators": 32, "quorum": 32,
         "bidding_duration": 64, "training_duration": 64, "commit_duration": 64, "reveal_duration": 64,
         "evaluator_penalty_permille": 32, "evaluator_stake": 256, "evaluator_reward": 256,
         "lineage_reward": 256, "score_tolerance": 256, "min_price": 256, "score_floor": 256,
         "floor_margin": 256, "fallback_rounds": 16}


#: The phase durations a public chain needs (seconds), the defaults of `DEFAULT_PARAMS`
#: and the minimum below which `ProtocolParams.short_durations` names a phase. Anyone
#: may close a phase once its deadline has passed, and whoever closes early can gain:
#: an outsider who closes Training at once burns an honest trainer's bid, or makes an
#: honest owner pay the undelivered remedy; closing Committing or Revealing at once
#: makes every evaluator "not reveal" and lose half its stake (issue 17, class 1). So
#: every phase must last long enough for an honest participant on a slow link and a
#: congested chain to act: a few blocks are not enough (12 s a block on Ethereum, and
#: a transaction can wait minutes for inclusion).
#: - Bidding 300 s: time to see the round open and to send a bid, an offer or a stake
#:   (one transaction each), even when the first attempt is underpriced.
#: - Training 1800 s: fetch the parent from IPFS, train one turn on local data, pin the
#:   new weights and submit.
#: - Committing 600 s: fetch, decrypt and score every submitted model (up to 64), then
#:   commit.
#: - Revealing 300 s: one transaction per evaluator, nothing to compute.
SAFE_DURATIONS = {
    "bidding_duration": 300,
    "training_duration": 1800,
    "commit_duration": 600,
    "reveal_duration": 300,
}
#: Durations of 0: every phase may be closed by anyone at once. For tests and local
#: simulations only (`TEST_PARAMS`); never on a chain that strangers can reach.
INSTANT_DURATIONS = {name: 0 for name in SAFE_DURATIONS}


@dataclass(frozen=True)
class ProtocolParams:
    """What one learning task fixes at deployment (mirrors `IRelayLearning.Params`).

    Durations are seconds. A phase may be closed by anyone once its deadline has
    passed (Training, Committing and Revealing also close as soon as everyone they wait
    for has acted; Bidding only at its deadline). The defaults are `SAFE_DURATIONS`;
    0 means a phase may be closed by anyone at once, which only tests should use
    (`TEST_PARAMS`, `instant()`).
    """

    k: int = 4
    selection_permille: int = 500
    max_trainers: int = 32
    max_evaluators: int = 8
    quorum: int = SAFE_QUORUM
    bidding_duration: int = SAFE_DURATIONS["bidding_duration"]
    training_duration: int = SAFE_DURATIONS["training_duration"]
    commit_duration: int = SAFE_DURATIONS["commit_duration"]
    reveal_duration: int = SAFE_DURATIONS["reveal_duration"]
    evaluator_penalty_permille: int = 500
    evaluator_stake: int = 10 * TOKEN
    evaluator_reward: int = TOKEN // 100
    lineage_reward: int = TOKEN
    score_tolerance: int = 50_000
    #: Lowest price per trainer an owner may offer: what an owner that withholds its
    #: key pays each trainer (the remedy), so that a withholder always pays (issue 17,
    #: class 7). 0 only in tests (`TEST_PARAMS`).
    min_price: int = TOKEN // 100
    #: Lowest median at which a model may be accepted (issue 17, classes 5 and 6): a
    #: model the evaluators could not open scores 0 and is never accepted, so garbage
    #: earns no lineage. Set by the task; the default is 0.01 (1% accuracy).
    score_floor: int = SCORE_SCALE // 100
    #: A model must also score at least its parent's score minus this margin (0.05 by
    #: default): a relay does not slide down through children worse than their parents.
    #: SCORE_SCALE disables the relative floor.
    floor_margin: int = SCORE_SCALE // 20
    #: After this many rounds in a row that had bids, judged every submission (no
    #: NoQuorum) and accepted nothing, the relay falls back: the next round offers
    #: again the models of the frontier's parent layer (issue 17: a frontier nobody can
    #: serve or improve stops holding the relay). 5 rounds: long enough that a few
    #: unlucky rounds (an owner late, children just under the floor) do not throw away
    #: a layer, short enough that a stuck relay moves on within an hour or two under
    #: `SAFE_DURATIONS`. 0: never (`TEST_PARAMS`).
    fallback_rounds: int = 5

    def as_tuple(self) -> tuple[int, ...]:
        """The struct as the contract's constructor takes it (field order matters)."""
        return tuple(asdict(self).values())

    def replace(self, **changes: int) -> "ProtocolParams":
        """A copy with some fields changed."""
        return ProtocolParams(**{**asdict(self), **changes})

    def validate(self) -> "ProtocolParams":
        """Returns self if the contract would accept these parameters; otherwise raises
        ConfigurationError naming the field and the problem. Checks each field's type
        and Solidity width, then the ranges of RelayLearning's `_validateParams`."""
        for name, bits in _BITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigurationError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
            if not 0 <= value < 2**bits:
                raise ConfigurationError(f"{name} = {value} is out of range (0 to 2**{bits} - 1)")
        scores = self.max_trainers * self.max_evaluators
        rules = [  # (field, value, accepted, what the contract requires)
            ("max_trainers", self.max_trainers, 1 <= self.max_trainers <= MAX_TRAINERS_CAP,
             f"must be 1 to {MAX_TRAINERS_CAP}"),
            ("k", self.k, 1 <= self.k <= self.max_trainers, f"must be 1 to max_trainers ({self.max_trainers})"),
            ("selection_permille", self.selection_permille, 1 <= self.selection_permille <= 1000, "must be 1 to 1000"),
            ("max_evaluators", self.max_evaluators, 1 <= self.max_evaluators <= MAX_EVALUATORS_CAP,
             f"must be 1 to {MAX_EVALUATORS_CAP}"),
            ("max_trainers * max_evaluators", scores, scores <= MAX_SCORES_PER_ROUND,
             f"must be at most {MAX_SCORES_PER_ROUND} (scores per round)"),
            ("quorum", self.quorum, self.quorum >= 1, "must be at least 1"),
            ("evaluator_penalty_permille", self.evaluator_penalty_permille, self.evaluator_penalty_permille <= 1000,
             "must be at most 1000"),
            ("score_tolerance", self.score_tolerance, self.score_tolerance <= SCORE_SCALE,
             f"must be at most {SCORE_SCALE} (SCORE_SCALE)"),
        ] + [(name, getattr(self, name), getattr(self, name) <= MAX_AMOUNT, "must be at most 2**96 - 1")
             for name in ("evaluator_stake", "evaluator_reward", "lineage_reward", "min_price")] + [
            (name, getattr(self, name), getattr(self, name) <= SCORE_SCALE, f"must be at most {SCORE_SCALE} (SCORE_SCALE)")
             for name in ("score_floor", "floor_margin")]
        for name, value, accepted, requirement in rules:
            if not accepted:
                raise ConfigurationError(f"{name} = {value} {requirement}")
        if self.quorum > self.max_evaluators:
            raise ConfigurationError(f"quorum = {self.quorum} is more than max_evaluators = {self.max_evaluators}: "
                                     "no round could rank a model")
        return self

    @classmethod
    def from_mapping(cls, values: Any, base: "ProtocolParams | None" = None) -> "ProtocolParams":
        """`base` (default: the defaults) with the fields in `values` (a parsed JSON object)
        changed, validated. Unknown keys, a value that is not an object, wrong types and
        out-of-range values raise ConfigurationError naming the field."""
        names = [f.name for f in fields(cls)]
        if not isinstance(values, Mapping):
            raise ConfigurationError(f"expected a JSON object of parameters ({', '.join(names)}), "
                                     f"got {type(values).__name__}")
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ConfigurationError(f"unknown parameter(s) {', '.join(map(repr, unknown))} "
                                     f"(known: {', '.join(names)})")
        return (base or cls()).replace(**values).validate()

    def instant(self) -> "ProtocolParams":
        """A copy whose phases anyone may close at once (durations 0): tests only."""
        return self.replace(**INSTANT_DURATIONS)

    def short_durations(self, minimum: dict[str, int] | None = None) -> list[str]:
        """The duration fields below `minimum` (default `SAFE_DURATIONS`), in phase
        order: what a deploy command must refuse on a public chain unless the user
        accepts the risk explicitly. Empty when every phase is long enough."""
        minimum = SAFE_DURATIONS if minimum is None else minimum
        return [name for name, floor in minimum.items() if getattr(self, name) < floor]


DEFAULT_PARAMS = ProtocolParams()
#: `DEFAULT_PARAMS` with every phase closable at once, free offers allowed (`min_price`
#: 0), no acceptance floor (the top fraction is accepted whatever its score) and no
#: fallback: for tests and local simulations that play rounds without waiting
#: (the contract tests, the differential and stateful tests, the simulator), never for
#: a deployment strangers can reach.
TEST_PARAMS = DEFAULT_PARAMS.instant().replace(min_price=0, score_floor=0, floor_margin=SCORE_SCALE,
                                               fallback_rounds=0)
#: What durations below `SAFE_DURATIONS` risk, as a deploy command should say it.
SHORT_DURATIONS_RISK = ("a phase shorter than its safe duration can be closed by anyone before honest participants "
                        "act: their bids, owner deposits and evaluator stakes then burn (docs/security.md, class 1)")
