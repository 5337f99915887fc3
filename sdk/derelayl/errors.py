"""The SDK's exceptions, all rooted in `DeRelayLError`.

    DeRelayLError
    ├── ProtocolRevert          a rule of the protocol refused an action (contract error name + args)
    └── ConfigurationError      bad parameters or environment, found before anything is sent
"""

from __future__ import annotations

from typing import Any


class DeRelayLError(Exception):
    """Root of every error the SDK raises on purpose."""


class ProtocolRevert(DeRelayLError):
    """An action the protocol rules refuse, named after the contract's custom error.

    `name` is the Solidity error name (for example ``"RelayWrongPhase"``) and `args`
    its arguments, so the plain-Python model and the contract can be compared error
    for error.
    """

    def __init__(self, name: str, *args: Any) -> None:
        self.name = name
        self.args_ = args
        super().__init__(f"{name}({', '.join(map(repr, args))})")


class ConfigurationError(DeRelayLError, ValueError):
    """Invalid parameters or environment, detected before anything is sent."""


class TaskError(DeRelayLError, ValueError):
    """A task that cannot be loaded, or a task spec or data file that cannot be read."""


class TaskMismatch(TaskError):
    """The participant's task code or data does not match the deployment's task spec."""


class WeightsError(DeRelayLError):
    """Weights that cannot be loaded into the task's model (never partly loaded)."""
