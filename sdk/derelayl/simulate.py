"""The paper's numerical study, played on the protocol's own rules.

Every round runs through `RelayProtocol` (the same matching, deposits, selection,
refunds, forfeits, evaluator rewards, carry-over and lineage claims that the contract
enforces); only a model's performance is drawn at random instead of trained:

- 256 participants, everyone starting with 0 tokens;
- model owners: the previous round's accepted trainers (round 0: the genesis owner);
- trainers: a random sample of the others so that owners + trainers = 128, bidding
  with the default policy min(balance, V_latest - V_own + 1); owners offer
  min(balance, budget) / k per trainer;
- one "miner", drawn at random each round from the 1/16 of the participants that
  never train (`MINER_SHARE`: nobody who ever created an accepted model may evaluate,
  and in a closed population every trainer sooner or later creates one), evaluates
  every new model and so holds it; it is paid `evaluator_fee * test_cases` per model
  it scores;
- k = 4 trainers per owner; a matched trainer finishes training with probability 0.9;
  a trained model's logit is its parent's plus N(1, 1) (performance = sigmoid);
- s = 0.5; lineage reward 1 token per accepted descendant, claimed every 10 rounds.

The version a participant holds is the newest lineage layer among the models it
trained, owned or evaluated (-1: none). Results: tokens per participant per round and
the version held per participant per round, plus the figures of the paper.
"""

from __future__ import annotations

import hashlib
import math
import random
import resource
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from derelayl.params import TEST_PARAMS, SCORE_SCALE, TOKEN
from derelayl.policies import PolicyView, default_bid, default_price
from derelayl.protocol import Phase, RelayProtocol

ENVELOPE = b"\x01"
#: Share of the participants (at least one) that only ever evaluate. Nobody who ever
#: created an accepted model may evaluate (it would judge its own descendants, issue 17
#: class 8), and in a closed population every trainer sooner or later creates one: the
#: miners must be participants that never train, as the SDK's evaluators are.
MINER_SHARE = 1 / 16


@dataclass
class SimulationConfig:
    """The study's settings (all of them flags of `derelayl simulate`)."""

    participants: int = 256
    rounds: int = 5000
    active: int = 128  # owners + trainers per round
    k: int = 4
    finish_probability: float = 0.9
    step_mean: float = 1.0  # logit step of one turn of training: N(mean, std)
    step_std: float = 1.0
    genesis_performance: float = 0.1
    selection: float = 0.5
    evaluator_fee: float = 0.001  # tokens per model and per test case
    test_cases: int = 100
    lineage_reward: float = 1.0
    owner_budget: float = 1.0  # tokens an owner spends on deposits per round, at most
    claim_every: int = 10  # rounds between lineage claims (claims cost gas: people batch them)
    seed: int = 0


@dataclass
class SimulationResult:
    config: SimulationConfig
    tokens: list[list[float]] = field(default_factory=list)  # per round, per participant
    versions: list[list[int]] = field(default_factory=list)  # per round, per participant (-1: none)
    latest: list[int] = field(default_factory=list)  # newest layer after each round
    accepted: list[int] = field(default_factory=list)  # models accepted per round
    best_performance: list[float] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    protocol: RelayProtocol | None = None  # the final state of the rules (not in the JSON)

    def to_json(self) -> dict:
        return {
            "config": asdict(self.config), "seconds": round(self.seconds, 2), "peak_rss_mb": round(self.peak_rss_mb, 1),
            "rounds": [{"round": r, "tokens": [round(t, 6) for t in self.tokens[r]], "version": self.versions[r],
                        "latest": self.latest[r], "accepted": self.accepted[r],
                        "best_performance": round(self.best_performance[r], 6)}
                       for r in range(len(self.tokens))],
        }


def cheap_tie_keys() -> tuple[Callable, Callable, Callable]:
    """Tie-break keys from crc32 instead of keccak: the same role (a seeded random
    order), a hundred times cheaper. The contract's keys are only needed to agree with
    a chain, and the simulator has none."""
    return (lambda seed, model_id: zlib.crc32(seed + b"o" + model_id.to_bytes(8, "big")),
            lambda seed, trainer: zlib.crc32(seed + b"b" + trainer.encode()),
            lambda seed, slot: zlib.crc32(seed + b"s" + slot.to_bytes(4, "big")))


