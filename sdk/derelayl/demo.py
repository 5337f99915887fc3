"""The multi-process demo: a whole relay of a built-in task (digits by default).

Starts a local chain (Ganache, or Anvil) and an IPFS daemon, pins the task's genesis
model and task spec, deploys, and launches every participant as its own OS process (`derelayl
participant`), sharing nothing but the chain and IPFS. Trainers hold a Dirichlet
label-skewed share of the task's public data set; each evaluator holds its own test
split; a held-out set that no participant sees measures the best accepted model after
every round, beside the genesis model and a centralized-training reference. Prints a
table per round, writes plots and, with a JSON path, a machine-readable record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from derelayl import crypto
from derelayl.demo_config import MAX_EVALUATOR_SEATS, DemoConfig
from derelayl.localchain import LocalChain, dev_account
from derelayl.transactions import connect
from derelayl.client import RelayClient
from derelayl.errors import ConfigurationError, DeRelayLError
from derelayl.ipfs_node import IpfsNode
from derelayl.launch import deploy_task
from derelayl.merge import clipped_mean
from derelayl.params import DEFAULT_PARAMS, MERGE_SELECTION_PERMILLE, SCORE_SCALE, TOKEN
from derelayl.storage import IpfsStore
from derelayl.task import BUILTIN_TASKS, Dataset, Task, load_task
from derelayl.training import dirichlet_split
from derelayl.weights import load_weights


def demo_task(config: DemoConfig) -> Task:
    """The built-in task of `config`, its turn set to `config.epochs` local epochs."""
    if config.task not in BUILTIN_TASKS:
        raise ConfigurationError(f"the demo runs a built-in task ({', '.join(BUILTIN_TASKS)}), not {config.task!r}")
    task = load_task(config.task)
    return task.with_hyperparameters({**task.hyperparameters, "epochs": config.epochs})


def split_data(config: DemoConfig, data: Dataset):
    """held-out (20%), one test split per evaluator (10% each, or less for more than 3
    evaluators: together at most 30%), the rest over trainers."""
    y = data.labels
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(y))
    holdout = order[: len(y) // 5]
    rest = order[len(y) // 5 :]
    per_evaluator = len(y) // max(10, -(-config.evaluators * 10 // 3))
    evaluator_parts = [rest[i * per_evaluator : (i + 1) * per_evaluator] for i in range(config.evaluators)]
    training = rest[config.evaluators * per_evaluator :]
    trainer_parts = [training[p] for p in dirichlet_split(y[training], config.trainers, config.alpha, config.seed)]
    return holdout, trainer_parts, evaluator_parts


def reference_scores(task: Task, config: DemoConfig, data: Dataset, holdout, trainer_parts) -> dict[str, float]:
    """The task's metric on the held-out set of the genesis model, and of a model
    trained centrally on every trainer's data pooled (as many epochs as the relay's
    rounds give one trainer): the floor and the ceiling the relay sits between."""
    genesis = task.initial_model(config.seed)
    pooled = data.subset(np.concatenate(trainer_parts))
    central = task.initial_model(config.seed)
    task.with_hyperparameters({**task.hyperparameters, "epochs": config.epochs * config.rounds}).train(
        central, pooled, seed=config.seed)
    return {"genesis": task.evaluate(genesis, data.subset(holdout)),
            "centralized": task.evaluate(central, data.subset(holdout))}


def bidding_seconds(config: DemoConfig) -> int:
    """How long the demo's Bidding phase lasts: 10 s, or a second per participant
    process beyond 10. Every process must see the round open and send its bid, offer or
    stake (a transaction each) before it closes; in round 0 each has also just started
    (fetched the task spec, checked its task and data, registered its key), and 50 of
    them on 2 cores take longer than 10 of them. Bidding closes only at its deadline."""
    return max(10, config.trainers + config.evaluators)


def run_demo(config: DemoConfig, echo=print, progress: bool = True) -> dict:
    """Runs the demo of `config`; prints with `echo`; a tqdm bar shows the live phase.
    Returns the record (also written to `config.json_path`)."""
    config.validate()
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    task = demo_task(config)
    data = task.example_data()
    holdout, trainer_parts, evaluator_parts = split_data(config, data)
    # quorum 1 by default: the small demo's 2 evaluators are honest. A task open to
    # strangers ranks on SAFE_QUORUM (5) scores (docs/robustness.md): `--evaluators 5
    # --quorum 5`; docs/scale.md runs that with 45 trainers.
    params = DEFAULT_PARAMS.replace(k=4, max_trainers=32, max_evaluators=min(MAX_EVALUATOR_SEATS,
                                                                             max(8, config.evaluators)),
                                    quorum=config.quorum,
                                    bidding_duration=bidding_seconds(config), training_duration=120,
                                    commit_duration=60, reveal_duration=30)
    if config.merge_horizon:  # every ranked model above the floor (docs/merge.md)
        params = params.replace(selection_permille=MERGE_SELECTION_PERMILLE)
    # Blocks every second, so that block time (and phase deadlines) advance while nobody sends.
    with LocalChain(accounts=config.trainers + config.evaluators + 2, block_time=1, chain=config.chain) as chain, \
            IpfsNode() as node:
        w3 = connect(chain.url)
        store = IpfsStore(node.api)
        accounts = [dev_account(i + 1) for i in range(config.trainers + config.evaluators)]
        roles = ["trainer"] * config.trainers + ["evaluator"] * config.evaluators
        evaluators = accounts[config.trainers:]
        deployment_path = out / "deployment.json"
        deployment_path.unlink(missing_ok=True)

        # Participants start first and wait for the deployment, so round 0's bidding
        # clock starts when every process is ready.
        processes = []
        for i, (account, role) in enumerate(zip(accounts, roles)):
            indices = trainer_parts[i] if role == "trainer" else evaluator_parts[i - config.trainers]
            settings = {"role": role, "account_index": i + 1, "deployment": str(deployment_path.resolve()),
                        "ipfs_api": node.api, "seed": config.seed + i, "rounds": config.rounds, "threads": 1,
                        "wait_for_deployment": 600}
            # The task comes from the deployment's task spec; the genesis owner takes the
            # genesis key from the deployment file, which publishes it.
            folder = prepare_participant(out / "participants" / f"{role}{i}", settings, data.subset(indices))
            processes.append((account.address, role, start_participant(folder)))
        echo(f"{config.trainers} trainers and {config.evaluators} evaluators started as separate processes "
             f"(pids {', '.join(str(p.pid) for _, _, p in processes)}); waiting until they are ready")
        wait_until_ready([out / "participants" / f"{r}{i}" for i, r in enumerate(roles)],
                         [p for _, _, p in processes])
        # The genesis owner (trainer 0) owns the task's genesis model. Each trainer starts
        # with 10 DRL for its bids and, once accepted, its offers; each evaluator with 100
        # for its stakes (10 a round).
        deployment = deploy_task(w3, dev_account(0), task, store, entry_point=config.task, params=params,
                                 genesis_owner=accounts[0].address, seed=config.seed,
                                 merge_horizon=config.merge_horizon, allocations={a.address: (100 if a in evaluators else 10) * TOKEN for a in accounts})
        client = RelayClient(w3, deployment)
        deployment.save(deployment_path)
        contract = f"MergeRelayLearning (horizon {config.merge_horizon})" if config.merge_horizon else "RelayLearning"
        echo(f"{chain.name} {chain.url}, IPFS {node.api}, {contract} {deployment.relay}")
        started = time.time()

        record = {"participants": [{"address": a, "role": r, "pid": p.pid} for a, r, p in processes],
                  "config": {k: str(v) for k, v in asdict(config).items()}, "task": task.name,
                  "metric": task.metric, "rounds": []}
        names = {a: f"{r}{i}" for i, (a, r, _) in enumerate(processes)}
        seen = 0
        progress = progress and sys.stderr.isatty()  # a bar only where it can redraw in place
        bar = tqdm(total=config.rounds, unit="round", desc="relay", disable=not progress)
        say = bar.write if progress else echo
        try:
            while seen < config.rounds:
                for a, role, p in processes:
                    if p.poll() is not None and p.returncode != 0:
                        raise DeRelayLError(f"{names[a]} (pid {p.pid}) exited with {p.returncode}: "
                                            f"see {out / 'participants' / names[a] / 'log.txt'}")
                if client.current_round() <= seen:
                    info = client.round_info(seen)
                    bar.set_postfix_str(f"round {seen}: {info.phase.name.lower()}, {info.submitted_count}/"
                                        f"{info.slot_count} submitted, {info.revealed_count}/"
                                        f"{info.evaluator_count} revealed")
                    time.sleep(0.5)
                    continue
                row = round_report(client, seen, out, store, task, data.subset(holdout), names)
                row["phases"] = phase_check(client, seen, config.evaluators)
                row["participant_memory_mb"] = memory_mb([p for _, _, p in processes])
                record["rounds"].append(row)
                print_round(row, names, say, time.time() - started, task.metric)
                seen += 1
                bar.update(1)
            record["last_block"] = w3.eth.block_number
            record["deployment_block"] = deployment.block
        finally:
            bar.close()
            record["node_cpu_seconds"] = cpu_seconds(chain.process.pid)
            for _, _, p in processes:
                p.terminate()
            for _, _, p in processes:
                p.wait(30)
    record["wall_seconds"] = round(time.time() - started, 1)
    record["rpc"] = rpc_summary([out / "participants" / names[a] for a, _, _ in processes])
    record["summary"] = summary(record)
    record["reference"] = reference_scores(task, config, data, holdout, trainer_parts)
    echo(f"held-out {task.metric}: genesis {record['reference']['genesis']:.3f}, centralized training "
         f"{record['reference']['centralized']:.3f}")
    plot(record, names, out)
    if config.json_path:
        Path(config.json_path).write_text(json.dumps(record, indent=2) + "\n")
    echo(record["summary"]["line"])
    echo(f"done in {record['wall_seconds']} s; plots in {out}")
    return record


def phase_check(client: RelayClient, r: int, evaluators: int) -> dict:
    """Whether every participant did its part in round `r` (settled): every evaluator
    staked in Bidding (`evaluators` were launched; at most the seats are drawn), every
    drawn evaluator committed and revealed, every matched trainer got its key and
    submitted; and whether the round ranked (no slot ended NoQuorum). `missed` names
    each phase someone missed."""
    info = client.round_info(r)
    stakers = len(client.events("EvaluatorStaked", round=r))
    drawn = client.events("EvaluatorsDrawn", round=r)
    seats = drawn[-1]["seats"] if drawn else 0
    outcomes = [e["outcome"] for e in client.events("SlotSettled", round=r)]
    check = {"stakers": stakers, "seats": seats, "committed": info.committed_count, "revealed": info.revealed_count,
             "slots": info.slot_count, "submitted": info.submitted_count,
             "no_quorum": outcomes.count(2), "undelivered": outcomes.count(4), "not_submitted": outcomes.count(3),
             "ranked": info.slot_count > 0 and outcomes.count(2) == 0 and info.revealed_count >= client.params().quorum}
    missed = []
    if stakers < evaluators:
        missed.append(f"bidding: {evaluators - stakers} evaluator(s) did not stake")
    if info.committed_count < seats:
        missed.append(f"committing: {seats - info.committed_count} drawn evaluator(s) did not commit")
    if info.revealed_count < info.committed_count:
        missed.append(f"revealing: {info.committed_count - info.revealed_count} evaluator(s) did not reveal")
    if check["undelivered"]:
        missed.append(f"training: {check['undelivered']} slot(s) got no key")
    if check["not_submitted"]:
        missed.append(f"training: {check['not_submitted']} trainer(s) did not submit")
    check["missed"] = missed
    return check


def memory_mb(processes: list[subprocess.Popen]) -> dict | None:
    """The live `processes`' memory (MB): the largest resident size (RSS, shared
    libraries counted in each) and the total of their own pages (USS): what one more
    participant costs the machine. None without psutil (not a dependency of the SDK)."""
    try:
        import psutil
    except ImportError:
        return None
    rss, uss = [], []
    for p in processes:
        try:
            info = psutil.Process(p.pid).memory_full_info()
            rss.append(info.rss / 2**20)
            uss.append(info.uss / 2**20)
        except psutil.Error:
            pass
    return {"max_rss": round(max(rss), 1), "max_uss": round(max(uss), 1), "total_uss": round(sum(uss), 1)} \
        if rss else None


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) a process and its children used so far (None
    without psutil, which the SDK does not depend on)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return round(total, 1)
    except psutil.Error:
        return None


def rpc_summary(folders: list[Path]) -> dict:
    """The JSON-RPC calls each participant counted (its rpc.json): in its loop, per
    block it saw, by role, and by method over all participants."""
    per: dict[str, dict] = {}
    methods: dict[str, int] = {}
    for folder in folders:
        path = folder / "rpc.json"
        if not path.exists():
            continue
        rpc = json.loads(path.read_text())
        blocks = (rpc["last_block"] or 0) - (rpc["loop_first_block"] or 0)
        per[folder.name] = {"loop_calls": rpc["loop_total"], "http_requests": rpc["http_requests"], "blocks": blocks,
                            "calls_per_block": round(rpc["loop_total"] / blocks, 2) if blocks > 0 else None}
        for m, n in rpc["loop_calls"].items():
            methods[m] = methods.get(m, 0) + n
    rates = [v["calls_per_block"] for v in per.values() if v["calls_per_block"] is not None]
    by_role: dict[str, list[float]] = {}
    for name, v in per.items():
        if v["calls_per_block"] is not None:
            by_role.setdefault(name.rstrip("0123456789"), []).append(v["calls_per_block"])
    return {"per_participant": per, "by_method": dict(sorted(methods.items(), key=lambda kv: -kv[1])),
            "mean_calls_per_block": round(sum(rates) / len(rates), 2) if rates else None,
            "max_calls_per_block": max(rates) if rates else None,
            "mean_calls_per_block_by_role": {role: round(sum(v) / len(v), 2) for role, v in by_role.items()}}


def summary(record: dict) -> dict:
    """Whether every round ranked and nobody missed a phase, in one line too."""
    rounds = record["rounds"]
    ranked = sum(1 for row in rounds if row["phases"]["ranked"])
    missed = [f"round {row['round']}: {m}" for row in rounds for m in row["phases"]["missed"]]
    rpc = record.get("rpc", {})
    line = (f"{ranked} of {len(rounds)} rounds ranked; "
            f"{'no missed phase' if not missed else 'missed: ' + '; '.join(missed)}; "
            f"JSON-RPC calls per participant per block: mean {rpc.get('mean_calls_per_block')}, "
            f"max {rpc.get('max_calls_per_block')}; node CPU {record.get('node_cpu_seconds')} s")
    return {"rounds_ranked": ranked, "every_round_ranked": ranked == len(rounds), "missed": missed,
            "no_missed_phase": not missed, "line": line}


def prepare_participant(folder: Path, settings: dict, data: Dataset) -> Path:
    """A fresh state folder for `derelayl participant`: its settings and its data."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    np.savez(folder / "data.npz", features=data.features, labels=data.labels)
    (folder / "participant.json").write_text(json.dumps(settings, indent=2))
    return folder


