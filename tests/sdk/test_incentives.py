"""Incentive checks on the rules (`RelayProtocol`, held to the contract by the
differential test), over many random score vectors:

- an evaluator that reveals only when revealing pays earns strictly less, in total,
  than one that always reveals (not revealing after committing costs part of the stake);
- the order in which evaluators reveal changes no winner and no payout.
"""

from __future__ import annotations

import itertools
import random

from derelayl import TEST_PARAMS, SCORE_SCALE, TOKEN, RelayProtocol
from derelayl.protocol import Phase

PARAMS = TEST_PARAMS.replace(k=4, max_trainers=4, max_evaluators=4, quorum=1, evaluator_stake=TOKEN,
                                evaluator_reward=TOKEN // 100, score_tolerance=50_000)
OWNER = "0x" + "aa" * 20
TRAINERS = [f"0x{0x100 + i:040x}" for i in range(4)]
EVALUATORS = [f"0x{0x200 + i:040x}" for i in range(4)]


def round_until_reveal(rng: random.Random, scores: dict[str, list[int]]):
    """A round 0 with 4 slots submitted and every evaluator committed; returns the
    protocol and each evaluator's salt."""
    p = RelayProtocol(PARAMS, OWNER, allocations={e: 10 * TOKEN for e in EVALUATORS} | {OWNER: TOKEN})
    for a in [OWNER, *TRAINERS, *EVALUATORS]:
        p.register_key(a, b"\x01" * 32)
    p.offer(OWNER, 0, TOKEN // 8)
    for t in TRAINERS:
        p.bid(t, 0, 0)
    for e in EVALUATORS:
        p.stake_evaluator(e, 0)
    p.close_bidding(rng.randbytes(32))
    for i, s in enumerate(p.rounds[0].slots):
        p.deliver_key(OWNER, 0, i, b"\x01")
        p.submit(s.trainer, 0, i, b"\x02" * 32, "cid", [b"\x01"] * len(EVALUATORS))
    salts = {e: rng.randbytes(32) for e in EVALUATORS}
    for e in EVALUATORS:
        p.commit(e, 0, p.commitment_for(0, e, scores[e], salts[e]))
    assert p.rounds[0].phase == Phase.REVEALING
    return p, salts


def random_scores(rng: random.Random) -> dict[str, list[int]]:
    """Scores close to a common truth, except that an evaluator is sometimes way off
    (a noisy or careless one): then it may agree with no median."""
    base = [rng.randrange(SCORE_SCALE + 1) for _ in range(4)]
    scores = {}
    for e in EVALUATORS:
        if rng.random() < 0.3:
            scores[e] = [rng.randrange(SCORE_SCALE + 1) for _ in base]
        else:
            scores[e] = [min(SCORE_SCALE, max(0, b + rng.choice([0, 0, 20_000, -20_000]))) for b in base]
    return scores


def outcome(p: RelayProtocol, settlement):
    return (settlement.accepted_models, [p.models[m].creator for m in settlement.accepted_models],
            dict(settlement.outcomes), dict(p.credit), p.burned, p.minted)


def settle_round(seed: int, scores, revealing) -> tuple[RelayProtocol, object]:
    p, salts = round_until_reveal(random.Random(seed), scores)
    for e in revealing:
        p.reveal(e, 0, scores[e], salts[e])
    return p, p.settle()


def test_revealing_only_when_it_pays_earns_less_than_always_revealing():
    """Evaluator e0 knows (at best) whether its reveal will earn a reward. The selective
    e0 reveals only then; otherwise it keeps quiet, and the stake penalty applies."""
    rng = random.Random(7)
    e0 = EVALUATORS[0]
    always = selective = withheld = 0
    for _ in range(300):
        scores, seed = random_scores(rng), rng.getrandbits(64)
        p, settlement = settle_round(seed, scores, EVALUATORS)
        always += p.credit[e0]
        if settlement.evaluator_rewards[e0][1] > 0:
            selective += p.credit[e0]  # it pays: the selective evaluator reveals too
            continue
        q, _ = settle_round(seed, scores, EVALUATORS[1:])
        assert q.credit[e0] < p.credit[e0]  # keeping quiet cost part of the stake
        selective += q.credit[e0]
        withheld += 1
    assert withheld > 0, "no score vector where revealing earned nothing: the check proves nothing"
    assert selective < always


def test_reveal_order_changes_no_winner_and_no_payout():
    rng = random.Random(11)
    for _ in range(40):
        scores = random_scores(rng)
        seed = rng.getrandbits(64)
        results = set()
        for order in itertools.permutations(EVALUATORS):
            p, salts = round_until_reveal(random.Random(seed), scores)
            for e in order:
                p.reveal(e, 0, scores[e], salts[e])
            settlement = p.settle()
            accepted, creators, outcomes, credit, burned, minted = outcome(p, settlement)
            results.add((tuple(accepted), tuple(creators), tuple(sorted(outcomes.items())),
                         tuple(sorted(credit.items())), burned, minted))
        assert len(results) == 1, "the reveal order changed the settlement"
