"""How good is the model relay learning produces? DeRelayL against centralized
training and federated averaging, on scikit-learn's digits.

For 16 and 32 participants and label skew Dirichlet alpha 100 (close to IID), 1 and
0.1 (strongly non-IID), 3 seeds each, held-out accuracy per round of:
- DeRelayL: every round runs through `derelayl.protocol.RelayProtocol` (the
  contract's rules: matching k trainers per model owner, deposits by the default
  policies, commit-reveal scores, median, top half accepted, carry-over). A matched
  trainer really trains its parent's weights (PyTorch, `train_turn`) on its own share
  for E local epochs; two evaluators score every submission on their own test
  splits; the held-out set (seen by nobody) measures the best-scored model of the
  newest lineage layer.
- FedAvg: every participant trains the global model for E local epochs on its share;
  the server averages the weights, weighted by sample count.
- Centralized: one model trained on all participants' data pooled, E epochs a round.
The same MLP, optimizer, batch size, E and data split for all three.

    .venv/bin/python benchmarks/efficacy.py         # or: make bench-efficacy
    (flags: --rounds, --epochs, --seeds, --participants, --alphas)

Writes benchmarks/results/efficacy.json and docs/img/efficacy.png, prints a table.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import platform
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from derelayl.crypto import weights_hash
from derelayl.demo import DemoConfig, split_data
from derelayl.params import TEST_PARAMS, SCORE_SCALE
from derelayl.roles.trainer import submission_binding
from derelayl.policies import PolicyView, default_bid, default_price
from derelayl.protocol import Phase, ProtocolRevert, RelayProtocol
from derelayl.simulate import cheap_commitment, cheap_tie_keys
from derelayl.task import load_task
from derelayl.training import evaluate, train_turn
from derelayl.weights import save_weights

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE = b"\x01"
SPEC = load_task("digits-mlp")


class Resubmit(enum.Enum):
    """What a turn may return instead of a model: no training at all."""

    PARENT = "the parent's on-chain weights hash and CID"  # refused: RelayUnchangedWeights
    COPY = "the previous submission's hash, CID and envelopes"  # bound to its trainer: scored 0
    NOTHING = "no submission at all"  # the bid burns


def honest_turn(index, model, x, y, epochs, seed, submitted):
    """A trainer's honest turn: train the parent's weights on its own data."""
    return train_turn(model, x, y, epochs=epochs, seed=seed)


def honest_scores(index, models, x, y) -> list[int]:
    """An evaluator's honest scores: accuracy on its own test split; 0 for a submission
    it cannot use (None: weights bound to another slot, as the SDK's evaluator finds)."""
    return [0 if m is None else round(evaluate(m, x, y) * SCORE_SCALE) for m in models]


@dataclass
class RelayRun:
    accuracy: list[float]  # held-out accuracy of the best model of the newest layer, per round
    protocol: RelayProtocol
    people: list[str]  # trainers / owners, in the order of `parts`
    evaluators: list[str]
    refused: int  # submissions the contract refused (RelayUnchangedWeights)
    seated: list[list[int]]  # per round, the evaluators drawn to its seats (indices into `evaluators`)

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
              garbage_keys: frozenset[int] = frozenset(), quorum: int = 1) -> RelayRun:
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
    the SDK's trainers and evaluators do; without one the trainer cannot train. Everyone starts with `allocation` credit, so
    that deposits can be lost. Every evaluator stakes every round; with `seats` fewer
    than the evaluators, the contract's draw seats that many of them. A model is ranked
    only on at least `quorum` revealed scores (the benchmarks' 1 unless they say)."""
    rng = random.Random(seed)
    people = [f"0x{i:040x}" for i in range(1, len(parts) + 1)]
    evaluators = [f"0x{i:040x}" for i in range(1000, 1000 + len(evaluator_sets))]
    params = TEST_PARAMS.replace(k=4, max_trainers=len(people), max_evaluators=max(seats or len(evaluators), quorum),
                                    quorum=quorum,
                                    evaluator_stake=0)
    genesis = SPEC.initial_model(seed)
    protocol = RelayProtocol(params, people[0], weights_hash(save_weights(genesis)),
                             allocations={p: allocation for p in people} if allocation else None,
                             tie_keys=cheap_tie_keys(), commitment=cheap_commitment)
    for p in people + evaluators:
        protocol.register_key(p, b"\x01" * 32)
    weights = {0: genesis.state_dict()}
    refused = 0
    version = {p: -1 for p in people}
    version[people[0]] = 0
    accuracy = []
    seated: list[list[int]] = []
    for _ in range(rounds):
        r = protocol.round
        rs = protocol.rounds[r]
        latest = len(protocol.layers) - 1
        owners = protocol.owner_models[rs.parent_layer]
        for owner, model_id in owners.items():
            if people.index(owner) not in absent:
                protocol.offer(owner, r, default_price(PolicyView(protocol.credit.get(owner, 0), latest,
                                                                  version[owner], params.k)))
            elif couriers and protocol.may_courier_offer(rs, model_id) and (holders := protocol.key_holders_of(model_id)):
                protocol.courier_offer(holders[0], r, model_id)  # after a round that did not offer it
        for p in people:
            if p not in owners:
                protocol.bid(p, r, default_bid(PolicyView(protocol.credit.get(p, 0), latest, version[p], params.k)))
        for e in evaluators:
            protocol.stake_evaluator(e, r)
        protocol.close_bidding(rng.randbytes(32))
        seated.append([evaluators.index(e) for e in rs.evaluators])
        for e in sorted(rs.undrawn):  # left out of the draw: take the stake back
            protocol.reclaim_stake(e, r)
        trained: dict[int, object] = {}  # slot -> the weights it submitted
        copies: set[int] = set()  # slots that submitted another slot's ciphertext
        hashes: list[bytes] = []
        for i, s in enumerate(rs.slots):
            owner = people.index(protocol.models[s.parent_id].creator)
            holders = protocol.key_holders_of(s.parent_id) if couriers else []
            if owner not in withholders | absent:
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
            model = SPEC.build_model()
            model.load_state_dict(weights[s.parent_id])
            x, y = parts[people.index(s.trainer)]
            result = turn(people.index(s.trainer), model, x, y, epochs, seed * 1000 + r * 100 + i,
                          [trained[j] for j in sorted(trained)])
            version[s.trainer] = protocol.models[s.parent_id].layer + 1
            if result is Resubmit.NOTHING:
                continue
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
        if rs.phase == Phase.TRAINING:
            protocol.close_training()
        if rs.phase == Phase.COMMITTING:
            revealing = []
            for index in seated[-1]:
                e, (x, y) = evaluators[index], evaluator_sets[index]
                scores = scorer(index, [None if i in copies else trained.get(i) for i in range(len(rs.slots))], x, y)
                salt = rng.randbytes(32)
                protocol.commit(e, r, protocol.commitment_for(r, e, scores or [0] * len(rs.slots), salt))
                if scores is not None:
                    revealing.append((e, scores, salt))
            for e, scores, salt in revealing:  # the last commit opened the reveal phase
                protocol.reveal(e, r, scores, salt)
        settlement = protocol.settle()
        for model_id in settlement.accepted_models:
            weights[model_id] = trained[protocol.models[model_id].slot].state_dict()
        newest = protocol.layers[-1]
        best = max(newest, key=lambda m: protocol.models[m].score)
        model = SPEC.build_model()
        model.load_state_dict(weights[best])
        accuracy.append(evaluate(model, *holdout))
        protocol.forget_round(r)
    return RelayRun(accuracy, protocol, people, evaluators, refused, seated)


def fedavg(parts, holdout, rounds: int, epochs: int, seed: int) -> list[float]:
    """Federated averaging over all participants; held-out accuracy per round."""
    global_model = SPEC.initial_model(seed)
    sizes = np.array([len(y) for _, y in parts], dtype=np.float64)
    accuracy = []
    for r in range(rounds):
        states = []
        for i, (x, y) in enumerate(parts):
            local = SPEC.build_model()
            local.load_state_dict(global_model.state_dict())
            train_turn(local, x, y, epochs=epochs, seed=seed * 1000 + r * 100 + i)
            states.append(local.state_dict())
        weights = sizes / sizes.sum()
        averaged = {name: sum(w * s[name] for w, s in zip(weights, states)) for name in states[0]}
        global_model.load_state_dict(averaged)
        accuracy.append(evaluate(global_model, *holdout))
    return accuracy


def centralized(parts, holdout, rounds: int, epochs: int, seed: int) -> list[float]:
    """One model on all participants' data pooled, `epochs` epochs a round."""
    x = np.concatenate([x for x, _ in parts])
    y = np.concatenate([y for _, y in parts])
    model = SPEC.initial_model(seed)
    accuracy = []
    for r in range(rounds):
        train_turn(model, x, y, epochs=epochs, seed=seed * 1000 + r)
        accuracy.append(evaluate(model, *holdout))
    return accuracy


METHODS = ("DeRelayL", "FedAvg", "centralized")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5, help="local epochs per round (all methods)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--participants", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--alphas", type=float, nargs="+", default=[100.0, 1.0, 0.1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    runs = []
    for n in args.participants:
        for alpha in args.alphas:
            for seed in range(args.seeds):
                data = SPEC.example_data()
                x, y = data.features, data.labels
                holdout, trainer_parts, evaluator_parts = split_data(
                    DemoConfig(trainers=n, evaluators=2, alpha=alpha, seed=seed), data)
                parts = [(x[p], y[p]) for p in trainer_parts]
                evaluator_sets = [(x[p], y[p]) for p in evaluator_parts]
                held = (x[holdout], y[holdout])
                curves = {
                    "DeRelayL": relay(parts, evaluator_sets, held, args.rounds, args.epochs, seed),
                    "FedAvg": fedavg(parts, held, args.rounds, args.epochs, seed),
                    "centralized": centralized(parts, held, args.rounds, args.epochs, seed),
                }
                runs.append({"participants": n, "alpha": alpha, "seed": seed, "accuracy": curves})
                print(f"n={n:<3} alpha={alpha:<5} seed={seed}: " + ", ".join(
                    f"{m} {c[-1]:.3f}" for m, c in curves.items()) + f"  ({time.time() - started:.0f} s)", flush=True)
    summary = summarize(runs, args)
    record = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "settings": vars(args),
              "seconds": round(time.time() - started, 1), "runs": runs, "summary": summary}
    out = ROOT / "benchmarks" / "results" / "efficacy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    plot(summary, args, ROOT / "docs" / "img" / "efficacy.png")
    print(f"\nheld-out accuracy after round {args.rounds}, mean ± std over {args.seeds} seeds "
          f"(round 5 in brackets)")
    print(f"{'participants':>12} {'alpha':>6} " + " ".join(f"{m:>22}" for m in METHODS))
    for row in summary:
        print(f"{row['participants']:>12} {row['alpha']:>6} " + " ".join(
            f"{row[m]['mean'][-1]:>8.3f} ± {row[m]['std'][-1]:.3f} [{row[m]['mean'][min(4, args.rounds - 1)]:.3f}]"
            for m in METHODS))
    print(f"written to {out.relative_to(ROOT)} and docs/img/efficacy.png ({record['seconds']} s)")


def summarize(runs, args) -> list[dict]:
    rows = []
    for n in args.participants:
        for alpha in args.alphas:
            group = [r for r in runs if r["participants"] == n and r["alpha"] == alpha]
            row = {"participants": n, "alpha": alpha}
            for m in METHODS:
                curves = np.array([r["accuracy"][m] for r in group])
                row[m] = {"mean": curves.mean(axis=0).round(4).tolist(), "std": curves.std(axis=0).round(4).tolist()}
            rows.append(row)
    return rows


def plot(summary, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.participants), len(args.alphas), figsize=(4 * len(args.alphas),
                             3.2 * len(args.participants)), sharey=True, squeeze=False)
    rounds = np.arange(1, args.rounds + 1)
    for row in summary:
        ax = axes[args.participants.index(row["participants"])][args.alphas.index(row["alpha"])]
        for m in METHODS:
            mean, std = np.array(row[m]["mean"]), np.array(row[m]["std"])
            ax.plot(rounds, mean, marker=".", label=m)
            ax.fill_between(rounds, mean - std, mean + std, alpha=0.2)
        ax.set(title=f"{row['participants']} participants, alpha {row['alpha']:g}", xlabel="round",
               ylim=(0, 1), xticks=rounds)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out accuracy")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