def start_participant(folder: Path, append: bool = False) -> subprocess.Popen:
    """Starts `derelayl participant` on `folder` as its own OS process, its output in
    folder/log.txt (appended to, for a restart)."""
    with open(folder / "log.txt", "a" if append else "w") as log:
        return subprocess.Popen([sys.executable, "-m", "derelayl.cli", "participant", "--state-dir", str(folder)],
                                stdout=log, stderr=subprocess.STDOUT)


def wait_until_ready(folders: list[Path], processes: list[subprocess.Popen], timeout: float = 600) -> None:
    """Waits until every participant has written its `ready` file (imports done)."""
    deadline = time.time() + timeout
    while not all((f / "ready").exists() for f in folders):
        if any(p.poll() is not None for p in processes):
            raise DeRelayLError(f"a participant exited at start: see the logs in {folders[0].parent}")
        if time.time() > deadline:
            raise DeRelayLError(f"participants not ready after {timeout} s: see the logs in {folders[0].parent}")
        time.sleep(0.5)


def model_key_of(out: Path, creator_name: str, cid: str) -> bytes | None:
    """The harness (not the protocol) reads a creator's key from its state folder to
    measure held-out accuracy."""
    state = out / "participants" / creator_name / "state.json"
    if not state.exists():
        return None
    for mine in json.loads(state.read_text())["rounds"].values():
        if mine.get("cid") == cid:
            return bytes.fromhex(mine["key"])
    return None


