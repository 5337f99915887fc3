"""How good is the model relay learning produces? DeRelayL against federated
averaging and centralized training, each run to its plateau, each with its own best
training turn (tuned on seeds the reported figures do not use).

Methods (the same split, model and metric, `task.evaluate`, for all):
- DeRelayL: every round runs through `derelayl.protocol.RelayProtocol` (the
  contract's rules: k = 4 trainers per model owner, deposits by the default
  policies, commit-reveal scores, median, top half accepted, carry-over). A matched
  trainer really trains its parent's weights (PyTorch) on its own share; two
  evaluators score every submission with the task's metric on their own test
  splits; the held-out set (seen by nobody) measures the best-scored model of the
  newest lineage layer.
- merge turn (prototype, `--phase merge`; docs/merge.md): the same, except that
  every trainer starts from a merge (`derelayl.merge`) of the parent layer's accepted
  models; the held-out set measures the merge of the newest layer.
- FedAvg: every participant trains the global model on its share; the server
  averages the weights, weighted by sample count.
- Centralized: one model trained on all participants' data pooled.

Phases (each writes its JSON under benchmarks/results/ after every run, so a stopped
run keeps what it finished):
- ``tune``: on tuning seeds (100, 101, ...), a grid of turn settings (momentum 0.9
  at the task's lr, or plain SGD at the equivalent step lr / (1 - 0.9); the task's
  epochs or twice them; cross-entropy plain or class-balanced) for the relay and
  FedAvg, and momentum x epochs for centralized -> efficacy-tuning.json.
- ``eval``: on seeds 0, 1, 2, ..., every method with its best setting of the tuning
  phase -> efficacy.json, docs/img/efficacy-<task>.png (accuracy against rounds and
  against cumulative training compute in sample-epochs, every trained slot counted).
- ``merge``: the merge turn against the plain relay and FedAvg, with and without an
  accepted model replaced by garbage -> efficacy-merge.json, docs/img/efficacy-merge.png
  (the variants with a selection made for the merge turn: efficacy-merge-selection.png).
- ``report``: no training; prints the summaries of efficacy.json (or the file that
  ``--rules`` and ``--bid-policy`` name) and efficacy-merge.json, and redraws their plots.

The relay plays under the benchmark's TEST_PARAMS (durations 0, free offers, no
acceptance floor, no fallback). ``--phase eval --rules deployed`` plays it under the
rules a deployment uses instead (`deployed_rules`: the safe durations, the minimum
price, the task's floor, the margin under the parent, the fallback; everyone starts
with `DEPLOYED_ALLOCATION` tokens and claims its lineage rewards every round) ->
efficacy-deployed.json, docs/img/efficacy-deployed-<task>.png. ``--rules
deployed-free`` keeps the floors, fallback and durations but offers are free and
nobody holds tokens, to tell the floors' effect from the tokens' ->
efficacy-deployed-free.json. ``--bid-policy <name>`` (eval phase) has the trainers bid
by a candidate policy of `derelayl.policies.BID_POLICIES` instead of the authors'
`default_bid` -> efficacy[-<rules>]-<name>.json; ``--price-policy minimum`` has the
owners offer the minimum price instead of `default_price` -> ...-price-minimum.json.

    nice -n 19 .venv/bin/python benchmarks/efficacy.py --phase tune
    nice -n 19 .venv/bin/python benchmarks/efficacy.py --phase eval
    nice -n 19 .venv/bin/python benchmarks/efficacy.py --phase merge
    nice -n 19 .venv/bin/python benchmarks/efficacy.py --phase eval --rules deployed --tasks digits
    nice -n 19 .venv/bin/python benchmarks/efficacy.py --quick     # a look in a few minutes

Reported per cell: the plateau (mean of the last 10 rounds, never the best round),
mean and spread (std) over the evaluation seeds, and the rounds to 90% and 95% of
centralized (the first round at which the trailing 5-round mean reaches the share of
that seed's centralized plateau).
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from derelayl.crypto import weights_hash
from derelayl.demo import DemoConfig, split_data
from derelayl.launch import task_params
from derelayl.merge import MERGES, Merge, trimmed_mean
from derelayl.params import DEFAULT_PARAMS, MERGE_HORIZON, SAFE_DURATIONS, SCORE_SCALE, TEST_PARAMS, TOKEN
from derelayl.policies import BID_POLICIES, PRICE_POLICIES, PolicyView, default_bid, default_price
from derelayl.protocol import Phase, ProtocolRevert, RelayProtocol, median
from derelayl.roles.trainer import submission_binding
from derelayl.simulate import cheap_commitment, cheap_tie_keys
from derelayl.task import Dataset, Task, load_task
from derelayl.training import evaluate, train_turn
from derelayl.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
IMG = ROOT / "docs" / "img"
ENVELOPE = b"\x01"
# The merge relay's reward horizon (`RelayProtocol(merge_horizon=MERGE_HORIZON)`, from
# derelayl.params): an accepted model mints at most 10 rewards, where in the plain relay
# it pays every ancestor (one per layer of depth, 200 at round 200).
SPEC = load_task("digits-mlp")
TASKS = {"digits": "digits-mlp", "wine": "wine"}
#: The rounds over which a plateau is averaged, and the window of "rounds to X%".
PLATEAU, WINDOW = 10, 5
#: Everyone's tokens at the start of a relay under `deployed_rules`: owners need credit
#: to offer at the minimum price (the attacks benchmark's allocation).
DEPLOYED_ALLOCATION = 10 * TOKEN
#: The relay's rules in the eval phase (`--rules`).
RULES = ("test", "deployed", "deployed-free")


def deployed_rules(task: Task) -> dict[str, int]:
    """The rules `derelayl deploy --task <task>` deploys, as changes to the benchmark's
    TEST_PARAMS (durations 0, free offers, no acceptance floor, no fallback): the safe
    durations, the minimum price, the task's acceptance floor (deploy raises
    DEFAULT_PARAMS' 0.01 to it; digits-mlp: 0.2, chance is 0.1), and the margin under
    the parent and the fallback of DEFAULT_PARAMS."""
    return {**SAFE_DURATIONS, "min_price": DEFAULT_PARAMS.min_price,
            "score_floor": task_params(DEFAULT_PARAMS, task).score_floor,
            "floor_margin": DEFAULT_PARAMS.floor_margin, "fallback_rounds": DEFAULT_PARAMS.fallback_rounds}


def relay_rules(task: Task, rules: str) -> dict[str, Any]:
    """`relay_run`'s arguments for one of `RULES`: "test" is TEST_PARAMS with no tokens;
    "deployed" is `deployed_rules` with `DEPLOYED_ALLOCATION` tokens each, everyone
    claiming its lineage rewards (an owner needs credit to offer at the minimum price);
    "deployed-free" is `deployed_rules` with free offers and no tokens."""
    if rules == "test":
        return {}
    if rules == "deployed":
        return {"rules": deployed_rules(task), "allocation": DEPLOYED_ALLOCATION, "claims": True}
    if rules == "deployed-free":
        return {"rules": {**deployed_rules(task), "min_price": 0}}
    raise ValueError(f"unknown rules {rules!r}; known: {RULES}")


# ------------------------------------------------------------------ the training turn


@dataclass(frozen=True)
class TurnSettings:
    """One training turn: mini-batch SGD on (optionally class-balanced) cross-entropy.
    The optimizer is created anew at every turn, as every SDK trainer does."""

    epochs: int
    lr: float
    momentum: float
    batch_size: int
    balanced: bool = False

    @property
    def label(self) -> str:
        """A short name, e.g. ``sgd0 lr0.5 E5 bal``."""
        return (f"{'mom0.9' if self.momentum else 'sgd0'} lr{self.lr:g} E{self.epochs}"
                f"{' bal' if self.balanced else ''}")


def task_default(task: Task) -> TurnSettings:
    """The task's own turn (its hyperparameters; plain cross-entropy)."""
    h = task.hyperparameters
    return TurnSettings(int(h["epochs"]), float(h["lr"]), float(h.get("momentum", 0.9)), int(h["batch_size"]))


