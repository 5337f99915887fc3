"""withdraw (pull payments)."""

from conftest import reverts

from derelayl import TOKEN


def test_withdraw_transfers_credit_to_wallet(relay, token, trainers):
    tx = relay.withdraw(40 * TOKEN, {"from": trainers[0]})
    assert token.balanceOf(trainers[0]) == 40 * TOKEN
    assert relay.creditOf(trainers[0]) == 60 * TOKEN
    assert tx.events["Withdrawn"]["amount"] == 40 * TOKEN
    assert token.balanceOf(relay) == relay.totalLocked() + relay.totalCredited()


def test_withdraw_reverts_on_zero(relay, trainers):
    with reverts("RelayZeroAmount"):
        relay.withdraw(0, {"from": trainers[0]})


def test_withdraw_reverts_beyond_credit(relay, trainers):
    with reverts("RelayInsufficientCredit"):
        relay.withdraw(100 * TOKEN + 1, {"from": trainers[0]})


def test_withdraw_reverts_for_locked_deposit(relay, keyed, trainers):
    relay.bid(0, 30 * TOKEN, {"from": trainers[0]})
    with reverts("RelayInsufficientCredit"):
        relay.withdraw(71 * TOKEN, {"from": trainers[0]})
