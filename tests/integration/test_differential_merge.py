"""Differential test of the merge relay: random scenarios played on MergeRelayLearning
and on `RelayProtocol(merge_horizon=...)`, as test_differential.py plays the plain relay
(the same scenarios' actions, with key bundles from the parent layer's key holders, or
anyone, in place of owners' keys and couriers; owners still try to offer and deliver, and
both refuse). Both must succeed or refuse alike, and end in identical state, claims
included. DERELAYL_DIFF_MERGE_SCENARIOS changes the count (`make fuzz` plays 300)."""

from __future__ import annotations

import os
import random

from conftest import report
from test_differential import BASE_SEED, Deployment, play_scenarios

SCENARIOS = int(os.environ.get("DERELAYL_DIFF_MERGE_SCENARIOS", "30"))
DEPLOYMENTS = 4


def test_random_merge_scenarios_end_in_identical_state():
    master = random.Random(BASE_SEED + 1)
    deployments = [Deployment(master, merge_horizon=master.choice([1, 2, 3, 100])) for _ in range(DEPLOYMENTS)]
    stats = play_scenarios(master, deployments, SCENARIOS)
    report(f"{SCENARIOS} merge scenarios: {stats}")
    for case in ["ACCEPTED", "REJECTED", "NOT_SUBMITTED", "UNDELIVERED", "claim", "claim:RelayNothingToClaim",
                 "deliverBundle", "deliverBundle:RelayNotKeyHolder", "deliverBundle:RelayEnvelopeTooLong",
                 "deliverBundle:RelayAlreadySubmitted", "offer:RelayPlainRelayOnly", "courierOffer:RelayPlainRelayOnly",
                 "deliverKey:RelayPlainRelayOnly", "requestKey", "submit", "reclaimUndelivered", "withdraw",
                 "fell back"]:
        assert stats.get(case, 0) > 0, f"no {case} in {SCENARIOS} merge scenarios"
    assert stats["models"] >= SCENARIOS // 2
