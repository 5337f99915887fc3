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