def settings_grid(task: Task) -> list[TurnSettings]:
    """momentum {0.9 at the task's lr, 0 at lr / (1 - 0.9)} x epochs {E, 2E} x
    loss {plain, class-balanced}, around the task's defaults."""
    base = task_default(task)
    momentum = base.momentum or 0.9
    # The same pair whichever form the task's default takes (digits-mlp's is now the
    # plain-SGD one): momentum at lr, and plain SGD at the equivalent lr / (1 - momentum).
    lr = base.lr if base.momentum else base.lr * (1 - momentum)
    out = []
    for m, lr in ((momentum, lr), (0.0, lr / (1 - momentum))):
        for epochs in (base.epochs, 2 * base.epochs):
            for balanced in (False, True):
                out.append(TurnSettings(epochs, round(lr, 6), m, base.batch_size, balanced))
    return out


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, s: TurnSettings, seed: int, classes: int) -> nn.Module:
    """One turn of `s` on (x, y), in place, deterministic under `seed`: the SDK's own
    turn (`derelayl.training.train_turn`; `s.balanced` is its class-balanced loss, the
    classes counted from the model's outputs, so `classes` is only kept for callers)."""
    return train_turn(model, x, y, epochs=s.epochs, lr=s.lr, momentum=s.momentum, batch_size=s.batch_size,
                      class_balanced=s.balanced, seed=seed)


# ------------------------------------------------------------------ the relay driver


class Resubmit(enum.Enum):
    """What a turn may return instead of a model: no training at all."""

    PARENT = "the parent's on-chain weights hash and CID"  # refused: RelayUnchangedWeights
    COPY = "the previous submission's hash, CID and envelopes"  # bound to its trainer: scored 0
    NOTHING = "no submission at all"  # the bid burns


def honest_turn(index, model, x, y, epochs, seed, submitted):
    """A trainer's honest turn (the attacks benchmark's): the SDK's `train_turn`."""
    return train_turn(model, x, y, epochs=epochs, seed=seed)


def settings_turn(settings: TurnSettings, classes: int):
    """An honest turn with `settings` (the `epochs` argument is ignored)."""
    def turn(index, model, x, y, epochs, seed, submitted):
        return train(model, x, y, settings, seed, classes)
    return turn


def honest_scores(index, models, x, y) -> list[int]:
    """An evaluator's honest scores: accuracy on its own test split; 0 for a submission
    it cannot use (None: weights bound to another slot, as the SDK's evaluator finds)."""
    return [0 if m is None else round(evaluate(m, x, y) * SCORE_SCALE) for m in models]


def task_scores(task: Task):
    """Honest scores with the task's own metric."""
    def scorer(index, models, x, y):
        return [0 if m is None else round(task.evaluate(m, Dataset(x, y)) * SCORE_SCALE) for m in models]
    return scorer


@dataclass
class MergeTurn:
    """The merge turn's prototype: every trainer starts from `merge` of the parent
    layer's accepted models. With `poison`, one accepted model of every layer (at
    random, never the best-scored) is replaced by `garbage` before anyone uses it.

    With `around_start`, `merge` is called with `center=` the merge the layer's trainers
    started from (the layer before's), so that a merge such as `clipped_mean` bounds the
    trainers' updates rather than the models' distances from each other.

    With `floor_margin` (score units; None: the protocol's rules), selection is made
    for the merge turn: the evaluators also score M_L, the merge every trainer of the
    round started from, and the protocol's parent-relative floor takes the median of
    those scores in place of the parent's score (`MergeFloorProtocol`), with this
    margin under it. Run with the accepted share at 1000 permille, so that every
    submission at or above score(M_L) - margin is accepted."""

    merge: Merge | None = None
    poison: bool = False
    garbage: str = "flip"  # "flip": -10 x the weights; "random": N(0, 10) weights
    floor_margin: int | None = None
    around_start: bool = False  # merge(states, center=the merge the layer's trainers started from)


class MergeFloorProtocol(RelayProtocol):
    """`RelayProtocol` whose parent-relative acceptance floor is taken from the merge
    M_L the round's trainers started from: `merge_score` is the median of the seated
    evaluators' scores of M_L, which the driver sets before settlement (on chain the
    evaluators would commit and reveal that score with the submissions' scores). The
    rest of the rules (ranking, the accepted share, `score_floor`, `floor_margin`) are
    the protocol's."""

    merge_score: int = 0

    def floor_of(self, s) -> int:
        p = self.params
        return max(p.score_floor, self.merge_score - p.floor_margin, 0)


def trimmed(states):
    """The trimmed mean dropping 1 model each side where there are more than 2 (the
    plain mean of 1 or 2 models: genesis, and the first layers)."""
    return trimmed_mean(states, trim=1 if len(states) > 2 else 0)


