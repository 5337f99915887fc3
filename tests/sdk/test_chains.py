"""Both local chains LocalChain starts (Ganache and Anvil), each really started: the
same dev accounts, chain id, block gas limit and hardfork, a deployment from the
shipped artifacts, and reverts raised by the contract's custom error name, whatever
the node's error format (gas estimate, plain eth_call, a view, a mined failed
transaction replayed)."""

import pytest
from web3.exceptions import ContractLogicError

from derelayl.deploying import deploy, relay_contract
from derelayl.errors import ConfigurationError, ContractRevert
from derelayl.localchain import CHAINS, LocalChain, dev_account
from derelayl.transactions import connect, send


@pytest.fixture(scope="module", params=CHAINS)
def deployed(request):
    with pytest.MonkeyPatch.context() as env:
        env.delenv("DERELAYL_GANACHE", raising=False)  # a user's `ganache`, not the test chains' in-memory one
        local = LocalChain(chain=request.param)
    with local:
        w3 = connect(local.url)
        yield local, w3, deploy(w3, dev_account(0))


def test_the_chain_serves_the_dev_accounts_chain_id_and_gas_limit(deployed):
    local, w3, _ = deployed
    assert local.chain in w3.client_version.lower()
    assert w3.eth.accounts[:3] == [dev_account(i).address for i in range(3)]
    assert len(w3.eth.accounts) == 40
    assert w3.eth.chain_id == 1337
    assert w3.eth.get_block("latest")["gasLimit"] == 30_000_000
    assert "baseFeePerGas" in w3.eth.get_block("latest")  # London or later (shanghai asked)


def test_a_reverted_send_names_the_custom_error(deployed):
    _, w3, deployment = deployed
    relay, decoder = relay_contract(w3, deployment)
    for gas in (None, 300_000):  # through the gas estimate, then through a plain eth_call
        with pytest.raises(ContractRevert) as caught:
            send(w3, dev_account(1), relay.functions.bid(5, 0), decoder, gas=gas)
        assert (caught.value.name, caught.value.args_) == ("RelayWrongRound", (0, 5))


def test_a_reverted_view_names_the_custom_error(deployed):
    _, w3, deployment = deployed
    relay, decoder = relay_contract(w3, deployment)
    with pytest.raises(ContractLogicError) as caught:
        relay.functions.modelOf(9).call()
    decoded = decoder.wrap(caught.value)
    assert isinstance(decoded, ContractRevert) and (decoded.name, decoded.args_) == ("RelayUnknownModel", (9,))


def test_a_mined_failed_transaction_replays_to_the_custom_error(deployed):
    """A transaction sent unchecked (fixed gas, no estimate) is mined with status 0;
    its replay at that block gives the error by name, as `send` does after a race."""
    _, w3, deployment = deployed
    relay, decoder = relay_contract(w3, deployment)
    account = dev_account(2)
    tx = relay.functions.bid(7, 0).build_transaction(
        {"from": account.address, "gas": 300_000, "nonce": w3.eth.get_transaction_count(account.address),
         "chainId": w3.eth.chain_id})
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction), timeout=60)
    assert receipt["status"] == 0
    with pytest.raises(ContractLogicError) as caught:
        w3.eth.call({"from": account.address, "to": tx["to"], "data": tx["data"]},
                    block_identifier=receipt["blockNumber"])
    decoded = decoder.wrap(caught.value)
    assert isinstance(decoded, ContractRevert) and (decoded.name, decoded.args_) == ("RelayWrongRound", (0, 7))


def test_an_unknown_chain_is_refused_in_one_line(monkeypatch):
    with pytest.raises(ConfigurationError, match="unknown chain 'hardhat': use one of ganache, anvil"):
        LocalChain(chain="hardhat")
    monkeypatch.setenv("DERELAYL_CHAIN", "geth")
    with pytest.raises(ConfigurationError, match=r"\$DERELAYL_CHAIN = 'geth': use one of ganache, anvil"):
        LocalChain()