def round_report(client: RelayClient, r, out, store, task: Task, holdout: Dataset, names) -> dict:
    accepted = [{"model_id": e["modelId"], "parent_id": e["parentId"], "trainer": e["creator"],
                 "score": e["score"] / SCORE_SCALE}
                for e in client.events("ModelAccepted", round=r) if e["modelId"] != 0]
    def opened(model: dict):
        cid = client.cid_of(model["model_id"])
        key = model_key_of(out, names[model["trainer"]], cid)
        return None if key is None else load_weights(task, crypto.decrypt(store.get(cid), key))

    best_accuracy = None
    if accepted:
        best = opened(max(accepted, key=lambda a: a["score"]))
        best_accuracy = None if best is None else task.evaluate(best, holdout)
    merge_relay = bool(client.deployment.merge_horizon)
    merged_accuracy = None
    if merge_relay and accepted:  # what the next round's trainers start from (their default merge)
        layer = [opened(a) for a in accepted]
        if all(m is not None for m in layer):
            layer[0].load_state_dict(clipped_mean([m.state_dict() for m in layer]))
            merged_accuracy = task.evaluate(layer[0], holdout)
    # Tokens = wallet + withdrawable credit + what is locked in the next round's bids,
    # offers and stakes (the default policies put credit straight back into deposits)
    # + lineage rewards earned but not yet claimed.
    nxt = r + 1
    locked = {b.trainer: b.amount for b in client.bids(nxt)}
    owners = {e["modelId"]: e["owner"] for e in client.events("OfferMade", round=nxt)}
    params = client.params()
    for o in client.offers(nxt):
        # An offer made after the events were read (the next round is live) is its creator's.
        owner = owners.get(o.model_id) or client.model(o.model_id).creator
        locked[owner] = locked.get(owner, 0) + params.k * o.price
    for e in client.evaluators(nxt):
        locked[e] = locked.get(e, 0) + params.evaluator_stake
    for model_id in range(client.model_count()):  # lineage rewards not yet claimed
        units, _ = client.claimable(model_id)
        if units:
            model = client.model(model_id)
            # A merge relay shares each unit among the models of the layer (to a base unit).
            share = len(client.layer(model.layer)) if merge_relay else 1
            locked[model.creator] = locked.get(model.creator, 0) + units * params.lineage_reward // share
    balances = {a: (client.wallet_of(a) + client.credit_of(a) + locked.get(a, 0)) / TOKEN for a in names}
    row = {"round": r, "accepted": accepted, "best_holdout_accuracy": best_accuracy, "balances": balances}
    if merge_relay:
        row["merged_holdout_accuracy"] = merged_accuracy
        row["parent_models"] = client.layer(client.round_info(r).parent_layer)
    return row


