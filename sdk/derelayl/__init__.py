"""DeRelayL: sustainable decentralized relay learning.

Everything a user needs is importable from here::

    from derelayl import DEFAULT_PARAMS, ProtocolParams, RelayProtocol
    from derelayl import LocalChain, connect, deploy, dev_account, RelayClient
    from derelayl import Participant, ParticipantConfig, run_simulation, SimulationConfig
"""

from derelayl.addresses import create_address
from derelayl.chain import ChainUnreachable, ContractRevert, Deployment, LocalChain, connect, deploy, dev_account
from derelayl.commitment import score_commitment
from derelayl.crypto import DecryptionError, KeyPair
from derelayl.ipfs_node import IpfsNode
from derelayl.errors import ConfigurationError, DeRelayLError, ProtocolRevert
from derelayl.params import DEFAULT_PARAMS, SAFE_DURATIONS, SAFE_QUORUM, SCORE_SCALE, TEST_PARAMS, TOKEN, ProtocolParams
from derelayl.protocol import Phase, RelayProtocol, Settlement, SlotOutcome
from derelayl.storage import (
    ContentMismatch,
    ContentNotFound,
    IpfsStore,
    LocalStore,
    ModelStore,
    StorageError,
    StorageUnreachable,
)
from derelayl.training import ModelSpec, WeightsError, evaluate, load_weights, save_weights, train_turn
from derelayl.client import RelayClient
from derelayl.policies import PolicyView, default_bid, default_price
from derelayl.participant import Participant, ParticipantConfig
from derelayl.simulate import SimulationConfig, SimulationResult, run_simulation

__version__ = "0.1.0"

__all__ = [
    "Participant",
    "ParticipantConfig",
    "PolicyView",
    "RelayClient",
    "SimulationConfig",
    "SimulationResult",
    "default_bid",
    "default_price",
    "run_simulation",
    "ContentMismatch",
    "ContentNotFound",
    "DecryptionError",
    "IpfsNode",
    "IpfsStore",
    "KeyPair",
    "LocalStore",
    "ModelSpec",
    "ModelStore",
    "StorageError",
    "StorageUnreachable",
    "WeightsError",
    "evaluate",
    "load_weights",
    "save_weights",
    "train_turn",
    "ChainUnreachable",
    "ContractRevert",
    "DEFAULT_PARAMS",
    "Deployment",
    "LocalChain",
    "connect",
    "deploy",
    "dev_account",
    "SAFE_DURATIONS",
    "SAFE_QUORUM",
    "TEST_PARAMS",
    "SCORE_SCALE",
    "TOKEN",
    "ConfigurationError",
    "DeRelayLError",
    "Phase",
    "ProtocolParams",
    "ProtocolRevert",
    "RelayProtocol",
    "Settlement",
    "SlotOutcome",
    "create_address",
    "score_commitment",
]