def garbage_of(state: dict[str, torch.Tensor], kind: str, seed: int) -> dict[str, torch.Tensor]:
    """A garbage model in place of `state`: sign-flipped and scaled by 10, or random."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, t in state.items():
        if not t.is_floating_point() or name.endswith(("mean", "std")):
            out[name] = t.clone()  # fixed buffers (e.g. standardisation constants) stay
        elif kind == "flip":
            out[name] = -10 * t
        else:
            out[name] = torch.randn(t.shape, generator=generator) * 10
    return out


@dataclass
class RelayRun:
    accuracy: list[float]  # held-out metric per round (best model of the newest layer, or its merge)
    protocol: RelayProtocol
    people: list[str]  # trainers / owners, in the order of `parts`
    evaluators: list[str]
    refused: int  # submissions the contract refused (RelayUnchangedWeights)
    seated: list[list[int]]  # per round, the evaluators drawn to its seats (indices into `evaluators`)
    compute: list[int] = field(default_factory=list)  # per round, sample-epochs of every trained slot
    layer_sizes: list[int] = field(default_factory=list)  # per round, models in the newest layer
    accepted: list[int] = field(default_factory=list)  # per round, models the settlement accepted
    merge_scores: list[int | None] = field(default_factory=list)  # per round, M_L's median score (merge floor)

    @property
    def forfeited(self) -> dict[str, int]:
        """Deposits and stakes each address lost (burned by the rules)."""
        return self.protocol.forfeited

    def tokens(self, account: str) -> int:
        """Credit plus the lineage rewards the account could claim now: what it holds
        after the last settlement (deposits are all released by then)."""
        return self.protocol.credit.get(account, 0) + self.protocol.lineage_owed(account)


def relay(parts, evaluator_sets, holdout, rounds: int, epochs: int, seed: int) -> list[float]:
    """DeRelayL on `RelayProtocol` with real training; held-out accuracy per round."""
    return relay_run(parts, evaluator_sets, holdout, rounds, epochs, seed).accuracy


def relay_run(parts, evaluator_sets, holdout, rounds: int, epochs: int, seed: int, allocation: int = 0,
              turn=honest_turn, scorer=honest_scores, withholders: frozenset[int] = frozenset(),
              seats: int | None = None, couriers: bool = True, absent: frozenset[int] = frozenset(),
              garbage_keys: frozenset[int] = frozenset(), quorum: int = 1, task: Task = SPEC,
              merging: MergeTurn | None = None, selection_permille: int = 500,
              progress: Callable[[], None] | None = None, rules: dict[str, int] | None = None,
              closer: frozenset[str] = frozenset(), late_keys: frozenset[int] = frozenset(),
              sealed: frozenset[int] = frozenset(), cheap: frozenset[int] = frozenset(),
              eager: frozenset[int] = frozenset(), seed_for: Callable | None = None,
              claims: bool = False, bid_policy: Callable[[PolicyView], int] = default_bid,
              price_policy: Callable[[PolicyView], int | None] = default_price) -> RelayRun:
    """The relay with pluggable behaviour: `turn(trainer_index, model, x, y, epochs,
    seed, submitted)` returns the model a trainer submits (`submitted`: this round's
    models so far) or a `Resubmit`; `scorer(evaluator_index, models, x, y)` its scores,
    or None to commit and never reveal. As model owners, the participants in
    `withholders` never deliver keys, and those in `absent` have gone away (they
    neither offer nor deliver); with `couriers`, an evaluator of the round that
    accepted such a model delivers its key (`courierKey`) instead, and offers it
    (`courierOffer`) after a round in which nobody offered, as the SDK's evaluators do.
    Those in `garbage_keys` deliver keys that do not open their models: the trainer
    asks (`requestKey`) and, with `couriers`, a key holder couriers the right key, as
    the SDK's trainers and evaluators do; without one the trainer cannot train.
    Everyone starts with `allocation` credit, so that deposits can be lost. Every
    evaluator stakes every round; with `seats` fewer than the evaluators, the
    contract's draw seats that many of them. A model is ranked only on at least
    `quorum` revealed scores (the benchmarks' 1 unless they say).

    `task` gives the model and the held-out metric; `merging` (see `MergeTurn`) with a
    merge plays `RelayProtocol`'s merge relay (`merge_horizon=MERGE_HORIZON`): owners
    do not offer, a key holder of the parent layer delivers each slot the layer's key
    bundle, and every trainer starts from a merge of the layer; `selection_permille` is the accepted share of ranked submissions. Compute
    counts len(x) * `epochs` for every slot whose trainer trained.

    Issue 17's liveness and timing attacks (benchmarks/attacks.py): `rules` changes
    the benchmark's parameters (e.g. today's safe durations, minimum price and
    acceptance floor); with durations above 0, everyone waits for a phase's deadline
    before closing it (the clock, `protocol.now`, moves to it). An outsider closes
    the phases in `closer` the moment it may: "bidding" as the round opens (before
    anyone offers), "training" right after the round's first key, "committing" right
    after the submissions. The owners in `late_keys` do not deliver in time: at the
    last moment of Training they deliver their keys and close Training (one bundle),
    refused under a key window. The trainers in `sealed` seal their models' key
    envelopes to the evaluators with garbage: nobody can open their submissions (the
    scorer gets None, as for a copy) and no key holder can courier their models. The
    owners in `cheap` offer the lowest price the rules allow (`min_price`); the trainers
    in `eager` bid one base unit more than the default policy, so they are matched first.
    `seed_for(round_state, evaluators)`, if given, chooses the seed of the draw (as
    whoever closed Bidding could before the two-step close), instead of a random one.
    With `claims`, every creator claims the lineage rewards of its models as each round
    opens, as the SDK's trainers do (without, rewards stay owed: `RelayRun.tokens`).
    Trainers bid by `bid_policy` and owners price by `price_policy` (the authors'
    `default_bid` and `default_price` unless told; the view carries the deployment's
    minimum price)."""
    rng = random.Random(seed)
    people = [f"0x{i:040x}" for i in range(1, len(parts) + 1)]
    evaluators = [f"0x{i:040x}" for i in range(1000, 1000 + len(evaluator_sets))]
    # TEST_PARAMS: phases close at once (no clock here), free offers, no acceptance floor.
    params = TEST_PARAMS.replace(k=4, max_trainers=len(people), max_evaluators=max(seats or len(evaluators), quorum),
                                 quorum=quorum, evaluator_stake=0, selection_permille=selection_permille,
                                 **(rules or {}))
    merge_relay = merging is not None and merging.merge is not None
    floor_on_merge = merge_relay and merging.floor_margin is not None
    if floor_on_merge:
        params = params.replace(floor_margin=merging.floor_margin)
    genesis = task.initial_model(seed)
    protocol = (MergeFloorProtocol if floor_on_merge else RelayProtocol)(
        params, people[0], weights_hash(save_weights(genesis)),
        allocations={p: allocation for p in people} if allocation else None,
        tie_keys=cheap_tie_keys(), commitment=cheap_commitment, merge_horizon=MERGE_HORIZON if merge_relay else 0)
    for p in people + evaluators:
        protocol.register_key(p, b"\x01" * 32)
    weights = {0: genesis.state_dict()}
    refused = 0
    version = {p: -1 for p in people}
    version[people[0]] = 0
    accuracy: list[float] = []
    compute: list[int] = []
    layer_sizes: list[int] = []
    accepted_counts: list[int] = []
    seated: list[list[int]] = []
    merge_scores: list[int | None] = []  # per round, the median of the evaluators' scores of M_L (floor_on_merge)
    held = Dataset(*holdout)

    starts: dict[int, dict[str, torch.Tensor]] = {}  # layer -> the merge its trainers started from

    def merged(layer: int) -> dict[str, torch.Tensor]:
        assert merging is not None and merging.merge is not None
        states = [weights[m] for m in protocol.layer_of(layer)]
        if merging.around_start and protocol.model_layer(layer) in starts:
            return merging.merge(states, center=starts[protocol.model_layer(layer)])
        return merging.merge(states)

    def unsealed(model_id: int) -> list[str]:  # who can courier the model: nobody if its envelopes were garbage
        return [] if people.index(protocol.models[model_id].creator) in sealed else protocol.key_holders_of(model_id)

    def at_deadline(rs) -> None:  # wait for the phase's deadline (durations 0: now)
        protocol.now = max(protocol.now, protocol.deadline(rs))

    def meddle(phase: str, close: Callable[[], object]) -> None:
        """The outsider closes `phase` at once if it is one of `closer` (refused before the deadline)."""
        if phase in closer:
            try:
                close()
            except ProtocolRevert as exc:
                assert exc.name == "RelayPhaseNotOver", exc

    for _ in range(rounds):
        r = protocol.round
        rs = protocol.rounds[r]
        for m in protocol.models if claims else ():
            if not m.lineage_ended and protocol.claimable(m.model_id, 64)[0]:
                protocol.claim(m.model_id, 64)
        latest = len(protocol.layers) - 1
        owners = protocol.owner_models[protocol.model_layer(rs.parent_layer)]
        meddle("bidding", lambda: protocol.close_bidding(b"\x07" * 32))
        for owner, model_id in owners.items() if rs.phase == Phase.BIDDING and not merge_relay else ():
            if people.index(owner) not in absent:
                price = price_policy(PolicyView(protocol.credit.get(owner, 0), latest, version[owner], params.k,
                                                params.min_price))
                price = params.min_price if people.index(owner) in cheap else price
                if price is not None:
                    protocol.offer(owner, r, price)
            elif couriers and protocol.may_courier_offer(rs, model_id) and (holders := unsealed(model_id)):
                protocol.courier_offer(holders[0], r, model_id)  # after a round that did not offer it
        if rs.phase == Phase.BIDDING:
            for p in people:
                if p not in owners:
                    amount = bid_policy(PolicyView(protocol.credit.get(p, 0), latest, version[p], params.k,
                                                   params.min_price))
                    if people.index(p) in eager:
                        amount = min(amount + 1, protocol.credit.get(p, 0))
                    protocol.bid(p, r, amount)
            for e in evaluators:
                protocol.stake_evaluator(e, r)
            at_deadline(rs)
            protocol.close_bidding(seed_for(rs, evaluators) if seed_for else rng.randbytes(32))
        seated.append([evaluators.index(e) for e in rs.evaluators])
        for e in sorted(rs.undrawn):  # left out of the draw: take the stake back
            protocol.reclaim_stake(e, r)
        start = merged(rs.parent_layer) if merging and merging.merge else None
        trained: dict[int, object] = {}  # slot -> the weights it submitted
        copies: set[int] = set()  # slots that submitted another slot's ciphertext
        hashes: list[bytes] = []
        work = 0
        for i, s in enumerate(rs.slots):
            if rs.phase != Phase.TRAINING:
                break  # closed by an outsider: no more keys, no more submissions
            owner = people.index(protocol.models[s.parent_id].creator)
            holders = unsealed(s.parent_id) if couriers else []
            if merge_relay:  # one bundle of the layer's keys, from a key holder of the layer
                if not (holders := protocol.bundle_holders(rs.parent_layer)):
                    continue  # nobody holds the keys: the bid comes back at settlement
                protocol.deliver_bundle(holders[0], r, i, ENVELOPE)
            elif owner not in withholders | absent | late_keys:
                protocol.deliver_key(people[owner], r, i, ENVELOPE)
                if owner in garbage_keys:  # the key does not open the parent: the trainer asks
                    protocol.request_key(s.trainer, r, i)
                    if not holders:
                        continue  # nobody else holds the key: no training, and the bid burns
                    protocol.courier_key(holders[0], r, i, ENVELOPE)
            elif holders:
                protocol.courier_key(holders[0], r, i, ENVELOPE)
            else:
                continue  # no key: the trainer cannot train, and settlement pays it the remedy
            meddle("training", protocol.close_training)
            if rs.phase != Phase.TRAINING:
                break
            model = task.build_model()
            model.load_state_dict(start if start is not None else weights[s.parent_id])
            x, y = parts[people.index(s.trainer)]
            result = turn(people.index(s.trainer), model, x, y, epochs, seed * 1000 + r * 100 + i,
                          [trained[j] for j in sorted(trained)])
            version[s.trainer] = protocol.models[s.parent_id].layer + 1
            if result is Resubmit.NOTHING:
                continue
            if result is not Resubmit.PARENT and result is not Resubmit.COPY:
                work += len(y) * epochs
            if result is Resubmit.PARENT:
                digest = protocol.models[s.parent_id].weights_hash
            elif result is Resubmit.COPY and hashes:
                digest, result = hashes[-1], trained[max(trained)]  # the copy still names the original trainer
                copies.add(i)
            else:
                result = model if result is Resubmit.COPY else result  # nothing to copy yet: the parent
                digest = weights_hash(save_weights(result, submission_binding(protocol.contract, r, i, s.trainer)))
            try:
                protocol.submit(s.trainer, r, i, digest, "m", [ENVELOPE] * len(rs.evaluators))
            except ProtocolRevert as exc:
                assert exc.name == "RelayUnchangedWeights", exc
                refused += 1
                continue
            trained[i] = result
            hashes.append(digest)
        if rs.phase == Phase.TRAINING and late_keys:  # the last moment of Training: deliver and close at once
            protocol.now = max(protocol.now, protocol.deadline(rs) - 1)
            for i, s in enumerate(rs.slots):
                if people.index(protocol.models[s.parent_id].creator) in late_keys and not s.delivered:
                    try:
                        protocol.deliver_key(protocol.models[s.parent_id].creator, r, i, ENVELOPE)
                    except ProtocolRevert as exc:
                        assert exc.name == "RelayKeyWindowClosed", exc
            try:
                protocol.close_training()
            except ProtocolRevert as exc:
                assert exc.name == "RelayPhaseNotOver", exc
        if rs.phase == Phase.TRAINING:
            at_deadline(rs)
            protocol.close_training()
        if rs.phase == Phase.COMMITTING:
            meddle("committing", protocol.close_commit)
        if rs.phase == Phase.COMMITTING:
            revealing = []
            for index in seated[-1]:
                e, (x, y) = evaluators[index], evaluator_sets[index]
                scores = scorer(index, [None if i in copies or people.index(rs.slots[i].trainer) in sealed
                                        else trained.get(i) for i in range(len(rs.slots))], x, y)
                salt = rng.randbytes(32)
                protocol.commit(e, r, protocol.commitment_for(r, e, scores or [0] * len(rs.slots), salt))
                if scores is not None:
                    revealing.append((e, scores, salt))
            for e, scores, salt in revealing:  # the last commit opened the reveal phase
                protocol.reveal(e, r, scores, salt)
            if floor_on_merge:  # the revealing evaluators score M_L too, on the same splits
                start_model = task.build_model()
                start_model.load_state_dict(start)
                of_merge = [scorer(index, [start_model], *evaluator_sets[index])[0] for index in seated[-1]
                            if evaluators[index] in {e for e, _, _ in revealing}]
                protocol.merge_score = median(of_merge) if of_merge else 0
                merge_scores.append(protocol.merge_score)
        if floor_on_merge and len(merge_scores) < len(accuracy) + 1:
            merge_scores.append(None)  # nothing submitted: nothing to score, nothing to accept
        at_deadline(rs)
        settlement = protocol.settle()
        for model_id in settlement.accepted_models:
            weights[model_id] = trained[protocol.models[model_id].slot].state_dict()
        if settlement.accepted_models and start is not None:
            starts[protocol.models[settlement.accepted_models[0]].layer] = start
        newest = protocol.layer_of(len(protocol.layers) - 1)  # a fallback layer holds its source's models
        best = max(newest, key=lambda m: protocol.models[m].score)
        if merging and merging.poison and settlement.accepted_models and len(newest) > 1:
            victim = rng.choice([m for m in newest if m != best])
            weights[victim] = garbage_of(weights[victim], merging.garbage, seed * 7919 + r)
        model = task.build_model()
        model.load_state_dict(merged(len(protocol.layers) - 1) if merging and merging.merge else weights[best])
        accuracy.append(task.evaluate(model, held))
        compute.append(work)
        layer_sizes.append(len(newest))
        accepted_counts.append(len(settlement.accepted_models))
        protocol.forget_round(r)
        if progress:
            progress()
    return RelayRun(accuracy, protocol, people, evaluators, refused, seated, compute, layer_sizes, accepted_counts,
                    merge_scores)


# ------------------------------------------------------------------ FedAvg and centralized


def fedavg(task: Task, parts, holdout, rounds: int, s: TurnSettings, seed: int,
           progress: Callable[[], None] | None = None) -> tuple[list[float], list[int]]:
    """Federated averaging over all participants: held-out metric and sample-epochs per round."""
    global_model = task.initial_model(seed)
    sizes = np.array([len(y) for _, y in parts], dtype=np.float64)
    weights = sizes / sizes.sum()
    held, classes = Dataset(*holdout), len(task.labels)
    accuracy, compute = [], []
    for r in range(rounds):
        states = []
        for i, (x, y) in enumerate(parts):
            local = task.build_model()
            local.load_state_dict(global_model.state_dict())
            train(local, x, y, s, seed * 1000 + r * 100 + i, classes)
            states.append(local.state_dict())
        averaged = {name: sum(w * st[name] for w, st in zip(weights, states)) for name in states[0]}
        global_model.load_state_dict(averaged)
        accuracy.append(task.evaluate(global_model, held))
        compute.append(int(sizes.sum()) * s.epochs)
        if progress:
            progress()
    return accuracy, compute


def centralized(task: Task, parts, holdout, rounds: int, s: TurnSettings, seed: int,
                progress: Callable[[], None] | None = None) -> tuple[list[float], list[int]]:
    """One model on all participants' data pooled, `s.epochs` epochs a round (the
    optimizer kept across rounds: one long training run)."""
    x = np.concatenate([x for x, _ in parts])
    y = np.concatenate([y for _, y in parts])
    model = task.initial_model(seed)
    held, classes = Dataset(*holdout), len(task.labels)
    accuracy, compute = [], []
    for r in range(rounds):
        train(model, x, y, s, seed * 1000 + r, classes)
        accuracy.append(task.evaluate(model, held))
        compute.append(len(y) * s.epochs)
        if progress:
            progress()
    return accuracy, compute


# ------------------------------------------------------------------ experiments


@dataclass(frozen=True)
class Cell:
    """One cell of the grid: a task, a participant count, a label skew, a seed."""

    task: str
    participants: int
    alpha: float
    seed: int


def cell_data(cell: Cell):
    """The cell's task, trainer shares, evaluator test splits and held-out set."""
    task = load_task(TASKS[cell.task])
    data = task.example_data()
    x, y = data.features, data.labels
    holdout, trainer_parts, evaluator_parts = split_data(
        DemoConfig(trainers=cell.participants, evaluators=2, alpha=cell.alpha, seed=cell.seed), data)
    return (task, [(x[p], y[p]) for p in trainer_parts], [(x[p], y[p]) for p in evaluator_parts],
            (x[holdout], y[holdout]))


