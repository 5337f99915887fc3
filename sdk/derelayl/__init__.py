"""DeRelayL: sustainable decentralized relay learning.

Everything a user needs is importable from here::

    from derelayl import DEFAULT_PARAMS, ProtocolParams, RelayProtocol
    from derelayl import LocalChain, connect, deploy, dev_account
"""

from derelayl.addresses import create_address
from derelayl.chain import ChainUnreachable, ContractRevert, Deployment, LocalChain, connect, deploy, dev_account
from derelayl.commitment import score_commitment
from derelayl.errors import ConfigurationError, DeRelayLError, ProtocolRevert
from derelayl.params import DEFAULT_PARAMS, SCORE_SCALE, TOKEN, ProtocolParams
from derelayl.protocol import Phase, RelayProtocol, Settlement, SlotOutcome

__version__ = "0.1.0"

__all__ = [
    "ChainUnreachable",
    "ContractRevert",
    "DEFAULT_PARAMS",
    "Deployment",
    "LocalChain",
    "connect",
    "deploy",
    "dev_account",
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