def print_round(row, names, echo, elapsed, metric: str = "accuracy") -> None:
    """One round's table: its accepted models, the best one's held-out `metric`, tokens."""
    accuracy = row["best_holdout_accuracy"]
    merged = row.get("merged_holdout_accuracy")
    echo(f"\nround {row['round']} ({elapsed:.0f} s): {len(row['accepted'])} accepted; best held-out {metric} "
         f"{'-' if accuracy is None else f'{accuracy:.3f}'}"
         + ("" if "parent_models" not in row else
            f"; their merge {'-' if merged is None else f'{merged:.3f}'} (from layer of models {row['parent_models']})"))
    echo(f"  {'model':>5} {'parent':>6}  {'trainer':<10} {'score':>6}")
    for a in row["accepted"]:
        parent = "layer" if "parent_models" in row else a["parent_id"]  # a merge relay: the whole layer
        echo(f"  {a['model_id']:>5} {parent:>6}  {names[a['trainer']]:<10} {a['score']:>6.3f}")
    echo("  tokens: " + ", ".join(f"{names[a]} {v:.2f}" for a, v in row["balances"].items()))


def plot(record, names, out: Path) -> None:
    """The demo's three figures (derelayl.plots): held-out score by round beside the
    genesis and centralized training, tokens of trainers and evaluators, the lineage."""
    from derelayl.plots import plot_all

    reference = record.get("reference", {})
    plot_all(record, out, names, genesis_accuracy=reference.get("genesis"),
             centralized_accuracy=reference.get("centralized"))