def run_method(method: str, cell: Cell, s: TurnSettings, rounds: int, merging: MergeTurn | None = None,
               selection_permille: int = 500, tick: Callable[[], None] | None = None,
               rules: str = "test", bid_policy: str = "default", price_policy: str = "default",
               rule_changes: dict[str, int] | None = None) -> dict[str, Any]:
    """One method on one cell: its curve, compute per round, and the settings; the
    relay plays under `rules` (one of `RULES`, see `relay_rules`) with `rule_changes`
    on top, its trainers bidding by `BID_POLICIES[bid_policy]` and its owners pricing
    by `PRICE_POLICIES[price_policy]`."""
    task, parts, evaluator_sets, held = cell_data(cell)
    begun = time.time()
    extra: dict[str, Any] = {}
    if method == "DeRelayL":
        played = relay_rules(task, rules)
        if rule_changes:
            played["rules"] = {**played.get("rules", {}), **rule_changes}
        run = relay_run(parts, evaluator_sets, held, rounds, s.epochs, cell.seed, task=task,
                        turn=settings_turn(s, len(task.labels)), scorer=task_scores(task), merging=merging,
                        selection_permille=selection_permille, progress=tick,
                        bid_policy=BID_POLICIES[bid_policy], price_policy=PRICE_POLICIES[price_policy],
                        **played)
        curve, compute = run.accuracy, run.compute
        extra = {"refused": run.refused, "layer_sizes": run.layer_sizes, "accepted": run.accepted,
                 "fallbacks": len(run.protocol.layer_sources), "rules": rules, "bid_policy": bid_policy,
                 "price_policy": price_policy,
                 # per participant: the models of theirs accepted, and their credit at the end (tokens)
                 "accepted_by": [sum(m.creator == p for m in run.protocol.models[1:]) for p in run.people],
                 "credit_end": [round(run.protocol.credit.get(p, 0) / TOKEN, 3) for p in run.people]}
        if merging and merging.floor_margin is not None:  # the floor's reference: M_L's median score per round
            extra["merge_scores"] = [None if v is None else round(v / SCORE_SCALE, 5) for v in run.merge_scores]
    elif method == "FedAvg":
        curve, compute = fedavg(task, parts, held, rounds, s, cell.seed, progress=tick)
    else:
        curve, compute = centralized(task, parts, held, rounds, s, cell.seed, progress=tick)
    return {**asdict(cell), "method": method, "settings": asdict(s), "label": s.label, "rounds": rounds,
            "accuracy": [round(a, 5) for a in curve], "compute": compute, "seconds": round(time.time() - begun, 2),
            **extra}


