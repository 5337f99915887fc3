"""One relay turn, step by step: fetch, decrypt, load, train, save, encrypt, cid,
transaction, pin wait, for the demo's MLP and for a model of about 10M parameters.

A trainer's turn on a real Ganache (instant mining) and a real IPFS daemon (js-ipfs),
both started here: the parent model is pinned and its key delivered in a sealed
envelope; then the turn is timed as the trainer plays it (roles/trainer.py): the CID is
computed locally ("cid"), the pin runs in a thread while the submission is sent
("transaction"), and the turn ends when the pin has finished too ("pin_wait"); the
pin's own duration is recorded beside as "pin_in_background". The SDK's overhead is the
wall time of everything but training, as a ratio to the training time of the same turn
(the reference, measured in the same run). Training uses the demo's settings (one
trainer's share of digits, 20 epochs, one torch thread as in the demo).

    .venv/bin/python benchmarks/relay_turn.py      # or: make bench-turn

Writes benchmarks/results/relay_turn.json and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from derelayl import crypto
from derelayl.chain import LocalChain, connect, deploy, dev_account
from derelayl.client import RelayClient
from derelayl.demo import DemoConfig, split_data
from derelayl.ipfs_node import IpfsNode
from derelayl.params import TEST_PARAMS, TOKEN
from derelayl.storage import IpfsStore
from derelayl.tasks.digits import DigitsTask
from derelayl.training import train_turn
from derelayl.weights import load_weights, save_weights

ROOT = Path(__file__).resolve().parent.parent
MODELS = {"demo MLP": DigitsTask("mlp"), "10M MLP": DigitsTask("mlp", hidden=133_334)}
REPEATS = 5
STEPS = ("fetch", "decrypt", "load", "train", "save", "encrypt", "cid", "transaction", "pin_wait")


def matched_round(w3, store: IpfsStore, spec: DigitsTask, trainer_keys: crypto.KeyPair) -> tuple[RelayClient, bytes]:
    """A fresh deployment whose round 0 has matched the trainer (account 2) to the
    pinned genesis model of account 1 and delivered the key. Returns the trainer's
    client and the envelope it received."""
    plain = save_weights(spec.initial_model(0))
    cid, key = store.put_encrypted(plain)
    owner, trainer, evaluator = dev_account(1), dev_account(2), dev_account(3)
    deployment = deploy(w3, dev_account(0), TEST_PARAMS.replace(k=1), genesis_owner=owner.address,
                        genesis_hash=crypto.weights_hash(plain), genesis_cid=cid,
                        allocations={evaluator.address: 100 * TOKEN})
    as_owner, as_trainer, as_evaluator = (RelayClient(w3, deployment, a) for a in (owner, trainer, evaluator))
    evaluator_keys = crypto.KeyPair.generate()
    as_trainer.register_key(trainer_keys.public)
    as_evaluator.register_key(evaluator_keys.public)
    as_owner.offer(0, 0)
    as_trainer.bid(0, 0)
    as_evaluator.stake_evaluator(0)
    as_owner.close_bidding()
    envelope = crypto.seal_key(key, trainer_keys.public)
    as_owner.deliver_key(0, 0, envelope)
    return as_trainer, envelope


def one_turn(client: RelayClient, store: IpfsStore, spec: DigitsTask, keys: crypto.KeyPair, envelope: bytes,
             features, labels, epochs: int) -> dict[str, float]:
    """Times each step of the trainer's turn on slot 0 of round 0."""
    times: dict[str, float] = {}

    def timed(step: str, action):
        started = time.perf_counter()
        result = action()
        times[step] = time.perf_counter() - started
        return result

    parent = client.model(0)
    ciphertext = timed("fetch", lambda: store.get(client.cid_of(0)))
    plain = timed("decrypt", lambda: crypto.decrypt(ciphertext, crypto.open_envelope(envelope, keys)))
    assert crypto.weights_hash(plain) == parent.weights_hash
    model = timed("load", lambda: load_weights(spec, plain))
    timed("train", lambda: train_turn(model, features, labels, epochs=epochs, seed=1))
    trained = timed("save", lambda: save_weights(model))
    key, nonce = crypto.new_model_key(), crypto.new_nonce()
    sealed = timed("encrypt", lambda: crypto.encrypt(trained, key, nonce))
    evaluator_key = client.public_key_of(client.evaluators(0)[0])
    pinning = timed("cid", lambda: store.start_put(sealed))
    timed("transaction", lambda: client.submit(0, 0, crypto.weights_hash(trained), pinning.cid,
                                               [crypto.seal_key(key, evaluator_key)]))
    timed("pin_wait", pinning.wait)
    assert store.get(pinning.cid) == sealed
    times["pin_in_background"] = pinning.seconds
    return times


def main() -> None:
    torch.set_num_threads(1)
    config = DemoConfig()
    data = DigitsTask("mlp").example_data()
    _, trainer_parts, _ = split_data(config, data)
    features, labels = data.features[trainer_parts[0]], data.labels[trainer_parts[0]]
    results = []
    with LocalChain() as chain, IpfsNode() as node:
        w3 = connect(chain.url)
        store = IpfsStore(node.api, timeout=600)
        for name, spec in MODELS.items():
            parameters = sum(p.numel() for p in spec.build_model().parameters())
            turns = []
            for _ in range(REPEATS):
                keys = crypto.KeyPair.generate()
                client, envelope = matched_round(w3, store, spec, keys)
                turns.append(one_turn(client, store, spec, keys, envelope, features, labels, config.epochs))
            overheads = [sum(t[s] for s in STEPS if s != "train") for t in turns]
            ratios = sorted(o / t["train"] for o, t in zip(overheads, turns))
            best = min(range(REPEATS), key=lambda i: sum(turns[i][s] for s in STEPS))  # the fastest turn
            results.append({"model": name, "parameters": parameters, "weights_bytes": parameters * 4,
                            "train_samples": len(labels), "epochs": config.epochs, "seconds": turns[best],
                            "sdk_overhead_seconds": overheads[best],
                            "overhead_to_training": overheads[best] / turns[best]["train"],
                            "overhead_to_training_median": ratios[REPEATS // 2]})
    record = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads": 1},
              "repeats": REPEATS, "results": results}
    out = ROOT / "benchmarks" / "results" / "relay_turn.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"one relay turn, fastest of {REPEATS} (seconds); {len(labels)} samples, {config.epochs} epochs")
    print(f"{'model':<10} {'params':>10} " + " ".join(f"{s:>11}" for s in STEPS)
          + f" {'(pin)':>11} {'overhead/train':>15} {'(median)':>9}")
    for r in results:
        print(f"{r['model']:<10} {r['parameters']:>10,} " + " ".join(f"{r['seconds'][s]:>11.4f}" for s in STEPS)
              + f" {r['seconds']['pin_in_background']:>11.4f} {r['overhead_to_training']:>15.3f}"
              + f" {r['overhead_to_training_median']:>9.3f}")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
