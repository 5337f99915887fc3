"""Shared fixtures: role accounts, a deployment per module, and rounds set up to a phase.

Every test runs in isolation (brownie snapshots the chain before each test and
reverts after it). Reverts are checked by the contract's custom error name.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import brownie
import pytest
from hypothesis import Phase
from brownie import accounts, chain, web3
from eth_abi import decode as abi_decode, encode as abi_encode
from eth_utils import function_abi_to_4byte_selector, keccak, to_checksum_address

from derelayl import TEST_PARAMS, TOKEN
from derelayl.transactions import _abi_type  # the ABI type string of an input or output (tuples spelled out)
from scripts.deploy import deploy
from scripts.receipts import wait_for_receipts
from scripts.relay import close_bidding  # noqa: F401 - the tests' two-step close

wait_for_receipts()  # brownie on Anvil could call a mined transaction dropped (scripts/receipts.py)

ENVELOPE = b"\x5e" * 80
# Durations 0 (TEST_PARAMS): every phase may be closed at once, which the unit tests rely
# on to play rounds without waiting; tests of the deadlines set their own (timed_relay).
UNIT_PARAMS = TEST_PARAMS.replace(k=2, max_trainers=6, max_evaluators=3, quorum=1)


REPORT = Path(__file__).resolve().parent.parent / "build" / "test-report.txt"


def report(line: str) -> None:
    """Prints a figure of this run (what a long test covered) and appends it to
    build/test-report.txt, which `make test` shows at its end: output of tests on
    xdist workers is not shown."""
    print(f"\n{line}")
    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a") as out:
        out.write(line + "\n")


class Views:
    """Many view calls in one JSON-RPC batch: `read_views([views.request("creditOf", a),
    ...])` returns their results in order. The calldata is encoded here with eth_abi: web3's
    contract functions looked the function up in the whole ABI on every call (1.75 ms
    of the 3 ms each cost the stateful walk's checks on the Python side), and through
    brownie each call was also one HTTP request (about 6 ms in all)."""

    def __init__(self, contract) -> None:
        self.address = contract.address
        self.functions = {}
        for item in contract.abi:
            if item.get("type") == "function":
                self.functions[item["name"]] = (
                    function_abi_to_4byte_selector(item), [_abi_type(i) for i in item["inputs"]], item["outputs"])

    def request(self, name: str, *args):
        selector, inputs, outputs = self.functions[name]
        data = "0x" + (selector + abi_encode(inputs, list(args))).hex()
        return ("eth_call", [{"to": self.address, "data": data}, "latest"]), outputs


def read_views(requests: list) -> list:
    """Sends `Views.request` pairs in one batch; each result decoded (one value, or a tuple)."""
    if not requests:
        return []
    answers = web3.provider.make_batch_request([request for request, _ in requests])
    assert isinstance(answers, list), f"the batch failed: {answers}"
    results = []
    for answer, (_, outputs) in zip(answers, requests):
        assert "result" in answer, f"a view call failed: {answer}"
        values = abi_decode([_abi_type(o) for o in outputs], bytes.fromhex(answer["result"][2:]))
        values = tuple(_checksummed(o, v) for o, v in zip(outputs, values))
        results.append(values[0] if len(values) == 1 else values)
    return results


def _checksummed(item: dict, value):
    """`value` of ABI `item` with its addresses checksummed, as web3 and brownie give them."""
    kind = item["type"]
    if kind.endswith("[]"):
        return [_checksummed({**item, "type": kind[:-2]}, v) for v in value]
    if kind == "address":
        return to_checksum_address(value)
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(item["components"], value))
    return value


def reverts(error_name: str):
    """Expects a revert with the custom error `error_name` (any arguments)."""
    return brownie.reverts(revert_pattern=rf"{error_name}(: .*)?")


def key_of(account) -> bytes:
    return keccak(text=f"key:{account.address}")


def weights_hash(tag) -> bytes:
    return keccak(text=f"weights:{tag}")


def cid_of(tag) -> str:
    return "Qm" + keccak(text=f"cid:{tag}").hex()[:44]


def submitted_cids(relay, round: int, slot: int) -> list[str]:
    """The CIDs of the ModelSubmitted events of (round, slot): the only record of a CID."""
    events = web3.eth.contract(relay.address, abi=relay.abi).events
    return [log["args"]["cid"] for log in events.ModelSubmitted.get_logs(
        from_block=0, argument_filters={"round": round, "slot": slot})]


# Files that mostly wait for real-time phases (1-second blocks, phase deadlines) and use
# a fifth of a core: make test runs them one after the other on one worker (one unit of
# work for xdist, pytest_xdist_make_scheduler below), while the other two workers keep
# both cores busy with the files that compute. Run side by side on two workers, they
# left a core idle for as long as they overlapped (1.3 busy cores of 2 for 150 s).
REAL_TIME_FILES = (
    "tests/sdk/test_participant.py",
    "tests/sdk/test_merge_participants.py",
)

# The slowest files, slowest first (seconds of wall time in a make test run on 3
# workers, 2026-12-03): make test runs the files on several xdist workers
# (tools/test-all.sh), and starting the long ones first keeps one of them from
# starting last and running alone. The real-time files come first: they take the
# longest together.
SLOWEST_FILES = (
    *REAL_TIME_FILES,  # 403 and 145
    "tests/integration/test_differential.py",  # 171
    "tests/unitary/RelayLearning/test_limits.py",  # 106
    "tests/sdk/test_install.py",  # 111
    "tests/integration/test_differential_merge.py",  # 81
    "tests/integration/test_relay_scenario.py",  # 74
    "tests/stateful/test_relay_state.py",  # 74
    "tests/stateful/test_merge_relay_state.py",  # 73
    "tests/sdk/test_readme.py",  # 73
    "tests/sdk/test_relays.py",  # 64
    "tests/unitary/RelayLearning/test_bidding.py",  # 64
    "tests/sdk/test_cli.py",  # 58
    "tests/sdk/test_examples.py",  # 50
)


@pytest.hookimpl(tryfirst=True)  # before brownie's own (xdist's loadfile)
def pytest_xdist_make_scheduler(config, log):
    """make test's scheduling (tools/test-all.sh): a worker takes a whole file at a time,
    as with xdist's loadfile, so that a module's deployment serves all its tests; the
    REAL_TIME_FILES are one unit, run in turn by one worker."""
    from xdist.scheduler import LoadFileScheduling

    class RealTimeFilesTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return "real-time files" if path in REAL_TIME_FILES else path

    return RealTimeFilesTogether(config, log)


CPU_PROFILE = os.environ.get("DERELAYL_CPU_PROFILE")  # a path: one JSON line per test


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With DERELAYL_CPU_PROFILE=FILE, appends one JSON line per test: its wall time, the
    CPU seconds of this worker, of its finished child processes (participants, nodes,
    pip) and of this worker's chain (brownie's Ganache or Anvil). docs/testing.md's
    profile sums them per file (tools/cpu-profile.py)."""
    if not CPU_PROFILE:
        yield
        return
    import json
    import resource
    import time

    from brownie.network import rpc

    def chain_cpu() -> float:
        try:
            times = rpc.process.cpu_times()
            return times.user + times.system
        except Exception:  # noqa: BLE001 - no chain launched by this worker
            return 0.0

    def usage(who) -> float:
        u = resource.getrusage(who)
        return u.ru_utime + u.ru_stime

    start = time.time()
    before = time.monotonic(), usage(resource.RUSAGE_SELF), usage(resource.RUSAGE_CHILDREN), chain_cpu()
    yield
    after = time.monotonic(), usage(resource.RUSAGE_SELF), usage(resource.RUSAGE_CHILDREN), chain_cpu()
    wall, worker, children, chain_seconds = (round(b - a, 2) for a, b in zip(before, after))
    with open(CPU_PROFILE, "a") as out:
        out.write(json.dumps({"test": item.nodeid, "wall": wall, "worker": worker, "children": children,
                              "chain": chain_seconds, "pid": os.getpid(), "start": round(start, 2)}) + "\n")


def pytest_collection_modifyitems(items):
    """Runs the slowest files first (a stable sort: the rest keep their order)."""
    rank = {path: i for i, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="module", autouse=True)
def frozen_heap():
    """Moves every object alive at the start of a module out of the garbage collector's
    reach (gc.freeze). brownie runs a full gc.collect() on every chain revert (to drop
    dead objects from its revert registry), and the collector walked the 158,000
    objects of brownie, web3 and torch each time: 60 of the 70 ms a revert cost, and
    every unit test reverts twice. What a module creates is still collected; its
    leftovers are collected before the next module freezes."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def lean_web3():
    """brownie's web3 without three client-side middlewares a dev chain has no use for:
    `validation` asked the node for its chain id twice for every call and transaction
    (a stateful walk sent 16,413 eth_chainId requests beside 7,883 eth_calls and 323
    transactions); `gas_price_strategy` asked for the gas price and the latest block
    before every transaction, though brownie sets the gas price (brownie-config.yaml);
    and the ENS lookup. The contracts see the same calls either way. Then
    `lean_brownie_transactions`."""
    for name in ("validation", "gas_price_strategy", "ens_name_to_address"):
        if name in web3.middleware_onion:
            web3.middleware_onion.remove(name)
    lean_brownie_transactions()


def lean_brownie_transactions() -> None:
    """What brownie 1.22 does for every transaction of a test that these tests never
    use, each a cost for both the worker and the node (a stateful walk, a file of
    unit tests and another side by side, on the same machine: 148 -> 133 s of wall
    time, the workers' CPU 51 -> 38 s, the node's 91 -> 85 s):
    - the HTTP session read the proxy settings and ~/.netrc for every request (7% of a
      walk's client CPU): a local node needs neither;
    - its undo buffer (`chain.undo()`, which no test calls) took an `evm_snapshot` and
      read the latest block after every transaction, in a thread of its own (brownie's
      `chain.time()` followed the node through it: sleep_past_deadline reads the block);
    - a contract transaction printed its confirmation, into pytest's capture;
    - a reverted transaction was traced (`debug_traceTransaction` with memory, then
      expanded step by step in Python) to find its revert reason, which Ganache does
      not put in its error for a custom error. A reverted transaction changed nothing,
      so an `eth_call` of it at the latest block replays it exactly and returns the
      error's data; the trace stays for what the replay cannot name (and on Anvil,
      which reports a revert in the receipt only), and for a reverted deployment: the
      reverted transaction used its sender's nonce, so a replay at the latest block
      would create the contract at another address than the one the deployment was
      built for (a relay's token names its minter by that address)."""
    from brownie.exceptions import decode_typed_error
    from brownie.network.contract import ContractTx
    from brownie.network.state import Chain
    from brownie.network.transaction import TransactionReceipt

    web3.provider._request_session_manager.cache_and_return_session(web3.provider.endpoint_uri).trust_env = False
    Chain._add_to_undo_buffer = lambda self, tx, fn, args, kwargs: None
    # For a revert the confirmation's print asked for the trace too.
    ContractTx.__call__ = lambda self, *args, silent=True: self.transact(*args, silent=silent)
    traced = TransactionReceipt._raise_if_reverted

    def raise_if_reverted(receipt, exc) -> None:
        if receipt.status or exc is None or exc.revert_msg is not None or receipt.receiver is None:
            return traced(receipt, exc)
        sender = str(getattr(receipt.sender, "address", receipt.sender))  # an Account, or an address
        call = {"from": sender, "to": receipt.receiver, "data": receipt.input, "value": hex(receipt.value),
                "gas": hex(receipt.gas_limit)}
        reason = revert_data(web3.provider.make_request("eth_call", [call, "latest"]).get("error") or {})
        if reason is None:
            return traced(receipt, exc)
        raise exc._with_attr(source="", revert_msg=decode_typed_error(reason), dev_revert_msg=None)

    TransactionReceipt._raise_if_reverted = raise_if_reverted


def revert_data(error: dict) -> str | None:
    """The revert data ("0x<selector+arguments>") in a node's JSON-RPC error of a
    reverted call: Ganache's {"data": {"0x<hash>": {"reason": "0x..."}}}, Anvil's
    {"data": "0x..."}; None when the error carries none."""
    data = error.get("data") or {}
    for detail in ([{"reason": data}] if isinstance(data, str) else data.values()):
        reason = detail.get("reason") if isinstance(detail, dict) else None
        if isinstance(reason, str) and reason.startswith("0x"):
            return reason
    return None


STAGES = ("keyed", "matched", "delivered", "submitted", "committed", "revealed")


class ChainStages:
    """The chain states the unit fixtures build one on another (keys registered; round 0
    matched; keys delivered; models submitted; scores committed; revealed), kept as
    snapshots so that a test needing one reverts to it instead of sending its
    transactions again: a test of test_bidding used to send 17 registrations before its
    own few calls. The node deletes every snapshot taken after the one it reverts to, so
    the stages are a stack: before a test the stack is cut to the deepest stage the test
    asks for and the chain reverted to its top; the stage fixtures build what is missing
    on top (each followed by a snapshot); after the test the chain reverts to the top
    again. A stage is only kept if it was built on the top's state: when a test's own
    fixture sent transactions first, the stage is built for that test alone. The stack
    belongs to one module (its deployment): brownie resets the chain between modules."""

    def __init__(self):
        self.module = None
        self.stack: list[list] = []  # [stage, snapshot id, block height, fixture value]
        self.cacheable = True

    def begin(self, module, deepest: int) -> None:
        """Before a test whose deepest stage fixture is STAGES[deepest - 1] (0: none)."""
        if module is not self.module or not self.stack or web3.eth.block_number != self.stack[-1][2]:
            # a new module, or module fixtures sent transactions since: a new base
            self.module, self.stack = module, [["base", chain._take_snapshot(), web3.eth.block_number, None]]
        else:
            del self.stack[deepest + 1:]
            self.revert_to_top()
        self.cacheable = True

    def reach(self, stage: str, build):
        """The value of `stage`'s fixture: kept from an earlier test, or built now."""
        depth = STAGES.index(stage) + 1
        if len(self.stack) > depth and self.stack[depth][0] == stage:
            return self.stack[depth][3]
        if not self.cacheable or len(self.stack) != depth or web3.eth.block_number != self.stack[-1][2]:
            self.cacheable = False  # built on this test's own transactions: not kept
            return build()
        value = build()
        self.stack.append([stage, chain._take_snapshot(), web3.eth.block_number, value])
        return value

    def revert_to_top(self) -> None:
        """Back to the top stage's state (the node drops that snapshot: take it again)."""
        with chain._undo_lock:
            chain._undo_buffer.clear()
            chain._redo_buffer.clear()
            self.stack[-1][1] = chain._revert(self.stack[-1][1])


CHAIN_STAGES = ChainStages()


@pytest.fixture(autouse=True)
def isolation(request, module_isolation):
    """Every test starts from its module's deployment with the stages it asks for built
    (ChainStages), and what it sends is undone after it: brownie's fn_isolation, with
    the fixtures' states kept between tests."""
    deepest = max((STAGES.index(name) + 1 for name in request.fixturenames if name in STAGES), default=0)
    CHAIN_STAGES.begin(request.module, deepest)
    yield
    CHAIN_STAGES.revert_to_top()


@pytest.fixture(scope="session")
def deployer():
    return accounts[0]


@pytest.fixture(scope="session")
def genesis_owner():
    return accounts[1]


@pytest.fixture(scope="session")
def trainers():
    return accounts[2:14]


@pytest.fixture(scope="session")
def evaluators():
    return accounts[14:18]


@pytest.fixture(scope="session")
def outsider():
    return accounts[19]


@pytest.fixture(scope="module")
def params():
    return UNIT_PARAMS


@pytest.fixture(scope="module")
def deployment(deployer, genesis_owner, trainers, evaluators, params):
    allocations = {a: 100 * TOKEN for a in [genesis_owner, *trainers, *evaluators]}
    return deploy(deployer, params, genesis_owner, allocations)


@pytest.fixture(scope="module")
def token(deployment):
    return deployment[0]


@pytest.fixture(scope="module")
def relay(deployment):
    return deployment[1]


@pytest.fixture
def keyed(relay, genesis_owner, trainers, evaluators):
    """Everyone but the outsider has registered a key."""
    def build():
        for account in [genesis_owner, *trainers, *evaluators]:
            relay.registerKey(key_of(account), {"from": account})
    return CHAIN_STAGES.reach("keyed", build)


@pytest.fixture
def matched(relay, keyed, genesis_owner, trainers, evaluators):
    """Round 0 after matching: the genesis owner offered 1 token per trainer, trainers
    0..2 bid 3, 2 and 1 tokens (k = 2, so trainer 2 is unmatched), two evaluators."""
    def build():
        for e in evaluators[:2]:
            relay.stakeEvaluator(0, {"from": e})
        relay.offer(0, TOKEN, {"from": genesis_owner})
        for i, amount in enumerate([3, 2, 1]):
            relay.bid(0, amount * TOKEN, {"from": trainers[i]})
        close_bidding(relay, {"from": genesis_owner})
        return [relay.slotOf(0, i) for i in range(2)]
    return CHAIN_STAGES.reach("matched", build)


@pytest.fixture
def delivered(relay, matched, genesis_owner):
    def build():
        for slot in range(2):
            relay.deliverKey(0, slot, ENVELOPE, {"from": genesis_owner})
    return CHAIN_STAGES.reach("delivered", build)


@pytest.fixture
def submitted(relay, delivered, matched, trainers):
    """Both slots submitted: the round is in Committing."""
    def build():
        for slot, s in enumerate(matched):
            relay.submit(0, slot, weights_hash(slot), cid_of(slot), [ENVELOPE] * 2, {"from": s["trainer"]})
    return CHAIN_STAGES.reach("submitted", build)


class Scores:
    """Scores and salts of the round-0 evaluators, kept for reveal."""

    def __init__(self):
        self.scores = {}
        self.salts = {}


@pytest.fixture
def committed(relay, submitted, evaluators):
    """Both evaluators committed: slot 0 scores 0.9/0.8, slot 1 0.6/0.7."""
    def build():
        record = Scores()
        for e, scores in zip(evaluators[:2], [[900_000, 600_000], [800_000, 700_000]]):
            record.scores[e] = scores
            record.salts[e] = os.urandom(32)
            relay.commit(0, relay.commitmentFor(0, e, scores, record.salts[e]), {"from": e})
        return record
    return CHAIN_STAGES.reach("committed", build)


@pytest.fixture
def revealed(relay, committed, evaluators):
    def build():
        for e in evaluators[:2]:
            relay.reveal(0, committed.scores[e], committed.salts[e], {"from": e})
        return committed
    return CHAIN_STAGES.reach("revealed", build)


def fresh_accounts(n: int):
    """`n` new accounts funded with 1 ether each for gas (brownie's dev accounts are too
    few). The transfers go in one JSON-RPC batch: through brownie each cost about 20 ms
    of the test's CPU, and test_limits funds 170 accounts a relay."""
    created = [accounts.add() for _ in range(n)]
    funder = accounts[0].address
    transfer = {"from": funder, "value": hex(10**18), "gas": hex(21_000), "gasPrice": hex(2 * 10**9)}
    nonce = web3.eth.get_transaction_count(funder, "pending")  # explicit: Anvil gave a batch's items one nonce
    answers = web3.provider.make_batch_request([
        ("eth_sendTransaction", [{**transfer, "to": a.address, "nonce": hex(nonce + i)}])
        for i, a in enumerate(created)])
    assert isinstance(answers, list) and all("result" in a for a in answers), f"funding failed: {answers}"
    # One sender's transactions are mined in nonce order: the last receipt means all
    # (Anvil answers before it mines).
    assert web3.eth.wait_for_transaction_receipt(answers[-1]["result"], timeout=60)["status"] == 1
    return created


def sleep_past_deadline(relay):
    """Moves the chain's clock past the current phase's deadline (not back if it has
    passed already: Anvil refuses a negative evm_increaseTime) and mines a block. The
    clock is read from the latest block: brownie's `chain.time()` follows the node only
    through the undo buffer these tests turn off (lean_brownie_transactions)."""
    now = web3.eth.get_block("latest")["timestamp"]
    chain.sleep(max(0, int(relay.roundInfo(relay.currentRound())["deadline"]) - now + 1))
    chain.mine()


@pytest.fixture(scope="session")
def state_machine_settings():
    """Size of the stateful runs: `make test` plays a few hundred steps; `make fuzz`
    sets DERELAYL_FUZZ_EXAMPLES / DERELAYL_FUZZ_STEPS for long runs."""
    return {
        "max_examples": int(os.environ.get("DERELAYL_FUZZ_EXAMPLES", "4")),
        "stateful_step_count": int(os.environ.get("DERELAYL_FUZZ_STEPS", "150")),
        "deadline": None,
        # no shrinking: a walk is replayed from its seed, which the failure prints
        "phases": [Phase.explicit, Phase.reuse, Phase.generate],
        # `make test` replays the same walks every time; `make fuzz` draws new ones
        "derandomize": os.environ.get("DERELAYL_FUZZ_RANDOM", "0") != "1",
    }


def timed_relay(deployer, genesis_owner, trainer, evaluator, params, until: str, **durations):
    """A fresh deployment whose phases have the given durations (seconds), played to
    `until`: "bidding" (keys registered, one evaluator staked, one offer, one bid),
    "training" (bidding closed: one slot) or "committing" (key delivered, model submitted)."""
    from scripts.deploy import deploy

    from derelayl import TOKEN

    _, relay = deploy(deployer, params.replace(**durations), genesis_owner, {evaluator: 100 * TOKEN})
    for account in [genesis_owner, trainer, evaluator]:
        relay.registerKey(key_of(account), {"from": account})
    relay.stakeEvaluator(0, {"from": evaluator})
    relay.offer(0, 0, {"from": genesis_owner})
    relay.bid(0, 0, {"from": trainer})
    if until == "bidding":
        return relay
    close_bidding(relay, {"from": trainer})
    if until == "training":
        return relay
    relay.deliverKey(0, 0, ENVELOPE, {"from": genesis_owner})
    relay.submit(0, 0, weights_hash(0), cid_of(0), [ENVELOPE], {"from": trainer})
    assert until == "committing" and relay.roundInfo(0)["phase"] == 2
    return relay


@pytest.fixture(scope="session")
def ipfs_node():
    """A real IPFS daemon (js-ipfs, offline) on free ports, started and stopped by the run."""
    from derelayl.ipfs_node import IpfsNode

    with IpfsNode() as node:
        yield node


def assert_closes_only_after_deadline(relay, function: str, sender) -> None:
    """relay.<function>() reverts with RelayPhaseNotOver before the phase deadline and
    goes through once it has passed."""
    with reverts("RelayPhaseNotOver"):
        getattr(relay, function)({"from": sender})
    sleep_past_deadline(relay)
    if function == "closeBidding":
        close_bidding(relay, {"from": sender})  # lock, then draw
    else:
        getattr(relay, function)({"from": sender})
