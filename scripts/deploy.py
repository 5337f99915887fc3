"""Deploy RelayToken and RelayLearning (or MergeRelayLearning) with brownie.

    brownie run scripts/deploy.py --network derelayl-ganache      # a Ganache brownie starts
    brownie run scripts/deploy.py --network <any configured RPC>  # with a loaded account

The addresses are written to build/deployments/<chain id>.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from brownie import MergeRelayLearning, RelayLearning, RelayToken, accounts, chain, network
from eth_utils import keccak
from scripts.receipts import wait_for_receipts

from derelayl import DEFAULT_PARAMS, ProtocolParams, create_address

GENESIS_CID = "QmGenesisPlaceholderOfTheScriptedDemo0000000000"
GENESIS_HASH = keccak(b"DeRelayL genesis model (scripted demo)")
TASK_SPEC_CID = "QmTaskSpecPlaceholderOfTheScriptedDemo000000000"


def deploy(
    deployer,
    params: ProtocolParams = DEFAULT_PARAMS,
    genesis_owner=None,
    allocations: dict | None = None,
    genesis_hash: bytes = GENESIS_HASH,
    genesis_cid: str = GENESIS_CID,
    task_spec_cid: str = TASK_SPEC_CID,
    merge_horizon: int = 0,
):
    """Deploys the token (minter = the predicted relay address), then RelayLearning, or
    with `merge_horizon` above 0 the merge relay MergeRelayLearning with that horizon.

    Returns (token, relay).
    """
    allocations = allocations or {}
    relay_address = create_address(deployer.address, deployer.nonce + 1)
    token = RelayToken.deploy(relay_address, {"from": deployer})
    args = [params.as_tuple(), token, genesis_owner or deployer, genesis_hash, genesis_cid, task_spec_cid,
            list(allocations.keys()), list(allocations.values())]
    if merge_horizon:
        relay = MergeRelayLearning.deploy(*args, merge_horizon, {"from": deployer})
    else:
        relay = RelayLearning.deploy(*args, {"from": deployer})
    assert relay.address == relay_address, "RelayLearning did not land at the predicted address"
    return token, relay


def save_addresses(token, relay) -> Path:
    """Writes the deployed addresses where the SDK and scripts look for them."""
    path = Path("build/deployments") / f"{chain.id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"RelayToken": token.address, "RelayLearning": relay.address}, indent=2))
    return path


def main() -> None:
    wait_for_receipts()
    deployer = accounts[0]
    token, relay = deploy(deployer)
    path = save_addresses(token, relay)
    print(f"network {network.show_active()} (chain id {chain.id})")
    print(f"RelayToken    {token.address}")
    print(f"RelayLearning {relay.address}")
    print(f"addresses written to {path}")