def cheap_commitment(chain_id: int, contract: str, round_: int, evaluator: str, scores, salt: bytes) -> bytes:
    """A binding commitment (BLAKE2b over the same fields) without ABI encoding, which
    would cost the simulation seconds; nothing off-chain needs the keccak form here."""
    return hashlib.blake2b(repr((chain_id, contract, round_, evaluator, list(scores))).encode() + salt,
                           digest_size=32).digest()


def weights_tag(round_: int, slot: int) -> bytes:
    """A distinct stand-in for the weights hash of the model trained in (round, slot):
    never zero and never the genesis default, so no submission repeats its parent's."""
    return (2 + (round_ << 16) + slot).to_bytes(32, "big")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def run_simulation(config: SimulationConfig, progress: Callable[[int], None] | None = None) -> SimulationResult:
    """Plays `config.rounds` rounds; calls `progress(round)` after each."""
    started = time.perf_counter()
    rng = random.Random(config.seed)
    people = [f"0x{i:040x}" for i in range(1, config.participants + 1)]
    index = {p: i for i, p in enumerate(people)}
    params = TEST_PARAMS.replace(  # no clock: every phase closes at once

        k=config.k, selection_permille=round(config.selection * 1000), max_trainers=config.active,
        max_evaluators=1, quorum=1, evaluator_stake=0,
        evaluator_reward=round(config.evaluator_fee * config.test_cases * TOKEN),
        lineage_reward=round(config.lineage_reward * TOKEN), score_tolerance=0,
    )
    genesis_owner = people[0]
    miner_pool = people[len(people) - max(1, round(len(people) * MINER_SHARE)):]  # never train
    protocol = RelayProtocol(params, genesis_owner, tie_keys=cheap_tie_keys(), commitment=cheap_commitment)
    for p in people:
        protocol.register_key(p, b"\x01" * 32)
    logit = {0: math.log(config.genesis_performance / (1 - config.genesis_performance))}
    version = [-1] * len(people)
    version[0] = 0  # the genesis owner holds genesis
    alive: list[int] = [0]  # models whose lineage may still earn (claimed every round)
    result = SimulationResult(config)
    budget = round(config.owner_budget * TOKEN)

    for _ in range(config.rounds):
        r = protocol.round
        rs = protocol.rounds[r]
        latest = len(protocol.layers) - 1
        owners = protocol.owner_models[protocol.model_layer(rs.parent_layer)]
        for owner in owners:
            view = PolicyView(protocol.credit.get(owner, 0), latest, version[index[owner]], config.k)
            protocol.offer(owner, r, default_price(view, budget))
        others = [p for p in people if p not in owners and p not in miner_pool]
        trainers = rng.sample(others, min(len(others), max(config.active - len(owners), 0)))
        for t in trainers:
            view = PolicyView(protocol.credit.get(t, 0), latest, version[index[t]], config.k)
            protocol.bid(t, r, default_bid(view))
        evaluator = rng.choice(miner_pool)
        if evaluator is not None:
            protocol.stake_evaluator(evaluator, r)
        protocol.close_bidding(rng.randbytes(32))

        scores: list[int] = []
        new_logits: dict[int, float] = {}
        for i, s in enumerate(rs.slots):
            protocol.deliver_key(protocol.models[s.parent_id].creator, r, i, ENVELOPE)
            trainer = index[s.trainer]
            parent_layer = protocol.models[s.parent_id].layer
            version[trainer] = max(version[trainer], parent_layer)  # it received the parent
            if rng.random() < config.finish_probability:
                new_logits[i] = logit[s.parent_id] + rng.gauss(config.step_mean, config.step_std)
                version[trainer] = max(version[trainer], parent_layer + 1)
                protocol.submit(s.trainer, r, i, weights_tag(r, i), "m", [ENVELOPE] * len(rs.evaluators))
            scores.append(round(sigmoid(new_logits[i]) * SCORE_SCALE) if i in new_logits else 0)
        if rs.phase == Phase.TRAINING:
            protocol.close_training()
        if evaluator is not None and rs.phase == Phase.COMMITTING:
            salt = rng.randbytes(32)
            protocol.commit(evaluator, r, protocol.commitment_for(r, evaluator, scores, salt))
            protocol.reveal(evaluator, r, scores, salt)
            if new_logits:
                version[index[evaluator]] = max(version[index[evaluator]], rs.parent_layer + 1)
        elif rs.phase == Phase.COMMITTING:
            protocol.close_commit()
        settlement = protocol.settle()
        for model_id in settlement.accepted_models:
            logit[model_id] = new_logits[protocol.models[model_id].slot]
        alive.extend(settlement.accepted_models)
        if (r + 1) % config.claim_every == 0 or r + 1 == config.rounds:
            alive = claim_lineage(protocol, alive)
        protocol.forget_round(r)

        result.tokens.append([protocol.credit.get(p, 0) / TOKEN for p in people])
        result.versions.append(list(version))
        result.latest.append(len(protocol.layers) - 1)
        result.accepted.append(len(settlement.accepted_models))
        result.best_performance.append(max(sigmoid(logit[m]) for m in protocol.layer_of(len(protocol.layers) - 1)))
        if progress:
            progress(r)
    result.protocol = protocol
    result.seconds = time.perf_counter() - started
    result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def claim_lineage(protocol: RelayProtocol, alive: list[int]) -> list[int]:
    """Every creator claims its models' lineage rewards. Returns the models whose
    lineage lives on: one that died out can never earn again (one scan per model)."""
    still = []
    for model_id in alive:
        units, ended = protocol.lineage_outlook(model_id)
        if units:
            protocol.claim(model_id, 1 << 30)
        if not ended:
            still.append(model_id)
    return still


