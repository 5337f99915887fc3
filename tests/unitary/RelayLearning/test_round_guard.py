"""Every call that names a round refuses any round but the current one, so a delayed
transaction can never land in a later round."""

import pytest
from conftest import ENVELOPE, cid_of, reverts, weights_hash


@pytest.mark.parametrize(
    "function,args,sender",
    [
        ("bid", (0,), "trainer"),
        ("offer", (0,), "owner"),
        ("stakeEvaluator", (), "evaluator"),
        ("deliverKey", (0, ENVELOPE), "owner"),
        ("submit", (0, weights_hash(0), cid_of(0), []), "trainer"),
        ("commit", (b"\x01" * 32,), "evaluator"),
        ("reveal", ([0], b"\x01" * 32), "evaluator"),
    ],
)
@pytest.mark.parametrize("round_", [1, 2**64])
def test_calls_for_another_round_revert(relay, keyed, genesis_owner, trainers, evaluators, function, args, sender, round_):
    account = {"trainer": trainers[0], "owner": genesis_owner, "evaluator": evaluators[0]}[sender]
    with reverts("RelayWrongRound"):
        getattr(relay, function)(round_, *args, {"from": account})
