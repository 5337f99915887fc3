"""Attacks on the relay, with real training: what each one gains and what it costs.

Every scenario is the efficacy benchmark's relay (`efficacy.relay_run`: the
contract's rules in `RelayProtocol`, real PyTorch turns on digits). It uses 16
participants, label skew alpha 1, 3 evaluators with their own test splits, 10
rounds of 5 local epochs, and everyone starting with 10 tokens so that deposits can
be lost. The same seeds (10 by default) are played with and without the attack:

- lazy:   25% of trainers resubmit their parent's weights hash and CID (no work);
          the contract refuses it (RelayUnchangedWeights), and the bid burns;
- nudged: 25% of trainers submit the parent's weights plus noise of std 1e-4;
- copier: 25% of trainers copy the round's previous submission (hash, CID and
          envelopes, all public); the weights name their trainer in their header,
          so honest evaluators score the copy 0, as the SDK's evaluator does;
- poison: 10%, 20%, 30% of trainers train on flipped labels (9 - y);
- idle:   25% of trainers win slots and never submit;
- withholding owner: 25% of participants, once they own a model, never deliver keys;
          an evaluator of the round that accepted the model couriers its key
          (`courierKey`), as the SDK's evaluators do; played again with nobody
          couriering (the rules before couriers), to show what couriers change;
- garbage keys: 25% of participants, once they own a model, deliver keys that do not
          open it (on time, so the contract counts them as delivered); the trainer
          asks (`requestKey`) and an evaluator of the round that accepted the model
          couriers the right key, as the SDK's trainers and evaluators do; played
          again with nobody couriering (the rules before 2026-11-27: a courier could
          not serve a delivered slot, and the trainer's bid burned);
- owners leaving: 25% of participants go away once they own a model (they neither
          offer it nor deliver its key); after a round in which nobody offered, an
          evaluator of the round that accepted it offers it at price 0
          (`courierOffer`) and couriers its key; played again with nobody couriering;
- evaluator silent: 1 of 3 evaluators commits and never reveals;
- evaluator random / inverted: 1 of 3 evaluators scores at random / 1 - accuracy;
- collusion: 1 of 3 evaluators (a minority) scores one attacker's models 1.0 and
  the others 0; then 2 of 3 (a majority) do;
- collusion in a pool: 12 evaluators stake for the 3 seats, and the contract draws
  the seats by lot each round; 1 of the 12 colludes, then 2 (the same two as above),
  then 6 (half the pool).
- crowding the pool: a coalition of 12 (4 a seat) stakes first, all colluding for
  one trainer. Under the old rules the pool took 12 stakers, so the coalition held
  every seat and honest stakers were refused; now the pool has no cap, and the
  coalition meets 12, then 36 honest stakers in the draw;
- collusion on a wider panel: 5 seats instead of 3 (the same evaluator data, re-cut
  into 5 test splits of 6% each), with 1 and then 2 colluders (a minority); and 8
  seats, the project's default (8 splits of 3.75%), with 1, 2 and 3 colluders.
  Pool member i scores on evaluator test split i mod 3, so the trainers' data is
  the same as in every other scenario.

Issue 17 (liveness and timing), each class "before" (the benchmark's TEST_PARAMS:
durations 0, free offers, no acceptance floor, the rules before issue 17) and "now"
(TODAY: the safe durations, minPrice and the acceptance floor of DEFAULT_PARAMS; the
attack-free run under them is "none, today's rules"):
- class 1, an outsider closes Bidding as it opens, Training right after the first key,
  or Committing right after the submissions ("now": it tries all three, refused);
- class 3, two colluders of a pool of 12 close Bidding on the first of up to 26
  blocks whose seed seats them in a majority (before the two-step close the seed was
  known a block ahead; "now" is the row "collusion 2 of pool 12");
- class 4, 25% of owners deliver at the last moment of Training and close it in the
  same transaction, nobody couriering;
- class 5, 25% of trainers outbid everyone by one base unit, submit noise sealed to the
  evaluators with garbage envelopes (nobody can open it, no courier can serve it), and
  go away once they own a model;
- class 6, 50% of trainers outbid everyone by one base unit and submit noise (that the
  evaluators can open), and as owners offer and deliver: they farm the lineage of
  whatever of it is accepted;
- class 7, 25% of owners offer the lowest price allowed (0 before, minPrice now) and
  withhold their keys, with and without couriers.
Classes 2, 8 and 9 have no row (docs/robustness.md says why).

For each: held-out accuracy of the best model (round 10, mean over seeds) against
the attack-free run; the attackers' mean tokens against the honest trainers' (credit
plus the lineage rewards they could claim), and against the same participants' in
the attack-free run; and the deposits each honest trainer
lost, against the attack-free run. For the colluding scenarios, also the share of
rounds in which the colluders held a majority of the seats; and, in every scenario,
the tokens of the trainer the colluders favour, so that what collusion adds shows
against the same trainer's tokens without it.

    .venv/bin/python benchmarks/attacks.py      # or: make bench-attacks
    .venv/bin/python benchmarks/attacks.py --seeds 2 --only "late keys, no courier, now"   # a look, writes nothing

Writes benchmarks/results/attacks.json and docs/img/attacks.png, prints a table.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from efficacy import Resubmit, deployed_rules, garbage_of, honest_scores, honest_turn, relay_run
from derelayl.demo import DemoConfig, split_data
from derelayl.params import SAFE_QUORUM, SCORE_SCALE, TOKEN
from derelayl.policies import BID_POLICIES
from derelayl.protocol import draw_evaluators
from derelayl.task import load_task
from derelayl.training import train_turn

ROOT = Path(__file__).resolve().parent.parent
PARTICIPANTS, EVALUATORS, ALPHA = 16, 3, 1.0
POOL = 4 * EVALUATORS  # an evaluator pool of 4 stakers a seat (the cap of the old rules)
WIDE = (5, 8)  # seats in the wider-panel scenarios (8: the default); the 3 test splits are re-cut
#: Today's rules of issue 17 on top of the benchmark's (TEST_PARAMS: durations 0, free
#: offers, no acceptance floor, no fallback: the rules before issue 17), as `derelayl
#: deploy --task digits-mlp` deploys them (`efficacy.deployed_rules`): the safe
#: durations, the minimum price, the task's acceptance floor (0.2), the margin under the
#: parent and the fallback of DEFAULT_PARAMS.
TODAY = deployed_rules(load_task("digits-mlp"))
GRIND_BLOCKS = 26  # blocks a closer may wait for a draw it likes (issue 17, class 3: 26 blocks)


def attackers_of(share: float) -> frozenset[int]:
    """Trainer indices of the attackers: a spread-out share, never the genesis owner."""
    count = round(share * PARTICIPANTS)
    return frozenset(1 + (i * (PARTICIPANTS - 1)) // count for i in range(count))


def lazy(attackers):
    """Resubmits the parent's on-chain hash and CID: no download, no training."""
    def turn(index, model, x, y, epochs, seed, submitted):
        return Resubmit.PARENT if index in attackers else honest_turn(index, model, x, y, epochs, seed, submitted)
    return turn


