"""Launching a relay for a task: pin its genesis model and its task spec, then deploy.

Everything is pinned before anything is deployed, so a storage failure costs no
transaction. The genesis key is published with the deployment (its `genesis_key`
field): nobody but the genesis owner could courier it, and every trainer checks the
genesis with it before bidding.
"""

from __future__ import annotations

from web3 import Web3

from derelayl import crypto
from derelayl.deploying import deploy
from derelayl.deployment import Deployment
from derelayl.params import DEFAULT_PARAMS, SCORE_SCALE, ProtocolParams
from derelayl.storage import ModelStore
from derelayl.task import Task, spec_bytes, task_spec
from derelayl.weights import read_tensors, save_weights


def task_params(params: ProtocolParams, task: Task) -> ProtocolParams:
    """`params` as `deploy_task` deploys them for `task`: the acceptance floor raised to
    at least the task's `score_floor`, so a model no better than chance (or garbage) is
    never accepted."""
    return params.replace(score_floor=max(params.score_floor, round(task.score_floor * SCORE_SCALE)))


def deploy_task(w3: Web3, deployer, task: Task, store: ModelStore, *, entry_point: str,
                params: ProtocolParams = DEFAULT_PARAMS, allocations: dict[str, int] | None = None,
                genesis_owner: str | None = None, seed: int = 0, genesis_weights: bytes | None = None,
                merge_horizon: int = 0) -> Deployment:
    """Deploys a relay of `task`: its genesis is `task.initial_model(seed)` (or the
    safetensors `genesis_weights`), owned by `genesis_owner` (default: the deployer);
    `entry_point` is how participants load the task's code (a built-in name,
    ``module:attr`` or ``file.py:attr``), recorded in the spec; `allocations` credits
    accounts with tokens (base units) to bid and stake with; `merge_horizon` above 0
    deploys a merge relay (`derelayl.deploy`, docs/merge.md). The contract's acceptance
    floor is at least the task's `score_floor`, so a model no better than chance (or
    garbage) is never accepted."""
    params = task_params(params, task)
    plain = genesis_weights if genesis_weights is not None else save_weights(task.initial_model(seed))
    read_tensors(plain)  # a WeightsError before anything is pinned
    genesis_cid, genesis_key = store.put_encrypted(plain)
    spec_cid = store.put(spec_bytes(task_spec(task, entry_point)))
    return deploy(w3, deployer, params, genesis_owner=genesis_owner, genesis_hash=crypto.weights_hash(plain),
                  genesis_cid=genesis_cid, task_spec_cid=spec_cid, allocations=allocations, genesis_key=genesis_key,
                  merge_horizon=merge_horizon)
