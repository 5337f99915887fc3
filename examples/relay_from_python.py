"""A whole relay from Python, in one process: a local chain and IPFS node, a deployment
of the wine task, and four participants (the genesis owner and two trainers, one
evaluator) each in its own thread, for two rounds. Prints each round's accepted
models. The same `Participant` runs as `derelayl participant`, one process each.

    python examples/relay_from_python.py
"""

import tempfile
import threading
from pathlib import Path

import numpy as np

from derelayl import (DEFAULT_PARAMS, SCORE_SCALE, TOKEN, IpfsNode, IpfsStore, LocalChain, Participant,
                      ParticipantConfig, RelayClient, connect, deploy_task, dev_account, load_task)


def main(rounds: int = 2) -> list[list[dict]]:
    task = load_task("wine")
    data = task.example_data()
    shares = np.array_split(np.random.default_rng(0).permutation(len(data)), 4)
    roles = ["trainer", "trainer", "trainer", "evaluator"]  # account 1 owns the genesis
    # Short phases, one evaluator (its 44 test samples score noisily, hence a loose floor
    # under the parent's score): a local try, not a relay open to strangers.
    params = DEFAULT_PARAMS.replace(k=2, quorum=1, max_evaluators=2, bidding_duration=8, training_duration=60,
                                    commit_duration=30, reveal_duration=15, floor_margin=SCORE_SCALE // 5)
    with LocalChain(block_time=1) as chain, IpfsNode() as node, tempfile.TemporaryDirectory() as folder:
        w3, store = connect(chain.url), IpfsStore(node.api)
        deployment = deploy_task(w3, dev_account(0), task, store, entry_point="wine", params=params,
                                 genesis_owner=dev_account(1).address,
                                 allocations={dev_account(i + 1).address: 10 * TOKEN for i in range(4)})
        agents = [Participant(ParticipantConfig(role=role, state_dir=Path(folder) / f"p{i + 1}", seed=i),
                              deployment, dev_account(i + 1), store, data.subset(share),
                              log=lambda message, i=i: print(f"p{i + 1}: {message}"))
                  for i, (role, share) in enumerate(zip(roles, shares))]
        threads = [threading.Thread(target=agent.run, kwargs={"rounds": rounds}) for agent in agents]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        client = RelayClient(w3, deployment)
        accepted = [[e for e in client.events("ModelAccepted", round=r) if e["modelId"] != 0] for r in range(rounds)]
    for r, models in enumerate(accepted):
        print(f"round {r}: accepted " + ", ".join(f"model {e['modelId']} (score {e['score'] / 1e6:.3f})"
                                                   for e in models))
    return accepted


if __name__ == "__main__":
    main()
