"""DeRelayL: sustainable decentralized relay learning.

Everything a user needs is importable from here::

    from derelayl import DEFAULT_PARAMS, ProtocolParams, RelayProtocol
    from derelayl import LocalChain, connect, deploy, dev_account, RelayClient
    from derelayl import Participant, ParticipantConfig, run_simulation, SimulationConfig
    from derelayl import Task, Dataset, load_task, deploy_task

Imports are lazy (PEP 562): a name's module is loaded on first use, so
`from derelayl import RelayProtocol` does not load torch or web3, and the CLI starts
fast. `_EXPORTS` maps each public name to the module that defines it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # chain: local node, transactions, deployment
    "LocalChain": "derelayl.localchain",
    "dev_account": "derelayl.localchain",
    "connect": "derelayl.transactions",
    "Deployment": "derelayl.deployment",
    "deploy": "derelayl.deploying",
    "RelayClient": "derelayl.client",
    "IpfsNode": "derelayl.ipfs_node",
    # errors
    "ChainUnreachable": "derelayl.errors",
    "ConfigurationError": "derelayl.errors",
    "ContentMismatch": "derelayl.errors",
    "ContentNotFound": "derelayl.errors",
    "ContractRevert": "derelayl.errors",
    "DeRelayLError": "derelayl.errors",
    "DecryptionError": "derelayl.errors",
    "EventMissing": "derelayl.errors",
    "ProtocolRevert": "derelayl.errors",
    "StorageError": "derelayl.errors",
    "StorageUnreachable": "derelayl.errors",
    "TaskError": "derelayl.errors",
    "TaskMismatch": "derelayl.errors",
    "WeightsError": "derelayl.errors",
    # protocol rules and parameters
    "DEFAULT_PARAMS": "derelayl.params",
    "SAFE_DURATIONS": "derelayl.params",
    "SAFE_QUORUM": "derelayl.params",
    "TEST_PARAMS": "derelayl.params",
    "SCORE_SCALE": "derelayl.params",
    "TOKEN": "derelayl.params",
    "ProtocolParams": "derelayl.params",
    "Phase": "derelayl.types",
    "RelayProtocol": "derelayl.protocol",
    "Settlement": "derelayl.protocol",
    "SlotOutcome": "derelayl.types",
    "create_address": "derelayl.addresses",
    "score_commitment": "derelayl.commitment",
    # storage and crypto
    "KeyPair": "derelayl.crypto",
    "IpfsStore": "derelayl.storage",
    "LocalStore": "derelayl.storage",
    "ModelStore": "derelayl.storage",
    # tasks, training and the weights' wire format
    "BUILTIN_TASKS": "derelayl.task",
    "Dataset": "derelayl.task",
    "Task": "derelayl.task",
    "check_data": "derelayl.task",
    "check_task": "derelayl.task",
    "load_task": "derelayl.task",
    "task_spec": "derelayl.task",
    "deploy_task": "derelayl.launch",
    "dirichlet_split": "derelayl.training",
    "evaluate": "derelayl.training",
    "train_turn": "derelayl.training",
    "load_weights": "derelayl.weights",
    "save_weights": "derelayl.weights",
    # participants and simulation
    "Participant": "derelayl.participant",
    "ParticipantConfig": "derelayl.participant",
    "PolicyView": "derelayl.policies",
    "default_bid": "derelayl.policies",
    "default_price": "derelayl.policies",
    "SimulationConfig": "derelayl.simulate",
    "SimulationResult": "derelayl.simulate",
    "run_simulation": "derelayl.simulate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Loads the module of public name `name` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'derelayl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # static type checkers and IDEs see the eager imports
    from derelayl.addresses import create_address
    from derelayl.client import RelayClient
    from derelayl.commitment import score_commitment
    from derelayl.crypto import KeyPair
    from derelayl.deploying import deploy
    from derelayl.deployment import Deployment
    from derelayl.errors import (ChainUnreachable, ConfigurationError, ContentMismatch, ContentNotFound,
                                 ContractRevert, DecryptionError, DeRelayLError, EventMissing, ProtocolRevert, StorageError,
                                 StorageUnreachable, TaskError, TaskMismatch, WeightsError)
    from derelayl.ipfs_node import IpfsNode
    from derelayl.localchain import LocalChain, dev_account
    from derelayl.params import (DEFAULT_PARAMS, SAFE_DURATIONS, SAFE_QUORUM, SCORE_SCALE, TEST_PARAMS, TOKEN,
                                 ProtocolParams)
    from derelayl.participant import Participant, ParticipantConfig
    from derelayl.policies import PolicyView, default_bid, default_price
    from derelayl.protocol import RelayProtocol, Settlement
    from derelayl.types import Phase, SlotOutcome
    from derelayl.simulate import SimulationConfig, SimulationResult, run_simulation
    from derelayl.storage import IpfsStore, LocalStore, ModelStore
    from derelayl.launch import deploy_task
    from derelayl.task import BUILTIN_TASKS, Dataset, Task, check_data, check_task, load_task, task_spec
    from derelayl.training import dirichlet_split, evaluate, train_turn
    from derelayl.weights import load_weights, save_weights