def nudger(attackers, scale: float = 1e-4):
    """Submits the parent's weights barely changed (Gaussian noise of std `scale`)."""
    def turn(index, model, x, y, epochs, seed, submitted):
        if index not in attackers:
            return honest_turn(index, model, x, y, epochs, seed, submitted)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
        return model
    return turn


def copier(attackers):
    """Copies the round's previous submission (its hash, CID and envelopes)."""
    def turn(index, model, x, y, epochs, seed, submitted):
        return Resubmit.COPY if index in attackers else honest_turn(index, model, x, y, epochs, seed, submitted)
    return turn


def idle(attackers):
    """Wins a slot and never submits."""
    def turn(index, model, x, y, epochs, seed, submitted):
        return Resubmit.NOTHING if index in attackers else honest_turn(index, model, x, y, epochs, seed, submitted)
    return turn


def garbage(attackers):
    """Submits noise (weights N(0, 10)) instead of training."""
    def turn(index, model, x, y, epochs, seed, submitted):
        if index not in attackers:
            return honest_turn(index, model, x, y, epochs, seed, submitted)
        model.load_state_dict(garbage_of(model.state_dict(), "random", seed))
        return model
    return turn


def grinder(liars):
    """Whoever closes Bidding picks the seed (before the two-step close it was the
    previous block's hash, known a block ahead): it waits up to GRIND_BLOCKS blocks for
    one whose draw gives `liars` (pool indices) a majority of the seats."""
    rng = random.Random(17)

    def seed_for(rs, evaluators):
        mine = {evaluators[i] for i in liars}
        for _ in range(GRIND_BLOCKS):
            seed = rng.randbytes(32)
            seated = draw_evaluators(rs.evaluators, EVALUATORS, seed)[:EVALUATORS]
            if 2 * len(mine & set(seated)) > len(seated):
                break
        return seed
    return seed_for