VERSION_BUCKETS = ["latest"] + [f"latest-{d}" for d in range(1, 11)] + ["older", "none"]


def version_distribution(result: SimulationResult, rounds: int = 100) -> list[list[int]]:
    """Per round (the first `rounds`): how many participants hold the latest version,
    latest-1, ..., latest-10, older, or none (the buckets of VERSION_BUCKETS)."""
    table = []
    for r in range(min(rounds, len(result.versions))):
        counts = [0] * len(VERSION_BUCKETS)
        for v in result.versions[r]:
            gap = result.latest[r] - v
            counts[-1 if v < 0 else min(gap, 11)] += 1
        table.append(counts)
    return table


def plot(result: SimulationResult, out: Path, version_rounds: int = 100) -> list[Path]:
    """The paper's two figures: tokens per participant over all rounds (one line each),
    and the distribution of the newest version held over the first rounds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    tokens = np.array(result.tokens)  # rounds x participants
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(np.arange(len(tokens)), tokens, lw=0.4, alpha=0.6)
    ax.set(xlabel="round", ylabel="tokens", title=f"Tokens per participant ({tokens.shape[1]} participants, "
           f"{tokens.shape[0]} rounds)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tokens_path = out / "tokens.png"
    fig.savefig(tokens_path, dpi=130)

    table = np.array(version_distribution(result, version_rounds))
    fig, ax = plt.subplots(figsize=(9, 5))
    colours = plt.cm.viridis(np.linspace(0, 0.95, 12)).tolist() + [[0.8, 0.8, 0.8, 1.0]]
    bottom = np.zeros(len(table))
    for b, name in enumerate(VERSION_BUCKETS):
        ax.bar(np.arange(len(table)), table[:, b], bottom=bottom, width=1.0, color=colours[b], label=name)
        bottom += table[:, b]
    ax.set(xlabel="round", ylabel="participants", xlim=(-0.5, len(table) - 0.5),
           title="Newest model version each participant holds")
    ax.legend(fontsize=7, ncol=2, loc="center right")
    fig.tight_layout()
    versions_path = out / "versions.png"
    fig.savefig(versions_path, dpi=130)
    plt.close("all")
    return [tokens_path, versions_path]
