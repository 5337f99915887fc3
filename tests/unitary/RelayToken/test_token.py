"""RelayToken: only the protocol mints and burns."""

from brownie import ZERO_ADDRESS, RelayToken
from conftest import reverts


def test_token_metadata(token):
    assert token.name() == "DeRelayL Token"
    assert token.symbol() == "DRL"
    assert token.decimals() == 18


def test_minter_is_the_protocol(token, relay):
    assert token.minter() == relay


def test_mint_reverts_for_anyone_else(token, deployer):
    with reverts("RelayTokenUnauthorized"):
        token.mint(deployer, 1, {"from": deployer})


def test_burn_reverts_for_anyone_else(token, deployer):
    with reverts("RelayTokenUnauthorized"):
        token.burn(1, {"from": deployer})


def test_minter_can_mint_and_burn(deployer):
    token = RelayToken.deploy(deployer, {"from": deployer})
    token.mint(deployer, 10, {"from": deployer})
    token.burn(4, {"from": deployer})
    assert token.balanceOf(deployer) == 6 and token.totalSupply() == 6


def test_zero_minter_is_refused(deployer):
    with reverts("RelayTokenZeroMinter"):
        RelayToken.deploy(ZERO_ADDRESS, {"from": deployer})


def test_tokens_sent_straight_to_the_relay_are_refused(relay, token, genesis_owner, trainers, keyed):
    """Class 9 (issue 17). Before: a `transfer` (or a third party's `transferFrom`) to
    the relay went through, and the tokens were stuck: credited to nobody, locked for
    nothing, never withdrawable. Now the token refuses any transfer to the relay that
    the relay did not send itself; its own pull of a deposit still works."""
    from derelayl import TOKEN

    relay.withdraw(5 * TOKEN, {"from": trainers[0]})
    with reverts("RelayTokenDirectTransfer"):
        token.transfer(relay, TOKEN, {"from": trainers[0]})
    token.approve(trainers[1], 2 * TOKEN, {"from": trainers[0]})
    with reverts("RelayTokenDirectTransfer"):
        token.transferFrom(trainers[0], relay, TOKEN, {"from": trainers[1]})
    token.transferFrom(trainers[0], trainers[1], TOKEN, {"from": trainers[1]})  # anyone else: fine
    token.approve(relay, 4 * TOKEN, {"from": trainers[0]})
    relay.withdraw(relay.creditOf(trainers[0]), {"from": trainers[0]})
    relay.bid(0, 4 * TOKEN, {"from": trainers[0]})  # the relay pulls from the wallet itself
    assert token.balanceOf(relay) == relay.totalLocked() + relay.totalCredited()
    assert relay.totalLocked() == 4 * TOKEN