def silent_evaluator(liars):
    """Commits and never reveals."""
    def scorer(index, models, x, y):
        return None if index in liars else honest_scores(index, models, x, y)
    return scorer


def poisoner(attackers):
    def turn(index, model, x, y, epochs, seed, submitted):
        labels = 9 - y if index in attackers else y
        return train_turn(model, x, labels, epochs=epochs, seed=seed)
    return turn


def random_evaluator(liars):
    rng = random.Random(99)

    def scorer(index, models, x, y):
        if index in liars:
            return [rng.randrange(SCORE_SCALE + 1) for _ in models]
        return honest_scores(index, models, x, y)
    return scorer


def inverted_evaluator(liars):
    def scorer(index, models, x, y):
        honest = honest_scores(index, models, x, y)
        return [SCORE_SCALE - s for s in honest] if index in liars else honest
    return scorer


def colluders(liars, favourite: int, holder):
    """Colluding evaluators score the favourite trainer's models 1.0, everyone else's 0.
    `holder` maps a model object to its trainer index (filled by the turn function)."""
    def scorer(index, models, x, y):
        if index not in liars:
            return honest_scores(index, models, x, y)
        return [SCORE_SCALE if holder.get(id(m)) == favourite else 0 for m in models]
    return scorer


FAVOURITE = min(attackers_of(0.25))  # the trainer colluding evaluators favour


def tracking_turn(holder):
    def turn(index, model, x, y, epochs, seed, submitted):
        trained = honest_turn(index, model, x, y, epochs, seed, submitted)
        holder[id(trained)] = index
        return trained
    return turn


@dataclass(frozen=True)
class Scenario:
    turn: Callable  # () -> the trainers' turn function
    scorer: Callable  # () -> the evaluators' scoring function
    attackers: frozenset[int] = frozenset()  # attacking trainers (indices)
    liars: frozenset[int] = frozenset()  # attacking evaluators (indices)
    withholders: frozenset[int] = frozenset()  # model owners that never deliver keys
    pool: int = EVALUATORS  # evaluators staking for the round's seats
    seats: int = EVALUATORS  # the round's evaluator seats (maxEvaluators)
    baseline: str = "none"  # the attack-free scenario with the same evaluator set-up
    couriers: bool = True  # evaluators courier the keys withheld by owners
    absent: frozenset[int] = frozenset()  # model owners gone away: they neither offer nor deliver
    garbage: frozenset[int] = frozenset()  # model owners that deliver keys that do not open their models
    quorum: int = 1  # fewest revealed scores a model is ranked on (SAFE_QUORUM, 5, is the SDK's default)
    # Issue 17 (liveness and timing); see relay_run in benchmarks/efficacy.py.
    rules: dict | None = None  # parameter changes (TODAY: today's rules); None: the rules before issue 17
    closer: frozenset[str] = frozenset()  # phases an outsider closes the moment it may
    late_keys: frozenset[int] = frozenset()  # owners that deliver at the last moment of Training and close it
    sealed: frozenset[int] = frozenset()  # trainers whose key envelopes to the evaluators are garbage
    cheap: frozenset[int] = frozenset()  # owners that offer the lowest price the rules allow
    eager: frozenset[int] = frozenset()  # trainers that bid one base unit above the default policy
    seed_for: Callable | None = None  # () -> a closer choosing the draw's seed


