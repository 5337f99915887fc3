"""Differential test: random scenarios played on the contracts and on `RelayProtocol`.

Each scenario draws its parameters (k, selection share, caps, quorum, stake,
tolerance), 3 to 8 participants with random genesis allocations, and 1 to 8 rounds of
random behaviour: who bids and how much (sometimes more than it has), which MOs offer
and at what price, who stakes to evaluate, who reclaims a stake the draw left out
(and who tries without one), which MOs deliver keys, who offers the
models and couriers the keys of owners that did not (or whose key, the trainer says,
fails: it asks with requestKey), who couriers or asks too late, which trainers submit, what evaluators score (often
tied), who commits and who reveals, who reclaims, claims and withdraws. Every action goes to the contract (one of 8 deployments with
drawn parameters on the test run's Ganache, reverted to its fresh state before each
scenario) and to the plain-Python rules; both must succeed or both refuse
with the same custom error. At the end of each scenario both must hold identical
state: the accepted models and their parents, layers, creators and scores; every
address's wallet balance and withdrawable credit; every model's claimable lineage
reward; the locked total.

Transactions go to the node as plain JSON-RPC (`RawRelay`) with a fixed gas limit (no
estimate), which keeps 100 scenarios within about 3 minutes (`make fuzz` plays 1,000).
DERELAYL_DIFF_SCENARIOS and DERELAYL_DIFF_SEED change the count and the seed.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import requests
from brownie import accounts, chain, web3
from eth_utils import keccak
from web3.logs import DISCARD

from derelayl import TEST_PARAMS, SCORE_SCALE, TOKEN, ProtocolRevert, RelayProtocol
from derelayl.chain import ErrorDecoder
from derelayl.protocol import MAX_BUNDLE_LENGTH, Phase, SlotOutcome
from conftest import Views, read_views, report, revert_data
from scripts.deploy import GENESIS_CID, GENESIS_HASH, deploy

SCENARIOS = int(os.environ.get("DERELAYL_DIFF_SCENARIOS", "100"))
DEPLOYMENTS = 8  # parameter sets; each scenario reverts the chain to their fresh state
BASE_SEED = int(os.environ.get("DERELAYL_DIFF_SEED", "20261126"))
ENVELOPE = b"\x5e" * 80
GAS = 12_000_000
GAS_PRICE = 2 * 10**9  # explicit: no fee lookups per transaction


def draw_params(rng: random.Random):
    max_evaluators = rng.choice([1, 2, 3])
    # Durations 0: the scenarios close every phase at once (the model's clock never moves).
    return TEST_PARAMS.replace(
        k=rng.choice([1, 2, 3]), selection_permille=rng.choice([250, 500, 500, 1000]),
        max_trainers=rng.choice([3, 6]), max_evaluators=max_evaluators,
        quorum=min(max_evaluators, rng.choice([1, 1, 2])),
        evaluator_stake=rng.choice([0, 0, TOKEN]), evaluator_reward=TOKEN // 100, lineage_reward=TOKEN,
        score_tolerance=rng.choice([0, 50_000]), min_price=rng.choice([0, 0, TOKEN // 10]),
        score_floor=rng.choice([0, 0, 0, 400_000]), floor_margin=rng.choice([SCORE_SCALE] * 3 + [100_000]),
        fallback_rounds=rng.choice([0, 1, 2]),
    )


class RawRelay:
    """A contract's transactions as plain JSON-RPC on one HTTP session: calldata encoded
    with precomputed selectors (conftest's `Views`), one eth_sendTransaction, and the
    receipt. Through web3's contract functions each transaction cost as much client CPU
    as node CPU (the ABI looked up and validated on every call, the proxy settings read
    for every request); the node sees the same transactions either way."""

    def __init__(self, contract, decoder: ErrorDecoder) -> None:
        self.address = contract.address
        self.views = Views(contract)
        self.decoder = decoder
        self.endpoint = web3.provider.endpoint_uri
        self.session = requests.Session()
        self.session.trust_env = False  # a local node: no proxy settings to read per request
        self.contract = web3.eth.contract(address=contract.address, abi=contract.abi)

    def rpc(self, method: str, params: list) -> dict:
        """The node's whole answer: {"result": ...} or {"error": ...}."""
        return self.session.post(self.endpoint, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                      "params": params}, timeout=60).json()

    def transact(self, sender: str, name: str, args: tuple) -> tuple[dict | None, str | None]:
        """Sends relay.<name>(*args) from `sender`: (its receipt, None) when it succeeded,
        (None, the custom error's name) when it reverted."""
        (_, (call, _)), _ = self.views.request(name, *args)
        call = {**call, "from": sender}
        answer = self.rpc("eth_sendTransaction", [{**call, "gas": hex(GAS), "gasPrice": hex(GAS_PRICE)}])
        if "error" in answer:
            # This Ganache reports a revert on the RPC response without its data; a
            # reverted transaction changed nothing, so the call replays it exactly.
            return None, self.replayed_error(name, args, call, "latest", answer["error"])
        deadline = time.monotonic() + 60
        # Ganache mines before it answers; Anvil answers first and mines just after, so
        # wait for the receipt (else the next call can read the state before it).
        while (receipt := self.rpc("eth_getTransactionReceipt", [answer["result"]]).get("result")) is None:
            assert time.monotonic() < deadline, f"{name}{args}: no receipt within 60 s"
            time.sleep(0.005)
        if int(receipt["status"], 16) != 1:
            return None, self.replayed_error(name, args, call, hex(int(receipt["blockNumber"], 16) - 1), None)
        return receipt, None

    def replayed_error(self, name: str, args: tuple, call: dict, block: str, first) -> str:
        """The custom error of a replay of `call` as an eth_call at `block`."""
        answer = self.rpc("eth_call", [call, block])
        assert "error" in answer, f"{name}{args}: refused ({first}), but its replay succeeds"
        return self.revert_name(answer["error"])

    def revert_name(self, error: dict) -> str:
        """The name of the custom error in the node's error payload (conftest's `revert_data`)."""
        reason = revert_data(error)
        decoded = self.decoder.decode(bytes.fromhex(reason[2:])) if reason else None
        if decoded is not None:
            return decoded.name
        raise AssertionError(f"a revert without a decodable custom error: {error}")

    def event(self, receipt: dict, name: str) -> dict:
        """The arguments of the first `name` event of the transaction of `receipt`, decoded
        by web3 (one receipt a round is read through it)."""
        formatted = web3.eth.get_transaction_receipt(receipt["transactionHash"])
        return self.contract.events[name]().process_receipt(formatted, errors=DISCARD)[0]["args"]