def plateau(curve: Sequence[float]) -> float:
    """The mean of the last `PLATEAU` rounds."""
    return float(np.mean(curve[-PLATEAU:]))


def rounds_to(curve: Sequence[float], target: float) -> int | None:
    """The first round whose trailing `WINDOW`-round mean reaches `target` (None: never)."""
    c = np.asarray(curve)
    for r in range(WINDOW, len(c) + 1):
        if c[r - WINDOW: r].mean() >= target:
            return r
    return None


def flattened(curve: Sequence[float]) -> float:
    """How much the curve still rose over its last quarter: the plateau minus the mean
    of the 10 rounds ending at three quarters of the run (small: it had flattened)."""
    q = max(PLATEAU, 3 * len(curve) // 4)
    return float(plateau(curve) - np.mean(curve[q - PLATEAU: q]))


class Store:
    """A results file rewritten after every run (a stopped run keeps what it finished)."""

    def __init__(self, path: Path, settings: dict[str, Any], resume: bool) -> None:
        self.path = path
        old = json.loads(path.read_text()) if resume and path.exists() else {}
        self.record = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                   "torch_threads": torch.get_num_threads()},
                       "settings": settings, "runs": old.get("runs", []), **{k: v for k, v in old.items()
                                                                            if k not in ("runs", "settings", "machine")}}

    def has(self, key: dict[str, Any]) -> dict[str, Any] | None:
        for run in self.record["runs"]:
            if all(run.get(k) == v for k, v in key.items()):
                return run
        return None

    def add(self, run: dict[str, Any]) -> None:
        self.record["runs"].append(run)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.record, indent=None, separators=(",", ":")) + "\n")


def play(store: Store, jobs: list[tuple[dict[str, Any], Callable[[Callable[[], None]], dict[str, Any]]]],
         total_rounds: int, desc: str) -> None:
    """Runs the jobs not yet in `store`, one after another, with a tqdm bar of rounds."""
    bar = tqdm(total=total_rounds, desc=desc, unit="round", file=sys.stderr, smoothing=0.05)
    for key, job in jobs:
        found = store.has(key)
        if found:
            bar.update(found["rounds"])
            continue
        bar.set_postfix_str(" ".join(f"{v}" for v in key.values()), refresh=True)
        run = job(lambda: bar.update(1))
        run.update(key)
        store.add(run)
        tqdm.write(f"{' '.join(f'{k}={v}' for k, v in key.items())}: plateau {plateau(run['accuracy']):.3f} "
                   f"({run['seconds']:.0f} s)", file=sys.stderr)
    bar.close()


# ------------------------------------------------------------------ phases


def tune(args) -> None:
    """The grid of turn settings on the tuning seeds (n = `args.tune_participants`)."""
    store = Store(RESULTS / f"efficacy-tuning{args.suffix}.json", vars(args), args.resume)
    jobs, total = [], 0
    for name in args.tasks:
        task = load_task(TASKS[name])
        grid = settings_grid(task)
        central_grid = [s for s in grid if not s.balanced]
        for seed in args.tune_seeds:
            for s in central_grid:
                cell = Cell(name, args.tune_participants, args.alphas[0], seed)
                key = {"task": name, "method": "centralized", "label": s.label, "seed": seed}
                jobs.append((key, lambda tick, c=cell, s=s: run_method("centralized", c, s, args.central_rounds,
                                                                      tick=tick)))
                total += args.central_rounds
        for alpha in args.alphas:
            for seed in args.tune_seeds:
                cell = Cell(name, args.tune_participants, alpha, seed)
                for method in ("DeRelayL", "FedAvg"):
                    for s in grid:
                        rounds = args.tune_rounds if method == "DeRelayL" else args.fedavg_rounds
                        key = {"task": name, "method": method, "alpha": alpha, "label": s.label, "seed": seed}
                        jobs.append((key, lambda tick, c=cell, s=s, m=method, n=rounds: run_method(m, c, s, n,
                                                                                                  tick=tick)))
                        total += rounds
    play(store, jobs, total, "tune")
    store.record["best"] = best_settings(store.record["runs"])
    store.save()
    print_tuning(store.record)


