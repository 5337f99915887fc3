"""The chain side (derelayl.localchain, .transactions, .deployment, .deploying): an
embedded Ganache, deployment from the shipped artifacts, reverts by name, unreachable
endpoints named, and the `derelayl deploy` command."""

import dataclasses
import json
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from web3 import Web3

from derelayl import SAFE_QUORUM, TEST_PARAMS, RelayClient, crypto
from derelayl.cli import main
from derelayl.deploying import deploy, relay_contract
from derelayl.deployment import Deployment
from derelayl.errors import ChainUnreachable, ConfigurationError, ContractRevert, ProtocolRevert
from derelayl.localchain import LocalChain, dev_account
from derelayl.transactions import connect, send


@pytest.fixture(scope="module")
def local_chain():
    with LocalChain() as local:
        yield local


@pytest.fixture(scope="module")
def deployed(local_chain):
    w3 = connect(local_chain.url)
    return w3, deploy(w3, dev_account(0), TEST_PARAMS)  # free offers, instant phases


def test_local_chain_serves_the_dev_accounts(local_chain):
    w3 = connect(local_chain.url)
    assert w3.eth.accounts[0] == dev_account(0).address
    assert w3.eth.chain_id == 1337


def test_deploy_without_brownie(deployed):
    w3, deployment = deployed
    relay, _ = relay_contract(w3, deployment)
    assert relay.functions.currentRound().call() == 0
    assert relay.functions.token().call() == deployment.token
    assert len(w3.eth.get_code(deployment.relay)) > 10_000


def test_reverts_are_raised_by_error_name_with_arguments(deployed):
    w3, deployment = deployed
    relay, decoder = relay_contract(w3, deployment)
    with pytest.raises(ContractRevert) as caught:
        send(w3, dev_account(1), relay.functions.bid(5, 0), decoder)
    assert caught.value.name == "RelayWrongRound"
    assert caught.value.args_ == (0, 5)
    assert isinstance(caught.value, ProtocolRevert)


def test_view_reverts_decode_too(deployed):
    w3, deployment = deployed
    relay, decoder = relay_contract(w3, deployment)
    with pytest.raises(Exception) as caught:
        relay.functions.modelOf(9).call()
    decoded = decoder.wrap(caught.value)
    assert isinstance(decoded, ContractRevert) and decoded.name == "RelayUnknownModel"


def test_unreachable_endpoint_is_named():
    with pytest.raises(ChainUnreachable, match="127.0.0.1:9"):
        connect("http://127.0.0.1:9", retries=2, delay=0.05)


def test_deployment_file_round_trips(tmp_path, deployed):
    _, deployment = deployed
    assert Deployment.load(deployment.save(tmp_path / "d.json")) == deployment
    assert deployment.genesis_key == ""  # deployed without publishing a genesis key
    published = dataclasses.replace(deployment, genesis_key="ab" * 32)
    assert Deployment.load(published.save(tmp_path / "p.json")) == published
    with pytest.raises(ConfigurationError, match="no deployment file"):
        Deployment.load(tmp_path / "missing.json")
    broken = json.loads(published.save(tmp_path / "b.json").read_text()) | {"genesis_key": "ab" * 31}
    (tmp_path / "b.json").write_text(json.dumps(broken))
    with pytest.raises(ConfigurationError, match="field 'genesis_key' must be 64 hex digits"):
        Deployment.load(tmp_path / "b.json")


