"""The multi-process demo: a whole relay on scikit-learn's digits.

Starts a Ganache and an IPFS daemon, creates and pins the genesis model, deploys, and
launches every participant as its own OS process (`derelayl participant`), sharing
nothing but the chain and IPFS. Trainers hold a Dirichlet label-skewed share of the
data; each evaluator holds its own test split; a held-out set that no participant
sees measures the best accepted model after every round. Prints a table per round,
writes plots and, with a JSON path, a machine-readable record.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from derelayl import crypto
from derelayl.chain import LocalChain, connect, deploy, dev_account
from derelayl.client import RelayClient
from derelayl.errors import DeRelayLError
from derelayl.ipfs_node import IpfsNode
from derelayl.params import DEFAULT_PARAMS, SCORE_SCALE, TOKEN
from derelayl.storage import IpfsStore
from derelayl.training import ModelSpec, dirichlet_split, evaluate, load_digits_data, load_weights, save_weights


@dataclass
class DemoConfig:
    trainers: int = 8
    evaluators: int = 2
    rounds: int = 5
    alpha: float = 1.0
    seed: int = 0
    model: str = "mlp"
    epochs: int = 20
    out: Path = Path("demo-output")
    json_path: Path | None = None


def split_data(config: DemoConfig):
    """held-out (20%), one test split per evaluator (10% each), the rest over trainers."""
    x, y = load_digits_data()
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(y))
    holdout = order[: len(y) // 5]
    rest = order[len(y) // 5 :]
    per_evaluator = len(y) // 10
    evaluator_parts = [rest[i * per_evaluator : (i + 1) * per_evaluator] for i in range(config.evaluators)]
    training = rest[config.evaluators * per_evaluator :]
    trainer_parts = [training[p] for p in dirichlet_split(y[training], config.trainers, config.alpha, config.seed)]
    return x, y, holdout, trainer_parts, evaluator_parts


def run_demo(config: DemoConfig, echo=print, progress: bool = True) -> dict:
    """Runs the demo of `config`; prints with `echo`; a tqdm bar shows the live phase.
    Returns the record (also written to `config.json_path`)."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    x, y, holdout, trainer_parts, evaluator_parts = split_data(config)
    spec = ModelSpec(kind=config.model)
    # quorum 1: the demo's 2 evaluators are honest. A task open to strangers should rank
    # on SAFE_QUORUM (5) scores (docs/robustness.md); 5 evaluator processes beside 8
    # trainers overload a 2-core machine's Ganache, and rounds then miss a score.
    params = DEFAULT_PARAMS.replace(k=4, max_trainers=32, max_evaluators=8, quorum=1,
                                    bidding_duration=10, training_duration=120, commit_duration=60,
                                    reveal_duration=30)
    # Blocks every second, so that block time (and phase deadlines) advance while nobody sends.
    with LocalChain(accounts=config.trainers + config.evaluators + 2, block_time=1) as chain, IpfsNode() as node:
        w3 = connect(chain.url)
        store = IpfsStore(node.api)
        # The genesis owner (trainer 0) creates and pins the genesis model.
        genesis_plain = save_weights(spec.build(seed=config.seed))
        genesis_cid, genesis_key = store.put_encrypted(genesis_plain)
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
                        "ipfs_api": node.api, "model": config.model, "epochs": config.epochs,
                        "seed": config.seed + i, "rounds": config.rounds, "threads": 1}
            # The genesis owner takes the genesis key from the deployment file, which publishes it.
            folder = prepare_participant(out / "participants" / f"{role}{i}", settings, x[indices], y[indices])
            processes.append((account.address, role, start_participant(folder)))
        echo(f"{config.trainers} trainers and {config.evaluators} evaluators started as separate processes "
             f"(pids {', '.join(str(p.pid) for _, _, p in processes)}); waiting until they are ready")
        wait_until_ready([out / "participants" / f"{r}{i}" for i, r in enumerate(roles)],
                         [p for _, _, p in processes])
        deployment = deploy(w3, dev_account(0), params, genesis_owner=accounts[0].address,
                            genesis_hash=crypto.weights_hash(genesis_plain), genesis_cid=genesis_cid,
                            allocations={e.address: 100 * TOKEN for e in evaluators}, genesis_key=genesis_key)
        client = RelayClient(w3, deployment)
        deployment.save(deployment_path)
        echo(f"Ganache {chain.url}, IPFS {node.api}, RelayLearning {deployment.relay}")
        started = time.time()

        record = {"participants": [{"address": a, "role": r, "pid": p.pid} for a, r, p in processes],
                  "config": {k: str(v) for k, v in asdict(config).items()}, "rounds": []}
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
                row = round_report(client, seen, out, store, spec, x[holdout], y[holdout], names)
                record["rounds"].append(row)
                print_round(row, names, say, time.time() - started)
                seen += 1
                bar.update(1)
        finally:
            bar.close()
            for _, _, p in processes:
                p.terminate()
            for _, _, p in processes:
                p.wait(30)
    record["wall_seconds"] = round(time.time() - started, 1)
    plot(record, names, out)
    if config.json_path:
        Path(config.json_path).write_text(json.dumps(record, indent=2) + "\n")
    echo(f"done in {record['wall_seconds']} s; plots in {out}")
    return record