class Deployment:
    """One contract deployment with drawn parameters: 8 participants with drawn
    genesis allocations, keys registered and the relay approved to pull wallet tokens.
    Every scenario on it starts from this state (the chain is reverted to it)."""

    def __init__(self, rng: random.Random, merge_horizon: int = 0):
        self.params = draw_params(rng)
        self.merge_horizon = merge_horizon  # above 0: a MergeRelayLearning (test_differential_merge.py)
        self.people = [a.address for a in accounts[1:9]]
        self.allocations = {a: rng.choice([0, TOKEN // 2, 3 * TOKEN, 20 * TOKEN, 20 * TOKEN]) for a in self.people}
        token, relay = deploy(accounts[0], self.params, self.people[0],
                              {a: v for a, v in self.allocations.items() if v}, merge_horizon=merge_horizon)
        self.relay = RawRelay(relay, ErrorDecoder([relay.abi, token.abi]))
        self.token = Views(token)
        for a in self.people:
            relay.registerKey(keccak(text=f"key:{a}"), {"from": a})
            token.approve(relay, 2**256 - 1, {"from": a})


class Scenario:
    """One scenario on one deployment and its model, driven by one random generator."""

    stats: Counter = Counter()

    def __init__(self, seed: int, deployment: Deployment):
        self.rng = rng = random.Random(seed)
        self.seed = seed
        self.params = deployment.params
        self.relay, self.token = deployment.relay, deployment.token
        self.everyone = deployment.people
        self.people = self.everyone[: rng.randint(3, 8)]  # the others only hold their allocation
        self.model = RelayProtocol(self.params, self.everyone[0], GENESIS_HASH, GENESIS_CID,
                                   {a: v for a, v in deployment.allocations.items() if v},
                                   chain_id=web3.eth.chain_id, contract=self.relay.address,
                                   merge_horizon=deployment.merge_horizon)
        for a in self.everyone:
            self.model.register_key(a, keccak(text=f"key:{a}"))
        self.trail: list = []

    # ------------------------------------------------------------ plumbing

    def act(self, sender: str, name: str, args: tuple, apply):
        """Sends relay.<name>(*args) from `sender` and applies `apply()` to the model;
        both succeed, or both refuse with the same error. Returns the receipt or None."""
        self.trail.append((name, sender[:8], args))
        receipt, chain_error = self.relay.transact(sender, name, args)
        model_error = None
        try:
            result = apply()
        except ProtocolRevert as exc:
            model_error, result = exc.name, None
        assert chain_error == model_error, (
            f"scenario {self.seed}: {name}{args} from {sender}: chain {chain_error}, model {model_error}\n"
            f"trail: {self.trail[-30:]}")
        self.stats[name if chain_error is None else f"{name}:{chain_error}"] += 1
        return (receipt, result) if chain_error is None else (None, None)

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def holdings(self, a: str) -> int:
        return self.model.credit.get(a, 0) + self.model.wallet.get(a, 0)

    # --------------------------------------------------------------- rounds

    def play_round(self) -> None:
        m, rng, r = self.model, self.rng, self.model.round
        rs = m.rounds[r]
        owners = m.owner_models.get(rs.parent_layer, {})
        for a in rng.sample(self.people, len(self.people)):
            if a in owners:
                if self.maybe(0.85):
                    price = rng.choice([0, TOKEN // 10, TOKEN, self.holdings(a) // max(self.params.k, 1) + 1])
                    self.act(a, "offer", (r, price), lambda a=a, p=price: m.offer(a, r, p))
            elif self.maybe(0.6):
                amount = rng.choice([0, 0, 1, TOKEN // 4, TOKEN, self.holdings(a), self.holdings(a), self.holdings(a) + 1])
                self.act(a, "bid", (r, amount), lambda a=a, x=amount: m.bid(a, r, x))
            elif self.maybe(0.7):
                self.act(a, "stakeEvaluator", (r,), lambda a=a: m.stake_evaluator(a, r))
        for model_id in m.layer_of(rs.parent_layer):  # a key holder (or anyone) offers a silent owner's model
            if model_id not in rs.offered and self.maybe(0.5):
                holders = m.key_holders_of(model_id)
                courier = rng.choice(holders) if holders and self.maybe(0.8) else rng.choice(self.people)
                self.act(courier, "courierOffer", (r, model_id),
                         lambda c=courier, i=model_id: m.courier_offer(c, r, i))
        pool = list(rs.evaluators)
        if pool and self.maybe(0.1):  # a staker wants its stake back before the draw
            self.act(pool[0], "reclaimStake", (r,), lambda: m.reclaim_stake(pool[0], r))
        # closeBidding's first step locks the round; the draw comes in the next block
        self.act(self.people[-1], "closeBidding", (), m.lock_bidding)
        if self.maybe(0.3):  # a late bid after the lock
            a = rng.choice(self.people)
            self.act(a, "bid", (r, 0), lambda: m.bid(a, r, 0))
        receipt, _ = self.act(self.people[-1], "closeBidding", (), lambda: None)
        m.close_bidding(bytes(self.relay.event(receipt, "BiddingClosed")["seed"]))
        self.stats["slots"] += len(rs.slots)
        [drawn] = read_views([self.relay.views.request("evaluatorsOf", r)])
        assert drawn == rs.evaluators, f"scenario {self.seed}: drawn evaluators"
        undrawn = [e for e in pool if e not in rs.evaluators]
        self.stats["evaluators drawn by lot"] += bool(undrawn)
        for e in undrawn:  # stakers left out take their stakes back, now or rounds later
            if self.maybe(0.5):
                self.act(e, "reclaimStake", (r,), lambda e=e: m.reclaim_stake(e, r))
        if self.maybe(0.3):  # anyone else (drawn, or never staked) tries too
            a = rng.choice(self.people)
            self.act(a, "reclaimStake", (r,), lambda: m.reclaim_stake(a, r))

        for i, s in enumerate(rs.slots):
            if self.maybe(0.85):
                owner = m.models[s.parent_id].creator
                if m.merging and not self.maybe(0.05):  # (now and then the plain relay's call, refused)
                    self.deliver_bundle(i)
                else:
                    self.act(owner, "deliverKey", (r, i, ENVELOPE),
                             lambda o=owner, i=i: m.deliver_key(o, r, i, ENVELOPE))
        for i, s in enumerate(rs.slots):  # a key holder (or anyone) couriers a withheld key, or one that fails
            if self.maybe(0.6 if not s.delivered else 0.15):
                if s.delivered and self.maybe(0.7):  # the trainer asks: the owner's key does not open the parent
                    self.act(s.trainer, "requestKey", (r, i), lambda t=s.trainer, i=i: m.request_key(t, r, i))
                if m.merging:
                    self.deliver_bundle(i)
                    continue
                holders = m.key_holders_of(s.parent_id)
                courier = rng.choice(holders) if holders and self.maybe(0.8) else rng.choice(self.people)
                self.act(courier, "courierKey", (r, i, ENVELOPE),
                         lambda c=courier, i=i: m.courier_key(c, r, i, ENVELOPE))
                self.stats["keys couriered after the owner delivered"] += s.delivered and s.couriered
        for i, s in enumerate(rs.slots):
            if (s.delivered or s.couriered) and self.maybe(0.85):
                h, cid = keccak(text=f"w:{self.seed}:{r}:{i}"), f"Qm{self.seed}r{r}s{i}"
                envelopes = [ENVELOPE] * len(rs.evaluators)
                if self.maybe(0.1):  # a lazy trainer first tries its parent's weights unchanged
                    lazy = m.models[s.parent_id].weights_hash
                    self.act(s.trainer, "submit", (r, i, lazy, cid, envelopes),
                             lambda t=s.trainer, i=i, h=lazy, c=cid, e=envelopes: m.submit(t, r, i, h, c, e))
                self.act(s.trainer, "submit", (r, i, h, cid, envelopes),
                         lambda t=s.trainer, i=i, h=h, c=cid, e=envelopes: m.submit(t, r, i, h, c, e))
        if rs.slots and self.maybe(0.5):  # a late courier or request: often after the submission, by anyone
            submitted = [i for i, s in enumerate(rs.slots) if s.submitted]
            i = rng.choice(submitted) if submitted and self.maybe(0.7) else rng.randrange(len(rs.slots))
            if m.merging:
                self.deliver_bundle(i)
            else:
                holders = m.key_holders_of(rs.slots[i].parent_id)
                courier = rng.choice(holders) if holders and self.maybe(0.8) else rng.choice(self.people)
                self.act(courier, "courierKey", (r, i, ENVELOPE),
                         lambda c=courier, i=i: m.courier_key(c, r, i, ENVELOPE))
            asker = rs.slots[i].trainer if self.maybe(0.5) else rng.choice(self.people)
            self.act(asker, "requestKey", (r, i), lambda a=asker, i=i: m.request_key(a, r, i))
        if rs.phase == Phase.TRAINING:
            self.act(self.people[0], "closeTraining", (), m.close_training)

        for i, s in enumerate(rs.slots):  # reclaims are allowed from the commit phase on
            # A couriered trainer that submitted tries too: its bid follows the outcome.
            if not s.delivered and (s.submitted or self.maybe(0.5)):
                self.act(s.trainer, "reclaimUndelivered", (r, i), lambda t=s.trainer, i=i: m.reclaim_undelivered(t, r, i))
        if undrawn and self.maybe(0.5):  # a staker left out of the draw tries to commit anyway
            self.act(undrawn[0], "commit", (r, b"\x01" * 32), lambda e=undrawn[0]: m.commit(e, r, b"\x01" * 32))
        revealing: dict[str, tuple[list[int], bytes]] = {}
        for e in list(rs.evaluators):
            if rs.phase == Phase.COMMITTING and self.maybe(0.85):
                base = rng.choice([0, 400_000, 700_000, SCORE_SCALE])
                scores = [min(SCORE_SCALE, base + rng.choice([0, 0, 30_000, 120_000])) for _ in rs.slots]
                salt = rng.randbytes(32)
                commitment = m.commitment_for(r, e, scores, salt)
                self.act(e, "commit", (r, commitment), lambda e=e, c=commitment: m.commit(e, r, c))
                revealing[e] = (scores, salt)
        if rs.phase == Phase.COMMITTING:
            self.act(self.people[1], "closeCommit", (), m.close_commit)
        for e, (scores, salt) in revealing.items():
            if self.maybe(0.85):
                self.act(e, "reveal", (r, scores, salt), lambda e=e, sc=scores, sa=salt: m.reveal(e, r, sc, sa))
        _, settlement = self.act(self.people[-1], "settle", (), m.settle)
        for outcome, _ in settlement.outcomes.values():
            self.stats[SlotOutcome(outcome).name] += 1
        self.stats["rounds"] += 1
        self.stats["fell back"] += settlement.carried_over and m.rounds[m.round].parent_layer != rs.parent_layer

        for past in range(r + 1):  # late reclaims of earlier draws, and one of a future round
            for e in sorted(m.rounds[past].undrawn):
                if self.maybe(0.3):
                    self.act(e, "reclaimStake", (past,), lambda e=e, p=past: m.reclaim_stake(e, p))
        if self.maybe(0.05):
            a = rng.choice(self.people)
            self.act(a, "reclaimStake", (r + 2,), lambda: m.reclaim_stake(a, r + 2))
        for a in self.people:  # claims and withdrawals between rounds
            if self.maybe(0.3) and len(m.models) > 1:
                model_id = rng.randrange(len(m.models))
                layers = rng.choice([1, 2, 64])
                self.act(a, "claim", (model_id, layers), lambda i=model_id, n=layers: m.claim(i, n))
            if self.maybe(0.2) and m.credit.get(a, 0):
                amount = rng.choice([1, m.credit[a] // 2 + 1, m.credit[a], m.credit[a] + 1])
                self.act(a, "withdraw", (amount,), lambda a=a, x=amount: m.withdraw(a, x))

    def deliver_bundle(self, slot: int) -> None:
        """A merge relay's key bundle for `slot`: from a key holder of the parent layer
        (or anyone), now and then one byte too long."""
        m, rng, r = self.model, self.rng, self.model.round
        holders = m.bundle_holders(m.rounds[r].parent_layer)
        sender = rng.choice(holders) if holders and self.maybe(0.8) else rng.choice(self.people)
        envelope = b"\x5e" * (MAX_BUNDLE_LENGTH + 1) if self.maybe(0.05) else ENVELOPE
        self.act(sender, "deliverBundle", (r, slot, envelope),
                 lambda: m.deliver_bundle(sender, r, slot, envelope))

    # ----------------------------------------------------------------- end

    def assert_identical(self) -> None:
        m = self.model
        where = f"scenario {self.seed}"
        relay, token = self.relay.views, self.token
        requests = [relay.request("currentRound"), relay.request("modelCount"), relay.request("layerCount"),
                    relay.request("roundInfo", m.round), relay.request("totalLocked"),
                    token.request("balanceOf", self.relay.address)]
        for layer in range(len(m.layers)):
            requests += [relay.request("layerOf", layer), relay.request("childStartOf", layer)]
        for model in m.models:
            requests += [relay.request("modelOf", model.model_id), relay.request("claimable", model.model_id, 1000)]
        for a in self.everyone:
            requests += [relay.request("creditOf", a), token.request("balanceOf", a)]
        figures = iter(read_views(requests))  # the whole state, one JSON-RPC batch
        current, models, layers, info, locked, balance = (next(figures) for _ in range(6))
        assert current == m.round and models == len(m.models) and layers == len(m.layers), where
        assert info[15] == m.rounds[m.round].stalled_rounds, f"{where}: stalled rounds"
        assert locked == m.locked and balance == m.contract_balance, where
        for layer in range(len(m.layers)):
            assert list(next(figures)) == m.layer_of(layer), f"{where}: layer {layer}"
            assert list(next(figures)) == m.child_start.get(layer, []), f"{where}: childStart {layer}"
        for model in m.models:
            on_chain, claimable = next(figures), next(figures)
            assert (on_chain[0], on_chain[1], on_chain[4], on_chain[6]) == (
                model.parent_id, model.layer, model.creator, model.score), f"{where}: model {model.model_id}"
            assert tuple(claimable) == m.claimable(model.model_id, 1000), f"{where}: claimable of model {model.model_id}"
        for a in self.everyone:
            assert next(figures) == m.credit.get(a, 0), f"{where}: credit of {a}"
            assert next(figures) == m.wallet.get(a, 0), f"{where}: wallet of {a}"
        self.stats["models"] += len(m.models) - 1


def play_scenarios(master: random.Random, deployments: list[Deployment], count: int) -> dict:
    """Plays `count` scenarios, each on a deployment drawn by `master` and reverted to
    its fresh state, each ending in the identity check; returns the counted cases."""
    chain.snapshot()  # every scenario starts from all deployments fresh
    Scenario.stats.clear()
    for _ in range(count):
        chain.revert()
        scenario = Scenario(master.getrandbits(32), master.choice(deployments))
        for _ in range(scenario.rng.randint(1, 8)):
            scenario.play_round()
        scenario.assert_identical()
    return dict(sorted(Scenario.stats.items()))


def test_random_scenarios_end_in_identical_state():
    master = random.Random(BASE_SEED)
    stats = play_scenarios(master, [Deployment(master) for _ in range(DEPLOYMENTS)], SCENARIOS)
    report(f"{SCENARIOS} scenarios: {stats}")
    # The scenarios must reach the interesting cases, or they prove little.
    for case in ["ACCEPTED", "REJECTED", "NOT_SUBMITTED", "UNDELIVERED", "NO_QUORUM", "claim", "withdraw",
                 "reclaimUndelivered", "bid:ERC20InsufficientBalance", "claim:RelayNothingToClaim",
                 "evaluators drawn by lot", "commit:RelayNotEvaluator", "courierKey",
                 "courierKey:RelayNotKeyHolder", "courierKey:RelayAlreadySubmitted", "requestKey",
                 "requestKey:RelayNotSlotTrainer", "requestKey:RelayAlreadySubmitted",
                 "keys couriered after the owner delivered", "reclaimUndelivered:RelayAlreadySubmitted", "courierOffer",
                 "courierOffer:RelayNotKeyHolder", "courierOffer:RelayOwnersStillActive", "reclaimStake",
                 "reclaimStake:RelayEvaluatorDrawn", "reclaimStake:RelayNotEvaluator", "reclaimStake:RelayWrongPhase",
                 "reclaimStake:RelayWrongRound", "submit:RelayUnchangedWeights", "offer:RelayPriceTooLow",
                 "bid:RelayBiddingLocked", "fell back"]:
        assert stats.get(case, 0) > 0, f"no {case} in {SCENARIOS} scenarios"
    assert stats["models"] >= SCENARIOS // 2  # lineages exist to compare