def test_a_deployment_file_appears_whole(tmp_path, deployed):
    """A participant started with wait_for_deployment loads the file the moment it
    exists: it must never find it empty or half-written (one did under load, and
    stopped with "not valid JSON")."""
    _, deployment = deployed
    paths = [tmp_path / f"d{i}.json" for i in range(200)]
    seen: list = []

    def reader():
        for path in paths:
            while not path.exists():
                pass
            seen.append(Deployment.load(path))

    thread = threading.Thread(target=reader)
    thread.start()
    for path in paths:
        deployment.save(path)
    thread.join(timeout=60)
    assert seen == [deployment] * len(paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no partial file left


def test_cli_deploy_to_an_rpc_url(tmp_path, local_chain):
    out = tmp_path / "deployment.json"
    key = "0x" + dev_account(2).key.hex().removeprefix("0x")
    result = CliRunner().invoke(main, ["deploy", "--rpc-url", local_chain.url, "--private-key", key,
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert Web3.is_checksum_address(written["relay"])
    assert len(connect(local_chain.url).eth.get_code(written["relay"])) > 10_000


def test_cli_deploy_refuses_a_quorum_a_single_colluder_can_sway(tmp_path, local_chain):
    """Below SAFE_QUORUM scores a colluding evaluator lifts its favourite: deploy
    refuses such a quorum unless the risk is accepted with --allow-small-quorum."""
    key = "0x" + dev_account(2).key.hex().removeprefix("0x")

    def deploy_with(params: dict, *flags: str):
        path = tmp_path / "params.json"
        path.write_text(json.dumps(params))
        out = tmp_path / "deployment.json"
        out.unlink(missing_ok=True)
        result = CliRunner().invoke(main, ["deploy", "--rpc-url", local_chain.url, "--private-key", key,
                                           "--params", str(path), "--out", str(out), *flags])
        return result, out

    refused, out = deploy_with({"max_evaluators": 3, "quorum": 3})
    assert refused.exit_code == 2 and "quorum = 3" in refused.output and "colluding evaluator" in refused.output
    assert "--allow-small-quorum" in refused.output and not out.exists()
    too_few_seats, out = deploy_with({"max_evaluators": 3})  # the default quorum of 5 cannot be met
    assert too_few_seats.exit_code == 2 and "quorum = 5 is more than max_evaluators = 3" in too_few_seats.output
    assert not out.exists()
    accepted, out = deploy_with({"max_evaluators": 3, "quorum": 3}, "--allow-small-quorum")
    assert accepted.exit_code == 0, accepted.output
    assert "warning: quorum = 3" in accepted.output
    assert RelayClient(connect(local_chain.url), Deployment.load(out), dev_account(2)).params().quorum == 3
    quiet = CliRunner().invoke(main, ["deploy", "--rpc-url", local_chain.url, "--private-key", key,
                                      "--out", str(tmp_path / "default.json")])
    assert quiet.exit_code == 0 and "warning" not in quiet.output
    deployed = RelayClient(connect(local_chain.url), Deployment.load(tmp_path / "default.json"), dev_account(2))
    assert deployed.params().quorum == SAFE_QUORUM == 5


def test_cli_deploy_refuses_rpc_url_without_key(local_chain):
    result = CliRunner().invoke(main, ["deploy", "--rpc-url", local_chain.url])
    assert result.exit_code != 0 and "--private-key" in result.output


def test_cli_deploy_names_an_unreachable_endpoint():
    result = CliRunner().invoke(main, ["deploy", "--rpc-url", "http://127.0.0.1:9", "--private-key", "0x" + "11" * 32])
    assert result.exit_code != 0 and "127.0.0.1:9" in result.output


def test_cli_deploy_on_embedded_chain(tmp_path):
    out = tmp_path / "embedded.json"
    result = CliRunner().invoke(main, ["deploy", "--no-serve", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["chain_id"] == 1337


def test_cli_deploy_pins_the_task_spec_and_genesis_and_publishes_its_key(tmp_path, local_chain, ipfs_node):
    """`derelayl deploy --task NAME --ipfs-api URL`: the task spec and the encrypted
    genesis are pinned, the chain records the spec's CID and the genesis's CID and
    sha256, the deployment file publishes the genesis key, and the deployer's
    participant (the genesis owner) takes that key to deliver. `--genesis FILE` starts
    from given weights, refused unless they fit the task's model."""
    from derelayl.client import RelayClient
    from derelayl.participant import Participant, ParticipantConfig
    from derelayl.storage import IpfsStore
    from derelayl.task import load_task, parse_spec
    from derelayl.weights import save_weights

    task = load_task("wine")
    weights = tmp_path / "genesis.safetensors"
    weights.write_bytes(save_weights(task.initial_model(seed=3)))
    key = "0x" + dev_account(2).key.hex().removeprefix("0x")
    deploy_args = ["deploy", "--rpc-url", local_chain.url, "--private-key", key, "--out", str(tmp_path / "d.json")]
    result = CliRunner().invoke(main, [*deploy_args, "--task", "wine", "--genesis", str(weights),
                                       "--ipfs-api", ipfs_node.api])
    assert result.exit_code == 0, result.output
    deployment = Deployment.load(tmp_path / "d.json")
    client = RelayClient(connect(local_chain.url), deployment)
    store = IpfsStore(ipfs_node.api)
    spec = parse_spec(store.get(client.task_spec_cid()), "spec")
    assert (spec["name"], spec["entry_point"], spec["metric"]) == ("wine", "wine", "balanced_accuracy")
    genesis = client.model(0)
    assert genesis.creator == dev_account(2).address
    plain = crypto.decrypt(store.get(client.cid_of(0)), bytes.fromhex(deployment.genesis_key))
    assert plain == weights.read_bytes() and crypto.weights_hash(plain) == genesis.weights_hash
    data = task.example_data().subset(np.arange(20))
    owner = Participant(ParticipantConfig(role="trainer", state_dir=tmp_path / "owner"), deployment, dev_account(2),
                        store, data)
    assert owner.role.model_key(0) == bytes.fromhex(deployment.genesis_key)

    no_ipfs = CliRunner().invoke(main, [*deploy_args, "--task", "wine"])
    assert no_ipfs.exit_code != 0 and "--task needs --ipfs-api" in no_ipfs.output
    (tmp_path / "junk").write_bytes(b"not weights")
    junk = CliRunner().invoke(main, [*deploy_args, "--task", "wine", "--genesis", str(tmp_path / "junk"),
                                     "--ipfs-api", ipfs_node.api])
    assert junk.exit_code != 0 and "not a readable safetensors file" in junk.output
    digits = tmp_path / "digits.safetensors"
    digits.write_bytes(save_weights(load_task("digits-mlp").initial_model()))
    misfit = CliRunner().invoke(main, [*deploy_args, "--task", "wine", "--genesis", str(digits),
                                       "--ipfs-api", ipfs_node.api])
    assert misfit.exit_code != 0 and "do not fit the wine model" in misfit.output
    unknown = CliRunner().invoke(main, [*deploy_args, "--task", "mnist", "--ipfs-api", ipfs_node.api])
    assert unknown.exit_code != 0 and "unknown task 'mnist'" in unknown.output
    placeholder = CliRunner().invoke(main, deploy_args)
    assert placeholder.exit_code == 0 and "the genesis is a placeholder" in placeholder.output
    assert Deployment.load(tmp_path / "d.json").genesis_key == ""


def test_client_calls_views_and_follows_events(deployed):
    """RelayClient: typed calls and views, reverts by name, events followed as they come."""
    from derelayl.client import RelayClient
    from derelayl.protocol import Phase

    w3, deployment = deployed
    owner = RelayClient(w3, deployment, dev_account(0))  # the deployer is the genesis owner
    trainer = RelayClient(w3, deployment, dev_account(5))
    start = w3.eth.block_number + 1
    trainer.register_key(b"\x07" * 32)
    trainer.bid(0, 0)
    owner.offer(0, 0)
    with pytest.raises(ContractRevert, match="RelayAlreadyBid"):
        trainer.bid(0, 0)
    info = trainer.round_info(0)
    assert info.phase == Phase.BIDDING and info.bid_count == 1 and info.offer_count == 1
    assert trainer.bids(0)[0].trainer == dev_account(5).address and trainer.offers(0)[0].model_id == 0
    assert trainer.public_key_of(dev_account(5).address) == b"\x07" * 32
    assert trainer.current_model_of(dev_account(0).address) == 0 and trainer.model(0).layer == 0
    seen = []
    for event in trainer.follow(("KeyRegistered", "BidPlaced", "OfferMade"), from_block=start,
                                stop=lambda: len(seen) >= 3):
        seen.append(event["event"])
    assert seen == ["KeyRegistered", "BidPlaced", "OfferMade"]  # block order
    with pytest.raises(ConfigurationError, match="no account"):
        RelayClient(w3, deployment).withdraw(1)


def test_cli_node_serves_a_chain_and_an_ipfs_daemon(tmp_path):
    """`derelayl node` prints its endpoints (and writes them), both answer, and SIGTERM
    stops both. (SIGTERM, not SIGINT: a test run started as a background job inherits
    an ignored SIGINT, and Python then never raises KeyboardInterrupt.)"""
    import os
    import signal
    import subprocess
    import sys
    import time

    from derelayl.storage import IpfsStore

    endpoints = tmp_path / "endpoints.json"
    node = subprocess.Popen([sys.executable, "-m", "derelayl.cli", "node", "--endpoints", str(endpoints), "--port", "0", "--ipfs-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not endpoints.exists():
            assert node.poll() is None and time.time() < deadline, node.stdout.read() if node.poll() else "timeout"
            time.sleep(0.5)
        info = json.loads(endpoints.read_text())
        assert connect(info["rpc_url"]).eth.chain_id == 1337
        assert IpfsStore(info["ipfs_api"]).put(b"hello") == "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYecaX"
        # the printed dev accounts' keys work with `deploy --rpc-url URL --private-key KEY`
        accounts = info["dev_accounts"]
        assert [a["address"] for a in accounts] == [dev_account(i).address for i in range(4)]
        out = tmp_path / "d.json"
        deployed = CliRunner().invoke(main, ["deploy", "--rpc-url", info["rpc_url"], "--private-key",
                                             accounts[1]["private_key"], "--out", str(out),
                                             "--allocate", f"{accounts[2]['address']}=10"])
        assert deployed.exit_code == 0, deployed.output
        assert f"deploying from {accounts[1]['address']}" in deployed.output
        assert RelayClient(connect(info["rpc_url"]), Deployment.load(out)).credit_of(accounts[2]["address"]) == 10**19
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            output, _ = node.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            node.send_signal(signal.SIGINT)  # its handler stops Ganache and IPFS too
            output, _ = node.communicate(timeout=30)
            raise AssertionError(f"derelayl node ignored SIGTERM for 60 s: {output}") from None
    assert node.returncode == 0 and "rpc_url" in output and "stopped" in output
    assert "dev chain only" in output and accounts[0]["private_key"] in output
    assert os.path.exists(endpoints)


def test_the_client_closes_bidding_in_its_two_steps(local_chain):
    """Class 3 (issue 17): `RelayClient.close_bidding` sends the lock, then the draw in a
    later block (unchecked: an eth_call on the lock's block would see RelaySeedNotReady)."""
    from derelayl.protocol import Phase

    w3 = connect(local_chain.url)
    deployment = deploy(w3, dev_account(0), TEST_PARAMS)
    owner, trainer = RelayClient(w3, deployment, dev_account(0)), RelayClient(w3, deployment, dev_account(6))
    trainer.register_key(b"\x08" * 32)
    trainer.bid(0, 0)
    owner.offer(0, 0)
    receipt = trainer.close_bidding()
    info = trainer.round_info(0)
    assert info.phase != Phase.BIDDING and info.slot_count == 1 and 0 < info.seed_block < receipt["blockNumber"]


def test_the_sdk_deploys_and_plays_a_merge_relay(tmp_path, local_chain):
    """`deploy(merge_horizon=...)` deploys MergeRelayLearning; a RelayClient plays a round
    of it (the genesis owner bundles its key, no offer) to a claim; the deployment file
    keeps the horizon; a plain relay's client refuses a bundle in one line."""
    from derelayl.protocol import Phase

    w3 = connect(local_chain.url)
    params = TEST_PARAMS.replace(quorum=1, max_evaluators=1, selection_permille=1000, evaluator_stake=0)
    with pytest.raises(ConfigurationError, match="merge_horizon must be 0"):
        deploy(w3, dev_account(0), params, merge_horizon=-1)
    deployment = deploy(w3, dev_account(0), params, merge_horizon=4)
    assert deployment.merge_horizon == 4 and Deployment.load(deployment.save(tmp_path / "m.json")) == deployment
    owner, trainer, evaluator = (RelayClient(w3, deployment, dev_account(i)) for i in (0, 7, 8))
    assert owner.relay.functions.mergeHorizon().call() == 4
    with pytest.raises(ContractRevert, match="RelayPlainRelayOnly"):
        owner.offer(0, 0)
    trainer.register_key(b"\x09" * 32)
    evaluator.register_key(b"\x0a" * 32)
    trainer.bid(0, 0)
    evaluator.stake_evaluator(0)
    trainer.close_bidding()
    assert trainer.slot(0, 0).trainer == dev_account(7).address
    owner.deliver_bundle(0, 0, b"\x01" * 80)
    trainer.submit(0, 0, b"\x02" * 32, "QmMerged", [b"\x03" * 80])
    salt = b"\x04" * 32
    evaluator.commit(0, evaluator.commitment_for(0, dev_account(8).address, [700_000], salt))
    evaluator.reveal(0, [700_000], salt)
    evaluator.settle()
    assert trainer.round_info(1).phase == Phase.BIDDING and trainer.layer(1) == [1]
    assert trainer.claimable(0) == (1, True)
    credit = owner.credit_of(dev_account(0).address)
    owner.claim(0)
    assert owner.credit_of(dev_account(0).address) == credit + params.lineage_reward
    plain = RelayClient(w3, deploy(w3, dev_account(0), TEST_PARAMS), dev_account(0))
    with pytest.raises(ConfigurationError, match="is a plain relay"):
        plain.deliver_bundle(0, 0, b"\x01")
