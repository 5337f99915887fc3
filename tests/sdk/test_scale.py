"""What lets one Ganache carry tens of participant processes (issue 18, item 2), on a
real Ganache (and a real IPFS daemon where a participant needs its task spec):

- the participant's loop works per block, not per poll: while nothing concerns it,
  a new block costs it one `eth_getLogs` (and each poll one `eth_blockNumber`), and an
  event that names someone else costs it nothing more;
- its reads of one block are batched (one HTTP request) and each read once, and the
  relay's events come from one `eth_getLogs` per block, answering exactly what the
  chain answers;
- its transactions carry known gas limits (no `eth_estimateGas`), and a limit that is
  too low says so and changes nothing;
- closers take turns (one ordering per round and phase that everyone computes alike);
- `derelayl demo` refuses a quorum it cannot reach, in one line.

Speed and scale figures are the benchmark's (benchmarks/relay_scale.py, docs/scale.md).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from derelayl import deploy_task, load_task
from derelayl.client import RelayClient
from derelayl.deploying import deploy
from derelayl.errors import DeRelayLError
from derelayl.localchain import LocalChain, dev_account
from derelayl.params import DEFAULT_PARAMS, TOKEN
from derelayl.participant import CountingProvider, Participant, ParticipantConfig, closer_rank
from derelayl.storage import IpfsStore
from derelayl.transactions import GAS_LIMITS, connect, gas_limit
from derelayl.types import Phase

TASK = load_task("digits-mlp").with_hyperparameters({**load_task("digits-mlp").hyperparameters, "epochs": 1})


def wait_for(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting: {what}")
        time.sleep(0.2)


def counting_client(url: str, deployment, account=None) -> tuple[RelayClient, CountingProvider]:
    w3 = connect(url)
    provider = CountingProvider(url)
    w3.provider = provider
    return RelayClient(w3, deployment, account), provider


@pytest.fixture
def chain():
    with LocalChain(accounts=8, block_time=1) as local:
        yield local


def test_reads_of_one_block_are_batched_read_once_and_events_come_from_one_get_logs(chain):
    w3 = connect(chain.url)
    deployment = deploy(w3, dev_account(0), genesis_owner=dev_account(1).address)
    plain = RelayClient(w3, deployment)
    client, rpc = counting_client(chain.url, deployment, dev_account(2))
    me = dev_account(2).address
    head = w3.eth.block_number

    client.snapshot(head)
    before = dict(rpc.calls), rpc.http_requests
    views = [("currentRound",), ("roundInfo", 0), ("trainerSlot", 0, me), ("offersOf", 0), ("creditOf", me),
             ("modelOf", 0)]
    assert client.prefetch(views)
    assert rpc.http_requests == before[1] + 1  # one HTTP request ...
    assert rpc.calls["eth_call"] == before[0].get("eth_call", 0) + len(views)  # ... of one call per view
    answers = (client.current_round(), client.round_info(0), client.trainer_slot(0, me), client.offers(0),
               client.credit_of(me), client.model(0), client.round_info(0))  # the last one read twice
    assert rpc.http_requests == before[1] + 1  # all answered from the batch
    assert answers == (plain.current_round(), plain.round_info(0), plain.trainer_slot(0, me), plain.offers(0),
                       plain.credit_of(me), plain.model(0), plain.round_info(0))
    assert not client.prefetch([("roundInfo", 7)])  # a view that reverts: nothing kept, read one by one
    # The relay's events of every block so far, in one eth_getLogs; then answered without a call.
    logs_before = rpc.calls.get("eth_getLogs", 0)
    new = client.index_events(head)
    assert rpc.calls["eth_getLogs"] == logs_before + 1
    assert [e["event"] for e in new] == ["ModelAccepted", "PhaseStarted"]
    assert client.events("PhaseStarted") == plain.events("PhaseStarted")
    assert client.events("ModelAccepted", round=0, modelId=0) == plain.events("ModelAccepted", round=0, modelId=0)
    assert rpc.calls["eth_getLogs"] == logs_before + 1

    # A transaction of its own: what it read is forgotten, and events come from the chain
    # again until the next block is indexed (its own KeyRegistered is there at once).
    client.register_key(b"\x07" * 32)
    assert client.public_key_of(me) == b"\x07" * 32
    assert [e["account"] for e in client.events("KeyRegistered")] == [me]
    client.end_snapshot()
    later = client.index_events(w3.eth.block_number)
    assert [e["event"] for e in later] == ["KeyRegistered"]
    assert client.events("KeyRegistered", account=me) == plain.events("KeyRegistered", account=me)
    assert client.events("KeyRegistered", account=dev_account(3).address) == []


def test_transactions_carry_known_gas_limits_and_a_low_one_says_so_and_changes_nothing(chain, monkeypatch):
    w3 = connect(chain.url)
    deployment = deploy(w3, dev_account(0), genesis_owner=dev_account(1).address)
    client, rpc = counting_client(chain.url, deployment, dev_account(2))
    receipt = client.register_key(b"\x01" * 32)
    assert "eth_estimateGas" not in rpc.calls
    assert w3.eth.get_transaction(receipt["transactionHash"])["gas"] == GAS_LIMITS["registerKey"]
    # Limits that grow with the round: one stored score per slot, one logged envelope per evaluator.
    assert gas_limit(client.relay.functions.reveal(0, [1] * 64, b"\x00" * 32)) == 200_000 + 64 * 30_000
    assert gas_limit(client.relay.functions.submit(0, 0, b"\x00" * 32, "Qm", [b"\x01"] * 16)) == 300_000 + 16 * 20_000
    assert gas_limit(client.relay.functions.settle()) is None  # heavy: half a block (RelayClient)

    monkeypatch.setitem(GAS_LIMITS, "registerKey", 25_000)  # below what it costs
    with pytest.raises(DeRelayLError, match="ran out of gas at its limit of 25000"):
        client.register_key(b"\x02" * 32)
    assert client.public_key_of(dev_account(2).address) == b"\x01" * 32  # unchanged


def test_closers_take_turns_in_an_order_everyone_computes_alike():
    relay = "0x" + "ab" * 20
    accounts = [dev_account(i).address for i in range(10)]
    for r, phase in [(0, Phase.BIDDING), (3, Phase.REVEALING)]:
        ranks = [closer_rank(relay, r, phase, a, accounts) for a in accounts]
        assert sorted(ranks) == list(range(10))  # one turn each
        assert ranks == [closer_rank(relay, r, phase, a, list(reversed(accounts))) for a in accounts]
    orders = {tuple(closer_rank(relay, r, p, a, accounts) for a in accounts) for r in range(4) for p in Phase}
    assert len(orders) > 1  # not always the same participant first
    assert closer_rank(relay, 0, Phase.BIDDING, accounts[0], []) == 0  # alone: first


def test_an_idle_participant_costs_one_get_logs_per_block_whatever_it_polls_and_others_do(
        chain, ipfs_node, tmp_path):
    """An evaluator stakes (one batched look and one transaction without a gas
    estimate), then waits out a long Bidding phase that can already rank (an offer and
    a bid came first): each new block costs it one eth_getLogs and its polls one
    eth_blockNumber each, and a bid by someone else (an event that does not name it)
    makes it read nothing more. (In a Bidding phase that could rank nothing yet, a bid
    wakes it: test_readme.py.)"""
    w3 = connect(chain.url)
    evaluator_account, bidder, first_bidder = dev_account(3), dev_account(4), dev_account(5)
    deployment = deploy_task(w3, dev_account(0), TASK, IpfsStore(ipfs_node.api), entry_point="digits-mlp",
                             params=DEFAULT_PARAMS.replace(quorum=1, min_price=0),  # Bidding lasts 300 s
                             genesis_owner=dev_account(1).address,
                             allocations={a.address: 100 * TOKEN for a in (evaluator_account, bidder, first_bidder)})
    for who, act in ((dev_account(1), lambda c: c.offer(0, 0)), (first_bidder, lambda c: c.bid(0, TOKEN))):
        joiner = RelayClient(w3, deployment, who)
        joiner.register_key(b"\x07" * 32)
        act(joiner)
    config = ParticipantConfig(role="evaluator", state_dir=tmp_path / "evaluator", poll_interval=0.25)
    agent = Participant(config, deployment, evaluator_account, IpfsStore(ipfs_node.api),
                        TASK.example_data().subset(slice(0, 300)), log=lambda message: None)
    client = RelayClient(w3, deployment)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, kwargs={"stop": stop.is_set}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: client.evaluator_state(0, evaluator_account.address).staked, 60, "the evaluator stakes")
        assert "eth_estimateGas" not in agent.rpc.calls
        staked_at = client.events("EvaluatorStaked")[0]["blockNumber"]
        wait_for(lambda: (agent.client.indexed_through or 0) > staked_at, 30, "the loop sees its stake")
        seen = agent.client.indexed_through
        # The loop is past the look its own stake's event asked for once it indexes a later block.
        wait_for(lambda: agent.client.indexed_through > seen, 30, "the loop indexes the next block")
        calls, first = dict(agent.rpc.calls), agent.client.indexed_through
        other = RelayClient(w3, deployment, bidder)
        other.register_key(b"\x09" * 32)
        bid_block = other.bid(0, TOKEN)["blockNumber"]
        wait_for(lambda: agent.client.indexed_through >= max(first + 8, bid_block + 1), 60, "eight more blocks")
        stop.set()
        thread.join(30)
        blocks = agent.client.indexed_through - first
        spent = {m: n - calls.get(m, 0) for m, n in agent.rpc.calls.items() if n != calls.get(m, 0)}
        # Nothing else: no view read, no transaction (the refresh comes every 30 blocks).
        assert set(spent) <= {"eth_blockNumber", "eth_getLogs"}, spent
        assert 1 <= spent["eth_getLogs"] <= blocks  # one per new block (several blocks at once after a lag)
        assert spent["eth_blockNumber"] >= spent["eth_getLogs"]  # each poll costs one call, new block or not
        assert client.round_info(0).phase == Phase.BIDDING and client.round_info(0).bid_count == 2
    finally:
        stop.set()
        thread.join(30)
    record = (tmp_path / "evaluator" / "rpc.json").read_text()
    assert '"loop_total"' in record and '"eth_estimateGas"' not in record


@pytest.mark.parametrize("args, words", [
    (["--evaluators", "2", "--quorum", "3"], ["quorum = 3 needs at least 3 evaluators, not 2"]),
    (["--quorum", "0"], ["quorum must be a whole number of at least 1, not 0"]),
    (["--trainers", "1"], ["trainers = 1", "at least 2"]),
])
def test_demo_refuses_counts_it_cannot_run_in_one_line(args, words):
    result = subprocess.run([sys.executable, "-m", "derelayl.cli", "demo", *args], capture_output=True, text=True,
                            timeout=120)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error:")]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(errors) == 1 and all(w in errors[0] for w in words), result.stderr