def prepare_participant(folder: Path, settings: dict, features: np.ndarray, labels: np.ndarray,
                        genesis_key: bytes | None = None) -> Path:
    """A fresh state folder for `derelayl participant`: its settings, its data and, for
    a genesis owner whose deployment does not publish the genesis key, that key."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    np.savez(folder / "data.npz", features=features, labels=labels)
    if genesis_key is not None:
        (folder / "genesis_key").write_text(genesis_key.hex())
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


def round_report(client: RelayClient, r, out, store, spec, x_holdout, y_holdout, names) -> dict:
    accepted = [{"model_id": e["modelId"], "parent_id": e["parentId"], "trainer": e["creator"],
                 "score": e["score"] / SCORE_SCALE}
                for e in client.events("ModelAccepted", round=r) if e["modelId"] != 0]
    best_accuracy = None
    if accepted:
        best = max(accepted, key=lambda a: a["score"])
        cid = client.cid_of(best["model_id"])
        key = model_key_of(out, names[best["trainer"]], cid)
        if key is not None:
            model = load_weights(spec, crypto.decrypt(store.get(cid), key))
            best_accuracy = evaluate(model, x_holdout, y_holdout)
    # Tokens = wallet + withdrawable credit + what is locked in the next round's bids,
    # offers and stakes (the default policies put credit straight back into deposits)
    # + lineage rewards earned but not yet claimed.
    nxt = r + 1
    locked = {b.trainer: b.amount for b in client.bids(nxt)}
    owners = {e["modelId"]: e["owner"] for e in client.events("OfferMade", round=nxt)}
    params = client.params()
    for o in client.offers(nxt):
        locked[owners[o.model_id]] = locked.get(owners[o.model_id], 0) + params.k * o.price
    for e in client.evaluators(nxt):
        locked[e] = locked.get(e, 0) + params.evaluator_stake
    for model_id in range(client.model_count()):  # lineage rewards not yet claimed
        units, _ = client.claimable(model_id)
        if units:
            creator = client.model(model_id).creator
            locked[creator] = locked.get(creator, 0) + units * params.lineage_reward
    balances = {a: (client.wallet_of(a) + client.credit_of(a) + locked.get(a, 0)) / TOKEN for a in names}
    return {"round": r, "accepted": accepted, "best_holdout_accuracy": best_accuracy, "balances": balances}


def print_round(row, names, echo, elapsed) -> None:
    accuracy = row["best_holdout_accuracy"]
    echo(f"\nround {row['round']} ({elapsed:.0f} s): {len(row['accepted'])} accepted; best held-out accuracy "
         f"{'-' if accuracy is None else f'{accuracy:.3f}'}")
    echo(f"  {'model':>5} {'parent':>6}  {'trainer':<10} {'score':>6}")
    for a in row["accepted"]:
        echo(f"  {a['model_id']:>5} {a['parent_id']:>6}  {names[a['trainer']]:<10} {a['score']:>6.3f}")
    echo("  tokens: " + ", ".join(f"{names[a]} {v:.2f}" for a, v in row["balances"].items()))


def plot(record, names, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in record["rounds"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rounds, [r["best_holdout_accuracy"] or 0 for r in record["rounds"]], marker="o")
    ax.set(xlabel="round", ylabel="held-out accuracy of the best accepted model", ylim=(0, 1),
           title="DeRelayL on digits", xticks=rounds)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=120)

    fig, ax = plt.subplots(figsize=(7, 4))
    for address, name in names.items():
        ax.plot(rounds, [r["balances"][address] for r in record["rounds"]], marker=".", label=name)
    ax.set(xlabel="round", ylabel="tokens (wallet, credit, deposits, unclaimed)", title="Balances", xticks=rounds)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "balances.png", dpi=120)

    fig, ax = plt.subplots(figsize=(7, 4))
    depth = {0: 0}
    position = {0: 0.0}
    for r in record["rounds"]:
        row = sorted(r["accepted"], key=lambda a: a["model_id"])
        for i, a in enumerate(row):
            depth[a["model_id"]] = depth.get(a["parent_id"], 0) + 1
            position[a["model_id"]] = i - (len(row) - 1) / 2
            ax.plot([depth[a["parent_id"]] if a["parent_id"] in depth else 0, depth[a["model_id"]]],
                    [position.get(a["parent_id"], 0), position[a["model_id"]]], color="grey", lw=0.8)
    ax.scatter([depth[m] for m in depth], [position[m] for m in depth], zorder=3)
    for m in depth:
        ax.annotate(str(m), (depth[m], position[m]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="generation (lineage layer)", yticks=[], title="Lineage tree (model ids)")
    fig.tight_layout()
    fig.savefig(out / "lineage.png", dpi=120)
    plt.close("all")