def best_settings(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task, method and alpha (centralized: per task), the setting with the highest
    mean plateau over the tuning seeds."""
    groups: dict[tuple, dict[str, list[float]]] = {}
    settings: dict[str, dict[str, Any]] = {}
    shortest: dict[tuple, int] = {}  # the settings of one group are compared over the same rounds
    for run in runs:
        where = (run["task"], run["method"], None if run["method"] == "centralized" else run["alpha"])
        shortest[where] = min(shortest.get(where, len(run["accuracy"])), len(run["accuracy"]))
    for run in runs:
        where = (run["task"], run["method"], None if run["method"] == "centralized" else run["alpha"])
        groups.setdefault(where, {}).setdefault(run["label"], []).append(
            plateau(run["accuracy"][:shortest[where]]))
        settings[run["label"]] = run["settings"]
    best = {}
    for (task, method, alpha), by_label in groups.items():
        label = max(by_label, key=lambda k: np.mean(by_label[k]))
        best[f"{task}|{method}|{alpha}"] = {"label": label, "settings": settings[label],
                                            "plateau": round(float(np.mean(by_label[label])), 4)}
    return best


def print_tuning(record: dict[str, Any]) -> None:
    rows: dict[tuple, list[tuple[float, int]]] = {}
    for run in record["runs"]:
        alpha = None if run["method"] == "centralized" else run.get("alpha")
        rows.setdefault((run["task"], run["method"], alpha, run["label"]), []).append(
            (plateau(run["accuracy"]), len(run["accuracy"])))
    print("\ntuning: plateau (mean of the last 10 rounds) over the tuning seeds [rounds]")
    for (task, method, alpha, label), values in sorted(rows.items(), key=lambda kv: tuple(map(str, kv[0]))):
        print(f"  {task:<7} {method:<11} alpha {alpha!s:<5} {label:<22} {np.mean([v for v, _ in values]):.3f} "
              f"({', '.join(f'{v:.3f} [{n}]' for v, n in values)})")


def chosen(best: dict[str, Any], task: str, method: str, alpha: float, fallback: TurnSettings) -> TurnSettings:
    """The tuned setting (falling back to the nearest alpha tuned, then `fallback`)."""
    entry = best.get(f"{task}|{method}|{None if method == 'centralized' else alpha}")
    if entry is None and method != "centralized":
        alphas = [float(k.split("|")[2]) for k in best if k.startswith(f"{task}|{method}|")]
        if alphas:
            near = min(alphas, key=lambda a: abs(np.log(a) - np.log(alpha)))
            entry = best[f"{task}|{method}|{near}"]
    return TurnSettings(**entry["settings"]) if entry else fallback


def policy_tag(args) -> str:
    """The results-file tag of `--rules`, `--bid-policy` and `--price-policy`, e.g.
    ``-deployed-capped`` or ``-deployed-capped-price-minimum`` ("" for the defaults)."""
    return ((f"-{args.rules}" if args.rules != "test" else "")
            + (f"-{args.bid_policy}" if args.bid_policy != "default" else "")
            + (f"-price-{args.price_policy}" if args.price_policy != "default" else ""))


def tuned_turns(args) -> dict[str, dict[str, Any]]:
    """The best turn of each task, method and alpha in the tuning results (`--turns`,
    by default the tune phase's file); none when there is no such file."""
    path = Path(args.turns) if args.turns else RESULTS / f"efficacy-tuning{args.suffix}.json"
    if not path.exists():
        print(f"no tuning results at {path}: every method plays the task's default turn "
              "(pass --turns benchmarks/results/efficacy-tuning.json to use the committed tuning)", file=sys.stderr)
        return {}
    return best_settings(json.loads(path.read_text())["runs"])


def copy_run(store: Store, grid: Store, grid_path: Path, key: dict[str, Any], rounds: int,
             settings: dict[str, Any], **extra: Any) -> None:
    """Copies the run `key` of `grid` into `store` (with `extra` fields) if it played
    `rounds` rounds with the turn `settings`: the runs are deterministic, so it is the
    run `store` would make. A run with another turn or length is not copied."""
    found = grid.has(key)
    if found and found["rounds"] == rounds and found["settings"] == settings:
        store.record["runs"].append({**found, **extra, "copied_from": grid_path.name})


def evaluate_grid(args) -> None:
    """Every method with its tuned setting on the evaluation seeds. With `--rules`
    other than "test", the relay plays under those rules and the phase writes
    efficacy-<rules>.json; its FedAvg and centralized runs (the same under any rules)
    are copied from efficacy.json where it has them with the same turn and rounds."""
    best = tuned_turns(args)
    tag = policy_tag(args)
    store = Store(RESULTS / f"efficacy{tag}{args.suffix}.json", vars(args), args.resume)
    jobs, total, turns = [], 0, {}
    for n in args.participants:
        for name in args.tasks:
            task = load_task(TASKS[name])
            for alpha in args.alphas:
                for seed in args.seeds:
                    cell = Cell(name, n, alpha, seed)
                    for method, rounds in (("DeRelayL", args.rounds), ("FedAvg", args.fedavg_rounds),
                                           ("centralized", args.central_rounds)):
                        s = chosen(best, name, method, alpha, task_default(task))
                        key = {"task": name, "participants": n, "alpha": alpha, "seed": seed, "method": method}
                        turns[tuple(key.values())] = asdict(s)
                        jobs.append((key, lambda tick, c=cell, s=s, m=method, r=rounds: run_method(
                            m, c, s, r, tick=tick, rules=args.rules, bid_policy=args.bid_policy,
                            price_policy=args.price_policy)))
                        total += rounds
    grid_path = RESULTS / f"efficacy{args.suffix}.json"
    if tag and grid_path.exists():
        grid = Store(grid_path, {}, resume=True)
        for key, _ in jobs:
            if key["method"] != "DeRelayL" and not store.has(key):
                wanted = {"FedAvg": args.fedavg_rounds, "centralized": args.central_rounds}[key["method"]]
                copy_run(store, grid, grid_path, key, wanted, turns[tuple(key.values())])
    play(store, jobs, total, "eval")
    store.record["summary"] = summarize(store.record["runs"])
    store.save()
    print_summary(store.record["summary"])
    for name in args.tasks:
        plot_grid(store.record["runs"], name, IMG / f"efficacy{tag}-{name}{args.suffix}.png")


def summarize(runs: list[dict[str, Any]], methods: Sequence[str] = ("DeRelayL", "FedAvg", "centralized"),
              method_key: str = "method") -> list[dict[str, Any]]:
    """Per cell and method: plateau mean and std over seeds, rounds to 90%/95% of
    that seed's centralized plateau, how much the curve still rose, compute per round."""
    cells = sorted({(r["task"], r["participants"], r["alpha"]) for r in runs}, key=lambda c: (c[0], c[1], -c[2]))
    rows = []
    for task, n, alpha in cells:
        group = [r for r in runs if (r["task"], r["participants"], r["alpha"]) == (task, n, alpha)]
        central = {r["seed"]: plateau(r["accuracy"]) for r in group if r["method"] == "centralized"}
        row: dict[str, Any] = {"task": task, "participants": n, "alpha": alpha}
        for m in methods:
            mine = [r for r in group if r[method_key] == m]
            if not mine:
                continue
            plateaus = [plateau(r["accuracy"]) for r in mine]
            entry = {"plateau": round(float(np.mean(plateaus)), 4), "std": round(float(np.std(plateaus)), 4),
                     "seeds": [r["seed"] for r in mine], "rounds": mine[0]["rounds"], "label": mine[0]["label"],
                     "still_rising": round(float(np.mean([flattened(r["accuracy"]) for r in mine])), 4),
                     "compute_per_round": round(float(np.mean([np.mean(r["compute"]) for r in mine])), 1)}
            if all("accepted" in r for r in mine):  # the relay: rounds that accepted nothing, fallbacks
                entry["rounds_accepting_nothing"] = round(float(np.mean([r["accepted"].count(0) for r in mine])), 1)
                entry["fallbacks"] = round(float(np.mean([r["fallbacks"] for r in mine])), 1)
            if central:
                ref = [central[r["seed"]] for r in mine if r["seed"] in central]
                entry["of_centralized"] = round(float(np.mean(plateaus) / np.mean(ref)), 4) if ref else None
                for share in (0.9, 0.95):
                    reached = [rounds_to(r["accuracy"], share * central[r["seed"]]) for r in mine
                               if r["seed"] in central]
                    got = [v for v in reached if v is not None]
                    entry[f"rounds_to_{round(share * 100)}"] = {
                        "mean": round(float(np.mean(got)), 1) if got else None, "reached": len(got),
                        "of": len(reached)}
            row[m] = entry
        rows.append(row)
    return rows


def fmt_rounds(entry: dict[str, Any], share: int) -> str:
    v = entry.get(f"rounds_to_{share}")
    if not v:
        return "-"
    if v["mean"] is None:
        return f"never (0/{v['of']})"
    return f"{v['mean']:.0f}" + ("" if v["reached"] == v["of"] else f" ({v['reached']}/{v['of']})")


def print_summary(summary: list[dict[str, Any]], methods: Sequence[str] = ("DeRelayL", "FedAvg", "centralized")) -> None:
    print("\nplateau (mean of the last 10 rounds), mean ± std over seeds; rounds to 90% / 95% of centralized")
    for row in summary:
        for m in methods:
            if m not in row:
                continue
            e = row[m]
            print(f"  {row['task']:<7} n={row['participants']:<3} alpha={row['alpha']:<5g} {m:<22} "
                  f"{e['plateau']:.3f} ± {e['std']:.3f}  ({e.get('of_centralized') or 0:.1%} of centralized)  "
                  f"90%: {fmt_rounds(e, 90):>10}  95%: {fmt_rounds(e, 95):>10}  [{e['label']}, {e['rounds']} rounds, "
                  f"still rising {e['still_rising']:+.3f}, {e['compute_per_round']:.0f} sample-epochs/round"
                  + (f", {e['rounds_accepting_nothing']:g} rounds accepted nothing, {e['fallbacks']:g} fallbacks"
                     if "fallbacks" in e else "") + "]")


def merge_variants() -> list[tuple[str, str, MergeTurn | None, int]]:
    """The merge phase's variants: (name, method, merge turn, accepted share in permille)."""
    return [
        ("relay", "DeRelayL", None, 500),
        ("merge median 50%", "DeRelayL", MergeTurn(MERGES["median"]), 500),
        ("merge mean 50%", "DeRelayL", MergeTurn(MERGES["mean"]), 500),
        ("merge trimmed 50%", "DeRelayL", MergeTurn(trimmed), 500),
        ("merge trimmed 75%", "DeRelayL", MergeTurn(trimmed), 750),
        ("FedAvg", "FedAvg", None, 500),
        ("centralized", "centralized", None, 500),
        ("relay + garbage", "DeRelayL", MergeTurn(None, poison=True), 500),
        ("merge mean 50% + garbage", "DeRelayL", MergeTurn(MERGES["mean"], poison=True), 500),
        ("merge trimmed 50% + garbage", "DeRelayL", MergeTurn(trimmed, poison=True), 500),
        ("merge mean 50%, FedAvg's turn", "DeRelayL", MergeTurn(MERGES["mean"]), 500),
        ("merge trimmed 50%, FedAvg's turn", "DeRelayL", MergeTurn(trimmed), 500),
        ("merge trimmed 50% + garbage, FedAvg's turn", "DeRelayL", MergeTurn(trimmed, poison=True), 500),
        # Selection made for the merge turn: every submission whose median score is at
        # least M_L's (less a margin) is accepted (docs/merge.md).
        ("merge mean, beats M", "DeRelayL", MergeTurn(MERGES["mean"], floor_margin=0), 1000),
        ("merge trimmed, beats M", "DeRelayL", MergeTurn(trimmed, floor_margin=0), 1000),
        ("merge trimmed, beats M - 0.02", "DeRelayL", MergeTurn(trimmed, floor_margin=SCORE_SCALE // 50), 1000),
        ("merge trimmed, beats M + garbage", "DeRelayL", MergeTurn(trimmed, poison=True, floor_margin=0), 1000),
        # The limit of a large margin: every ranked submission accepted (no floor).
        ("merge mean 100%", "DeRelayL", MergeTurn(MERGES["mean"]), 1000),
        ("merge trimmed 100%", "DeRelayL", MergeTurn(trimmed), 1000),
        ("merge mean 100% + garbage", "DeRelayL", MergeTurn(MERGES["mean"], poison=True), 1000),
        ("merge trimmed 100% + garbage", "DeRelayL", MergeTurn(trimmed, poison=True), 1000),
        # A robust merge that bounds each model's pull instead of trimming values
        # (centered clipping): a label one trainer holds keeps its direction.
        ("merge clipped 100%", "DeRelayL", MergeTurn(MERGES["clipped"]), 1000),
        ("merge clipped 100% + garbage", "DeRelayL", MergeTurn(MERGES["clipped"], poison=True), 1000),
        ("merge clipped 100% + random garbage", "DeRelayL",
         MergeTurn(MERGES["clipped"], poison=True, garbage="random"), 1000),
        ("merge trimmed 100% + random garbage", "DeRelayL", MergeTurn(trimmed, poison=True, garbage="random"), 1000),
        # Centered clipping around the start: the trainers' updates from the merge they
        # started from, each clipped to the median update's length (norm-bounded mean).
        ("merge clipped at start 100%", "DeRelayL", MergeTurn(MERGES["clipped"], around_start=True), 1000),
        ("merge clipped at start 100% + garbage", "DeRelayL",
         MergeTurn(MERGES["clipped"], poison=True, around_start=True), 1000),
        ("merge clipped at start 100% + random garbage", "DeRelayL",
         MergeTurn(MERGES["clipped"], poison=True, garbage="random", around_start=True), 1000),
    ]


#: The merge variants with a selection made for the merge turn (drawn in their own plot,
#: efficacy-merge-selection.png, against `SELECTION_REFERENCES`).
SELECTION_VARIANTS = ("beats M", "100%")
SELECTION_REFERENCES = ("relay", "FedAvg", "centralized", "merge mean 50%", "merge trimmed 75%", "relay + garbage",
                        "merge trimmed 50% + garbage")
#: The robust merges with every submission accepted, against two kinds of garbage
#: (drawn in efficacy-merge-robust.png, against `ROBUST_REFERENCES`).
ROBUST_VARIANTS = ("clipped", "random garbage")
ROBUST_REFERENCES = ("relay", "FedAvg", "centralized", "relay + garbage", "merge mean 100%", "merge trimmed 100%",
                     "merge trimmed 100% + garbage")


def plot_merges(runs: list[dict[str, Any]], names: Sequence[str], suffix: str, rules: str = "test") -> None:
    """Under rules other than the benchmark's, or for a task other than digits: one
    plot, efficacy-merge<suffix>.png, of every variant run. Otherwise three:
    efficacy-merge.png (the variants with the protocol's selection),
    efficacy-merge-selection.png (the selection made for the merge turn, against the
    plain relay, FedAvg and the best merges of the first plot) and
    efficacy-merge-robust.png (the robust merges with every submission accepted)."""
    task = "/".join(sorted({r["task"] for r in runs}))
    if rules != "test" or task != "digits":
        ran = [v for v in names if any(r.get("variant") == v for r in runs)]
        plot_merge(runs, ran, IMG / f"efficacy-merge{suffix}.png", top=(0.6, 1.0), tab10=True,
                   title=f"{task}: the merge turn" + (f" under the {rules} rules" if rules != "test" else "")
                   + ", held-out accuracy, mean over seeds")
        return
    robust = [v for v in names if any(tag in v for tag in ROBUST_VARIANTS)]
    new = [v for v in names if any(tag in v for tag in SELECTION_VARIANTS) and v not in robust]
    plot_merge(runs, [v for v in names if v not in new and v not in robust], IMG / f"efficacy-merge{suffix}.png",
               title=f"{task}: the merge turn, held-out accuracy, mean over seeds")
    if any(r.get("variant") in new for r in runs):
        plot_merge(runs, [v for v in names if v in SELECTION_REFERENCES or v in new],
                   IMG / f"efficacy-merge-selection{suffix}.png", top=(0.6, 1.0),
                   title=f"{task}: the merge turn with every submission accepted (100%) or those at or above M_L "
                   "(beats M), held-out accuracy, mean over seeds", tab10=True)
    if any(r.get("variant") in robust for r in runs):
        plot_merge(runs, [v for v in names if v in ROBUST_REFERENCES or v in robust],
                   IMG / f"efficacy-merge-robust{suffix}.png", top=(0.6, 1.0),
                   title=f"{task}: robust merges with every submission accepted: trimmed mean and centered clipping, "
                   "against a sign-flipped (garbage) or random model a layer; held-out accuracy, mean over seeds",
                   tab10=True)


def merge_rule_changes(rules: str, merging: MergeTurn | None, permille: int) -> dict[str, int]:
    """What a merge variant changes in the rules `rules` names: under the deployed
    rules, a merge that accepts every submission (1000 permille) turns the parent-
    relative floor off (`floor_margin` = SCORE_SCALE), as its on-chain deployment
    would (docs/merge.md): its trainers did not start from the one parent the floor
    reads. The task's `score_floor` stays."""
    if rules != "test" and merging and merging.merge and permille == 1000 and merging.floor_margin is None:
        return {"floor_margin": SCORE_SCALE}
    return {}


def merge_phase(args) -> None:
    """The merge turn against the plain relay and FedAvg, with and without a garbage
    accepted model, on digits at n = `args.participants[0]`. With `--rules` other than
    "test", every relay variant plays under those rules (`merge_rule_changes`) and the
    phase writes efficacy-merge-<rules>.json and its plots."""
    best = tuned_turns(args)
    tag = policy_tag(args)
    store = Store(RESULTS / f"efficacy-merge{tag}{args.suffix}.json", vars(args), args.resume)
    n, name = args.participants[0], args.tasks[0]
    task = load_task(TASKS[name])
    variants = merge_variants()
    all_names = [v[0] for v in variants]
    if args.variants:
        unknown = set(args.variants) - {v[0] for v in variants}
        if unknown:
            raise SystemExit(f"unknown variants {sorted(unknown)}; known: {[v[0] for v in variants]}")
        variants = [v for v in variants if v[0] in args.variants]
    jobs, total, turns = [], 0, {}
    for alpha in args.merge_alphas:
        for seed in args.seeds:
            cell = Cell(name, n, alpha, seed)
            for variant, method, merging, permille in variants:
                turn_of = "FedAvg" if variant.endswith("FedAvg's turn") else method  # whose tuned turn
                s = chosen(best, name, turn_of, alpha, task_default(task))
                rounds = {"DeRelayL": args.merge_rounds, "FedAvg": args.fedavg_rounds}.get(method, args.central_rounds)
                key = {"task": name, "participants": n, "alpha": alpha, "seed": seed, "variant": variant}
                turns[tuple(key.values())] = asdict(s)
                jobs.append((key, lambda tick, c=cell, s=s, m=method, g=merging, p=permille, r=rounds:
                             run_method(m, c, s, r, merging=g, selection_permille=p, tick=tick, rules=args.rules,
                                        rule_changes=merge_rule_changes(args.rules, g, p))))
                total += rounds
    # The plain relay, FedAvg and centralized runs of this cell are the eval phase's
    # (the same code, data and seeds: deterministic); copied when it has them with the
    # same turn and rounds (the deployed-rules eval played an earlier tuning's turns).
    grid_path = RESULTS / f"efficacy{tag}{args.suffix}.json"
    grid = Store(grid_path, {}, resume=True) if grid_path.exists() else None
    for key, _ in jobs:
        plain = {"relay": "DeRelayL", "FedAvg": "FedAvg", "centralized": "centralized"}.get(key["variant"])
        if grid and plain and not store.has(key):
            wanted = {"DeRelayL": args.merge_rounds, "FedAvg": args.fedavg_rounds}.get(plain, args.central_rounds)
            copy_run(store, grid, grid_path, {**{k: v for k, v in key.items() if k != "variant"}, "method": plain},
                     wanted, turns[tuple(key.values())], variant=key["variant"])
    play(store, jobs, total, "merge")
    names = all_names
    store.record["summary"] = summarize(store.record["runs"], names, "variant")
    store.save()
    print_summary(store.record["summary"], names)
    plot_merges(store.record["runs"], names, tag + args.suffix, args.rules)


def report(args) -> None:
    """No training: prints the summary table of the eval phase's results file (the one
    `--rules` and `--bid-policy` name) and redraws its plots, and the merge phase's
    of the same `--rules` where there is one. The summaries are recomputed from the
    runs; the files are not rewritten."""
    tag = policy_tag(args)
    path = RESULTS / f"efficacy{tag}{args.suffix}.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run --phase eval first")
    runs = json.loads(path.read_text())["runs"]
    print(f"{path.relative_to(ROOT)}:")
    print_summary(summarize(runs))
    for name in sorted({r["task"] for r in runs}):
        plot_grid(runs, name, IMG / f"efficacy{tag}-{name}{args.suffix}.png")
    merge_path = RESULTS / f"efficacy-merge{tag}{args.suffix}.json"
    if merge_path.exists():
        names = [v[0] for v in merge_variants()]
        runs = json.loads(merge_path.read_text())["runs"]
        print(f"\n{merge_path.relative_to(ROOT)}:")
        print_summary(summarize(runs, names, "variant"), names)
        plot_merges(runs, names, tag + args.suffix, args.rules)


# ------------------------------------------------------------------ plots


def _curves(runs, key: str, value: str, what: str):
    picked = [r for r in runs if r[key] == value]
    if not picked:
        return None
    length = min(len(r[what]) for r in picked)
    return np.array([r[what][:length] for r in picked], dtype=np.float64)


def plot_grid(runs: list[dict[str, Any]], task: str, path: Path) -> None:
    """Per cell (rows: participants; columns: alpha), the mean curve ± std against
    rounds, and against cumulative sample-epochs (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [r for r in runs if r["task"] == task]
    if not mine:
        return
    ns = sorted({r["participants"] for r in mine})
    alphas = sorted({r["alpha"] for r in mine}, reverse=True)
    fig, axes = plt.subplots(2 * len(ns), len(alphas), figsize=(4.2 * len(alphas), 3.3 * 2 * len(ns)),
                             squeeze=False)
    metric = load_task(TASKS[task]).metric.replace("_", " ")
    for i, n in enumerate(ns):
        for j, alpha in enumerate(alphas):
            cell = [r for r in mine if r["participants"] == n and r["alpha"] == alpha]
            by_round, by_compute = axes[2 * i][j], axes[2 * i + 1][j]
            for method in ("DeRelayL", "FedAvg", "centralized"):
                acc = _curves(cell, "method", method, "accuracy")
                if acc is None:
                    continue
                comp = _curves(cell, "method", method, "compute").mean(axis=0).cumsum()
                mean, std = acc.mean(axis=0), acc.std(axis=0)
                rounds = np.arange(1, len(mean) + 1)
                label = f"{method} ({cell[[r['method'] for r in cell].index(method)]['label']})"
                line, = by_round.plot(rounds, mean, label=label, lw=1)
                by_round.fill_between(rounds, mean - std, mean + std, alpha=0.2, color=line.get_color())
                by_compute.plot(comp, mean, lw=1, color=line.get_color())
            central = [plateau(r["accuracy"]) for r in cell if r["method"] == "centralized"]
            for ax in (by_round, by_compute):
                if central:
                    ax.axhline(0.95 * np.mean(central), color="grey", ls=":", lw=1)
                ax.set_ylim(0, 1)
                ax.grid(alpha=0.3)
            by_round.set(title=f"{task}, {n} participants, alpha {alpha:g}", xlabel="round", ylabel=metric)
            by_compute.set(xscale="log", xlabel="cumulative training compute (sample-epochs)", ylabel=metric)
            by_round.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{task}: held-out {metric}, mean ± std over seeds (dotted: 95% of centralized)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_merge(runs: list[dict[str, Any]], names: Sequence[str], path: Path, top: tuple[float, float] = (0, 1),
               title: str = "the merge turn, held-out metric, mean over seeds", tab10: bool = False) -> None:
    """Per alpha: the merge variants' mean curves against rounds, without and with
    garbage (`top`: the y range of the row without). Colours: tab20 in the order of
    `names`, or with `tab10` (at most 10 curves a row) tab10 in each row's order, FedAvg
    and centralized alike in both rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({(r["participants"], r["alpha"]) for r in runs}, key=lambda c: (c[0], -c[1]))
    if not cells:
        return
    fig, axes = plt.subplots(2, len(cells), figsize=(6 * len(cells), 8), squeeze=False)
    colours = [{v: plt.get_cmap("tab20")(i % 20) for i, v in enumerate(names)}] * 2
    if tab10:
        rows = [[v for v in names if "garbage" not in v], [v for v in names if "garbage" in v]]
        clean = {v: plt.get_cmap("tab10")(i % 10) for i, v in enumerate(rows[0])}
        fixed = {v: clean[v] for v in ("FedAvg", "centralized") if v in clean}
        free = [c for c in (plt.get_cmap("tab10")(i) for i in range(10)) if c not in fixed.values()]
        colours = [clean, {**fixed, **{v: free[i % len(free)] for i, v in enumerate(rows[1])}}]
    for j, (n, alpha) in enumerate(cells):
        cell = [r for r in runs if r["alpha"] == alpha and r["participants"] == n]
        for row, poisoned in enumerate((False, True)):
            ax = axes[row][j]
            for variant in names:
                if ("garbage" in variant) != poisoned and variant not in ("FedAvg", "centralized"):
                    continue
                acc = _curves(cell, "variant", variant, "accuracy")
                if acc is None:
                    continue
                ax.plot(np.arange(1, acc.shape[1] + 1), acc.mean(axis=0), lw=1, label=variant,
                        ls="--" if variant in ("FedAvg", "centralized") else "-", color=colours[row][variant])
            ax.set(title=f"{cell[0]['participants']} participants, alpha {alpha:g}"
                   + (", one garbage model a layer" if poisoned else ""),
                   xlabel="round", ylabel="held-out accuracy", ylim=(0, 1) if poisoned else top)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", choices=("tune", "eval", "merge", "report"), default="eval",
                        help="report: no training, print the summaries of the eval (--rules, --bid-policy) and "
                        "merge results files and redraw their plots")
    parser.add_argument("--quick", action="store_true", help="a look in a few minutes: few rounds, 1 seed, digits")
    parser.add_argument("--tasks", nargs="+", default=["digits", "wine"], choices=sorted(TASKS))
    parser.add_argument("--participants", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 1.0, 100.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="evaluation seeds")
    parser.add_argument("--tune-seeds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--tune-participants", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=200, help="relay rounds (eval)")
    parser.add_argument("--tune-rounds", type=int, default=120, help="relay rounds (tune)")
    parser.add_argument("--merge-rounds", type=int, default=200)
    parser.add_argument("--merge-alphas", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--variants", nargs="+", default=None, help="merge phase: only these variants")
    parser.add_argument("--fedavg-rounds", type=int, default=100)
    parser.add_argument("--central-rounds", type=int, default=60)
    parser.add_argument("--resume", action="store_true", help="keep the runs already in the results file")
    parser.add_argument("--suffix", default="", help="results/plot file suffix (--quick appends -quick)")
    parser.add_argument("--turns", metavar="FILE", help="eval and merge phases: the tuning results whose best turns "
                        "they play (default: the tune phase's efficacy-tuning.json; the deployed-rules tables used "
                        "benchmarks/results/efficacy-tuning-seed100.json)")
    parser.add_argument("--rules", choices=RULES, default="test",
                        help="eval phase: the relay's rules, the benchmark's TEST_PARAMS (durations 0, free offers, "
                        "no floor, no fallback), what `derelayl deploy --task` deploys (deployed: deployed_rules, "
                        "10 tokens each, lineage claimed), or those with free offers and no tokens (deployed-free); "
                        "writes efficacy-<rules>.json and docs/img/efficacy-<rules>-<task>.png")
    parser.add_argument("--bid-policy", choices=sorted(BID_POLICIES), default="default",
                        help="eval phase: the trainers' bid policy (derelayl.policies): the authors' default_bid, "
                        "or a candidate (reserve_bid, fraction_bid, capped_bid, capped_quarter_bid); "
                        "a candidate's results go to efficacy[-<rules>]-<policy>.json and its plots to "
                        "docs/img/efficacy[-<rules>]-<policy>-<task>.png")
    parser.add_argument("--price-policy", choices=sorted(PRICE_POLICIES), default="default",
                        help="eval phase: the owners' price policy (derelayl.policies): the authors' default_price, or "
                        "minimum_price (the deployment's minimum); a candidate's results go to "
                        "efficacy[-<rules>][-<bid policy>]-price-<policy>.json")
    args = parser.parse_args()
    if args.bid_policy != "default" and args.phase not in ("eval", "report"):
        parser.error(f"--bid-policy {args.bid_policy} is for --phase eval")
    if args.price_policy != "default" and args.phase not in ("eval", "report"):
        parser.error(f"--price-policy {args.price_policy} is for --phase eval")
    if args.rules != "test" and args.phase not in ("eval", "merge", "report"):
        parser.error(f"--rules {args.rules} is for --phase eval or merge")
    if args.quick:
        args.tasks, args.participants, args.seeds, args.tune_seeds = args.tasks[:1], [16], [0], [100]
        args.alphas, args.merge_alphas = [0.1, 1.0], [0.1]
        args.rounds = args.tune_rounds = args.merge_rounds = 30
        args.fedavg_rounds, args.central_rounds = 15, 12
        args.suffix = f"{args.suffix}-quick"  # never the files of a full run
    torch.set_num_threads(1)
    started = time.time()
    {"tune": tune, "eval": evaluate_grid, "merge": merge_phase, "report": report}[args.phase](args)
    print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