def collusion(liars: frozenset[int], pool: int, baseline: str, seats: int = EVALUATORS, quorum: int = 1,
              seed_for: Callable | None = None) -> Scenario:
    """`liars` of `pool` stakers for `seats` seats score the favourite 1.0 and everyone
    else 0 (no liars: the attack-free run of that set-up, with the same tracking)."""
    holder: dict[int, int] = {}
    return Scenario(lambda: tracking_turn(holder), lambda: colluders(liars, FAVOURITE, holder),
                    frozenset({FAVOURITE}) if liars else frozenset(), liars, pool=pool, seats=seats,
                    baseline=baseline, quorum=quorum, seed_for=seed_for)


def scenarios() -> dict[str, Scenario]:
    quarter = attackers_of(0.25)
    out = {"none": Scenario(lambda: honest_turn, lambda: honest_scores)}
    out["lazy 25%"] = Scenario(lambda: lazy(quarter), lambda: honest_scores, quarter)
    out["nudged 25%"] = Scenario(lambda: nudger(quarter), lambda: honest_scores, quarter)
    out["copier 25%"] = Scenario(lambda: copier(quarter), lambda: honest_scores, quarter)
    for share in (0.1, 0.2, 0.3):
        poisoners = attackers_of(share)
        out[f"poison {share:.0%}"] = Scenario(lambda p=poisoners: poisoner(p), lambda: honest_scores, poisoners)
    out["idle trainer 25%"] = Scenario(lambda: idle(quarter), lambda: honest_scores, quarter)
    out["withholding owner 25%"] = Scenario(lambda: honest_turn, lambda: honest_scores, quarter,
                                            withholders=quarter)
    out["withholding, no courier"] = Scenario(lambda: honest_turn, lambda: honest_scores, quarter,
                                              withholders=quarter, couriers=False)
    out["garbage keys 25%"] = Scenario(lambda: honest_turn, lambda: honest_scores, quarter, garbage=quarter)
    out["garbage keys, no courier"] = Scenario(lambda: honest_turn, lambda: honest_scores, quarter, garbage=quarter,
                                               couriers=False)
    out["owners leaving 25%"] = Scenario(lambda: honest_turn, lambda: honest_scores, quarter, absent=quarter)
    out["leaving, no courier"] = Scenario(lambda: honest_turn, lambda: honest_scores, quarter, absent=quarter,
                                          couriers=False)
    first = frozenset({0})
    out["random evaluator 1/3"] = Scenario(lambda: honest_turn, lambda: random_evaluator(first), liars=first)
    out["inverted evaluator 1/3"] = Scenario(lambda: honest_turn, lambda: inverted_evaluator(first), liars=first)
    out["silent evaluator 1/3"] = Scenario(lambda: honest_turn, lambda: silent_evaluator(first), liars=first)
    for liars, pool, name in ((first, EVALUATORS, "collusion 1/3"), (frozenset({0, 1}), EVALUATORS, "collusion 2/3"),
                              (frozenset(), POOL, f"none, pool {POOL}"), (first, POOL, f"collusion 1 of pool {POOL}"),
                              (frozenset({0, 1}), POOL, f"collusion 2 of pool {POOL}"),
                              (frozenset(range(POOL // 2)), POOL, f"collusion {POOL // 2} of pool {POOL}")):
        out[name] = collusion(liars, pool, baseline="none" if pool == EVALUATORS else f"none, pool {POOL}")
    # The SDK's default quorum (SAFE_QUORUM) with only 3 evaluators: no model is ranked.
    out["collusion 1/3, quorum 5"] = collusion(first, EVALUATORS, baseline="none", quorum=SAFE_QUORUM)
    coalition = frozenset(range(POOL))  # staked first: indices 0-11 of the pool
    for pool, name in ((POOL, f"crowding, old cap {POOL}"), (2 * POOL, f"crowding {POOL} of pool {2 * POOL}"),
                       (4 * POOL, f"crowding {POOL} of pool {4 * POOL}")):
        out[name] = collusion(coalition, pool, baseline=f"none, pool {POOL}")
    for seats in WIDE:
        minorities = [frozenset(range(n)) for n in range(1, (seats + 1) // 2)]  # 1 to 2 of 5, 1 to 3 of 8
        for liars in [frozenset(), *minorities]:
            name = f"collusion {len(liars)}/{seats}" if liars else f"none, {seats} seats"
            out[name] = collusion(liars, seats, seats=seats, baseline=f"none, {seats} seats")
    out.update(liveness())
    return out


def liveness() -> dict[str, Scenario]:
    """Issue 17's classes, each "before" (the benchmark's TEST_PARAMS, the rules before
    it) and "now" (TODAY), in pairs."""
    quarter, half = attackers_of(0.25), attackers_of(0.5)
    every_phase = frozenset({"bidding", "training", "committing"})
    classes = [  # (name, its fields before, its fields now; None: no row)
        # Class 1: an outsider (no key, no tokens, no role) closes phases at once; now it tries all three.
        ("closes Bidding", {"closer": frozenset({"bidding"})}, None),
        ("closes Training", {"closer": frozenset({"training"})}, None),
        ("closes Committing", {"closer": frozenset({"committing"})}, None),
        ("closes every phase", None, {"closer": every_phase}),
        # Class 4: owners deliver at the last moment of Training and close it; nobody
        # couriers (as in round 0: with couriers every slot is served and submitted
        # before the last moment, and the row is "withholding owner 25%").
        ("late keys, no courier", *[{"attackers": quarter, "late_keys": quarter, "couriers": False}] * 2),
        # Class 5: 4 trainers outbid everyone by one base unit for the genesis' 4 slots and
        # submit noise nobody can open (garbage envelopes); the owner of any accepted one goes away.
        ("sealed garbage 25%", *[{"turn": lambda: garbage(quarter), "attackers": quarter, "sealed": quarter,
                                  "absent": quarter, "eager": quarter}] * 2),
        # Class 6: half the participants outbid everyone by one base unit and submit noise
        # (which the evaluators can open and score); as owners they offer and deliver.
        ("garbage farmers 50%", *[{"turn": lambda: garbage(half), "attackers": half, "eager": half}] * 2),
        # Class 7: owners offer the lowest price allowed and withhold their keys.
        ("cheap withholders 25%", *[{"attackers": quarter, "withholders": quarter, "cheap": quarter}] * 2),
        ("cheap withholders, no courier", *[{"attackers": quarter, "withholders": quarter, "cheap": quarter,
                                             "couriers": False}] * 2),
    ]
    out = {"none, today's rules": Scenario(lambda: honest_turn, lambda: honest_scores, rules=TODAY)}
    for name, before, now in classes:
        for when, fields, rules, baseline in (("before", before, None, "none"), ("now", now, TODAY, "none, today's rules")):
            if fields is not None:
                out[f"{name}, {when}"] = Scenario(**{"turn": lambda: honest_turn, "scorer": lambda: honest_scores,
                                                     "rules": rules, "baseline": baseline, **fields})
    # Class 3: two colluders of a pool of 12 close Bidding on a block whose draw seats
    # them in a majority (now: "collusion 2 of pool 12", the draw's seed unknown to them).
    liars = frozenset({0, 1})
    out[f"grinds the draw, 2 of pool {POOL}, before"] = collusion(liars, POOL, baseline=f"none, pool {POOL}",
                                                                   seed_for=lambda: grinder(liars))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", action="append", metavar="NAME", help="play this scenario (repeatable) and its "
                        "baseline only; compare with the committed results and write nothing")
    parser.add_argument("--bid-policy", choices=sorted(BID_POLICIES), default="default",
                        help="every trainer's bid policy (derelayl.policies.BID_POLICIES; eager attackers bid one "
                        "base unit more); other than default, the results go to attacks-<policy>.json and "
                        "docs/img/attacks-<policy>.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    results = {}
    all_scenarios = scenarios()
    if args.only:
        wanted = set(args.only)
        unknown = wanted - set(all_scenarios)
        if unknown:
            parser.error(f"unknown scenarios: {sorted(unknown)}")
        wanted |= {all_scenarios[n].baseline for n in wanted}
        all_scenarios = {n: sc for n, sc in all_scenarios.items() if n in wanted}
    for name, scenario in all_scenarios.items():
        attackers, liars, pool = scenario.attackers, scenario.liars, scenario.pool
        runs = []
        for seed in range(args.seeds):
            data = load_task("digits-mlp").example_data()
            x, y = data.features, data.labels
            holdout, trainer_parts, evaluator_parts = split_data(
                DemoConfig(trainers=PARTICIPANTS, evaluators=EVALUATORS, alpha=ALPHA, seed=seed), data)
            # The seats' test splits: the 3 evaluator splits, or the same data re-cut into
            # `seats` splits, so that the trainers' data is the same in every scenario.
            splits = evaluator_parts if scenario.seats == EVALUATORS else \
                np.array_split(np.concatenate(evaluator_parts), scenario.seats)
            tests = [(x[splits[i % len(splits)]], y[splits[i % len(splits)]]) for i in range(pool)]
            run = relay_run([(x[p], y[p]) for p in trainer_parts], tests, (x[holdout], y[holdout]), args.rounds,
                            args.epochs, seed, allocation=10 * TOKEN, turn=scenario.turn(),
                            scorer=scenario.scorer(), withholders=scenario.withholders, seats=scenario.seats,
                            couriers=scenario.couriers, absent=scenario.absent, garbage_keys=scenario.garbage,
                            quorum=scenario.quorum, rules=scenario.rules, closer=scenario.closer,
                            late_keys=scenario.late_keys, sealed=scenario.sealed, cheap=scenario.cheap,
                            eager=scenario.eager, bid_policy=BID_POLICIES[args.bid_policy],
                            seed_for=scenario.seed_for() if scenario.seed_for else None)
            tokens = {a: run.tokens(a) / TOKEN for a in run.people + run.evaluators}
            honest = [a for i, a in enumerate(run.people) if i not in attackers]
            honest_evaluators = [tokens[e] for i, e in enumerate(run.evaluators) if i not in liars]
            runs.append({
                "accuracy": run.accuracy,
                "attacker_tokens": float(np.mean([tokens[run.people[i]] for i in attackers])) if attackers else None,
                "liar_tokens": float(np.mean([tokens[run.evaluators[i]] for i in liars])) if liars else None,
                "honest_tokens": float(np.mean([tokens[a] for a in honest])),
                "honest_evaluator_tokens": float(np.mean(honest_evaluators)) if honest_evaluators else None,
                "honest_forfeited": sum(run.forfeited.get(a, 0) for a in honest) / TOKEN / len(honest),
                "refused": run.refused,
                "favourite_tokens": tokens[run.people[FAVOURITE]],
                "people_tokens": [tokens[a] for a in run.people],
                "captured": sum(2 * len(liars & set(seated)) > len(seated) for seated in run.seated) / args.rounds,
                "layers": len(run.protocol.layers) - 1,
                "attacker_models": sum(m.creator in {run.people[i] for i in attackers} for m in run.protocol.models[1:]),
                "attacker_forfeited": sum(run.forfeited.get(run.people[i], 0) for i in attackers) / TOKEN / len(attackers)
                if attackers else None,
                # Undelivered slot deposits paid to trainers (the remedy), per honest participant and per attacker.
                "honest_remedies_paid": sum(run.protocol.remedies_paid.get(a, 0) for a in honest) / TOKEN / len(honest),
                "attacker_remedies_paid": sum(run.protocol.remedies_paid.get(run.people[i], 0) for i in attackers)
                / TOKEN / len(attackers) if attackers else None,
            })
            if attackers:  # the same trainers in the attack-free run of this seed and set-up (played first)
                base = results[scenario.baseline][seed]["people_tokens"]
                runs[-1]["unattacked_tokens"] = float(np.mean([base[i] for i in attackers]))
        results[name] = runs
        def mean(key: str) -> str:
            return "   -  " if runs[0][key] is None else f"{np.mean([r[key] for r in runs]):6.2f}"

        unattacked = f"{np.mean([r['unattacked_tokens'] for r in runs]):6.2f}" if attackers else "   -  "

        print(f"{name:<24} accuracy {np.mean([r['accuracy'][-1] for r in runs]):.3f}  tokens: honest trainers "
              f"{mean('honest_tokens')}, attackers {mean('attacker_tokens')} ({unattacked} without the attack), lying evaluators "
              f"{mean('liar_tokens')}, honest evaluators {mean('honest_evaluator_tokens')}; "
              f"deposits lost per honest trainer {mean('honest_forfeited')}; refused submissions "
              f"{mean('refused')}; favourite {mean('favourite_tokens')}; rounds with a lying majority "
              f"{mean('captured')}; layers {mean('layers')}, the attackers' {mean('attacker_models')}  "
              f"({time.time() - started:.0f} s)", flush=True)
    if args.only:
        committed = json.loads((ROOT / "benchmarks" / "results" / "attacks.json").read_text())["results"]
        for name, runs in results.items():
            if name in committed:
                same = all(run[key] == old[key] for run, old in zip(runs, committed[name]) for key in old)
                print(f"{name}: {'the same as' if same else 'DIFFERENT from'} the committed seeds 0-{len(runs) - 1}")
        return
    tag = "" if args.bid_policy == "default" else f"-{args.bid_policy}"
    out = ROOT / "benchmarks" / "results" / f"attacks{tag}.json"
    out.write_text(json.dumps({"settings": vars(args), "participants": PARTICIPANTS, "evaluators": EVALUATORS,
                               "pool": POOL,
                               "alpha": ALPHA, "seconds": round(time.time() - started, 1),
                               "baselines": {name: sc.baseline for name, sc in all_scenarios.items()},
                               "rules": {name: "today" if sc.rules else "before issue 17"
                                         for name, sc in all_scenarios.items()},
                               "results": results},
                              indent=1) + "\n")
    plot(results, args.rounds, ROOT / "docs" / "img" / f"attacks{tag}.png")
    print(f"written to {out.relative_to(ROOT)} and docs/img/attacks{tag}.png")


def plot(results, rounds_played: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Accuracy curves in two panels (the attacks before issue 17, and its liveness and
    # timing rows), bars for every scenario on the right.
    fig = plt.figure(figsize=(15, max(5.6, 0.21 * len(results) + 1.5)))
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 1.1))
    panels = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    right = fig.add_subplot(grid[:, 1])
    rounds = np.arange(1, rounds_played + 1)
    colours = plt.get_cmap("tab20").colors
    issue17 = set(liveness())
    for left, names, title in ((panels[0], [n for n in results if n not in issue17], "Accuracy under attack"),
                               (panels[1], ["none", *(n for n in results if n in issue17)],
                                "Liveness and timing (issue 17): before and now")):
        for i, name in enumerate(names):
            curve = np.mean([r["accuracy"] for r in results[name]], axis=0)
            if left is panels[0]:
                colour, style = colours[i % len(colours)], ("-", "--", ":")[i // 10 % 3]
            else:  # a colour a class, dashed before, solid now
                kinds = list(dict.fromkeys(n.rsplit(", ", 1)[0] for n in names[2:]))
                colour = colours[2 * kinds.index(name.rsplit(", ", 1)[0]) % len(colours)] if i > 1 else "grey"
                style = "--" if name.endswith("before") else "-"
            left.plot(rounds, curve, marker=".", lw=2.5 if name.startswith("none") else 1.2, label=name,
                      color="black" if name == "none" else colour, ls=style)
        left.set(xlabel="round", ylabel="held-out accuracy (best model, mean of seeds)", ylim=(0, 1),
                 xticks=rounds, title=title)
        left.legend(fontsize=6, loc="lower right", ncol=2)
        left.grid(alpha=0.3)
    names = list(results)
    honest = [np.mean([r["honest_tokens"] for r in results[n]]) for n in names]
    attacker = [np.mean([r["attacker_tokens"] if r["attacker_tokens"] is not None else
                         (r["liar_tokens"] if r["liar_tokens"] is not None else np.nan) for r in results[n]])
                for n in names]
    unattacked = [np.mean([r.get("unattacked_tokens", np.nan) for r in results[n]]) for n in names]
    positions = np.arange(len(names))
    right.barh(positions - 0.27, honest, height=0.27, label="honest trainers (mean)")
    right.set_ylim(len(names) - 0.5, -0.5)
    right.barh(positions, attacker, height=0.27, label="attackers (mean)")
    right.barh(positions + 0.27, unattacked, height=0.27, color="grey",
               label="the same trainers without the attack")
    right.set(yticks=positions, yticklabels=names, xlabel=f"tokens after round {rounds_played}",
              title="What the attack earns (start: 10 each)")
    right.tick_params(axis="y", labelsize=7)
    right.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
