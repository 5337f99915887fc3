"""Deploying a DeRelayL task (RelayToken, then RelayLearning, or the merge relay
MergeRelayLearning, as its minter) from the shipped contract artifacts, and the
contract object of an existing deployment.

(The module is not called `deploy` so that `from derelayl import deploy` always gives
the function, whatever was imported before.)
"""

from __future__ import annotations

from eth_utils import keccak
from web3 import Web3

from derelayl.addresses import create_address
from derelayl.artifacts import all_abis, load_contracts
from derelayl.deployment import Deployment
from derelayl.errors import ConfigurationError, DeRelayLError
from derelayl.params import DEFAULT_PARAMS, ProtocolParams
from derelayl.transactions import ErrorDecoder, send


def deploy(
    w3: Web3,
    deployer,
    params: ProtocolParams = DEFAULT_PARAMS,
    genesis_owner: str | None = None,
    genesis_hash: bytes = keccak(b"DeRelayL genesis model"),
    genesis_cid: str = "QmGenesis",
    task_spec_cid: str = "",
    allocations: dict[str, int] | None = None,
    genesis_key: bytes | None = None,
    merge_horizon: int = 0,
) -> Deployment:
    """Deploys RelayToken (minter = the predicted relay address) and RelayLearning, or
    with `merge_horizon` above 0 the merge relay MergeRelayLearning (docs/merge.md),
    whose models earn lineage rewards from that many layers after their own.
    `allocations` (address: base units) are credited at deployment, to stake and bid.
    `genesis_key` is not sent to the chain: it is published in the returned Deployment
    (and so in its file) for trainers to check the genesis model before bidding."""
    if isinstance(merge_horizon, bool) or not isinstance(merge_horizon, int) or not 0 <= merge_horizon < 2**32:
        raise ConfigurationError(f"merge_horizon must be 0 (the plain relay) or 1 to 2**32 - 1 layers, "
                                 f"got {merge_horizon!r}")
    contracts = load_contracts()
    decoder = ErrorDecoder(all_abis())
    relay_name = relay_contract_name(merge_horizon)
    token_factory = w3.eth.contract(abi=contracts["RelayToken"].abi, bytecode=contracts["RelayToken"].bytecode)
    relay_factory = w3.eth.contract(abi=contracts[relay_name].abi, bytecode=contracts[relay_name].bytecode)
    nonce = w3.eth.get_transaction_count(deployer.address)
    predicted = create_address(deployer.address, nonce + 1)
    token_receipt = send(w3, deployer, token_factory.constructor(predicted), decoder)
    allocations = allocations or {}
    args = [params.as_tuple(), token_receipt["contractAddress"], genesis_owner or deployer.address,
            genesis_hash, genesis_cid, task_spec_cid, list(allocations), list(allocations.values())]
    relay_receipt = send(w3, deployer, relay_factory.constructor(*args, *([merge_horizon] if merge_horizon else [])),
                         decoder)
    if relay_receipt["contractAddress"] != predicted:
        raise DeRelayLError(f"{relay_name} landed at {relay_receipt['contractAddress']}, not {predicted}")
    return Deployment(w3.eth.chain_id, w3.provider.endpoint_uri, predicted, token_receipt["contractAddress"],
                      relay_receipt["blockNumber"], genesis_key.hex() if genesis_key else "", merge_horizon)


def relay_contract_name(merge_horizon: int) -> str:
    """The contract a deployment runs: RelayLearning, or MergeRelayLearning for a merge relay."""
    return "MergeRelayLearning" if merge_horizon else "RelayLearning"


def relay_contract(w3: Web3, deployment: Deployment):
    """The web3 contract object of a deployment's relay (RelayLearning, or
    MergeRelayLearning for a merge relay), and its error decoder."""
    abi = load_contracts()[relay_contract_name(deployment.merge_horizon)].abi
    return w3.eth.contract(address=deployment.relay, abi=abi), ErrorDecoder(all_abis())
