"""The wire format of model weights: safetensors, safe to load from strangers.

Loading never runs code (no pickle), and `load_weights` refuses bytes that are
corrupted, truncated, non-finite, or that do not hold exactly the tensors and shapes
of the task's model.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from derelayl.errors import WeightsError

if TYPE_CHECKING:
    from derelayl.task import Task


def save_weights(model: nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """The model's weights as safetensors bytes, with optional string `metadata` in the
    header (a submission's binding to its trainer, see `roles.trainer.submission_binding`)."""
    return st_save({name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()},
                   metadata=metadata)


def weights_metadata(data: bytes) -> dict[str, str]:
    """The string metadata in a safetensors header ({} when none), or `WeightsError`.
    The format: 8 bytes little-endian header length, then the JSON header, whose
    "__metadata__" entry holds the metadata."""
    try:
        length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + length])
        metadata = header.get("__metadata__") or {}
    except (ValueError, AttributeError) as exc:
        raise WeightsError(f"not a readable safetensors header ({len(data)} bytes): {exc}") from exc
    if not isinstance(metadata, dict):
        raise WeightsError("the safetensors metadata is not a mapping")
    return {str(k): str(v) for k, v in metadata.items()}


def read_tensors(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors in the safetensors bytes `data`, or `WeightsError`."""
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"not a readable safetensors file ({len(data)} bytes): {exc}") from exc


def _all_finite(tensor: torch.Tensor) -> bool:
    """Whether `tensor` holds no NaN or infinity: its min and max (which propagate NaN)
    are finite. One pass without a 10M-element boolean tensor, unlike isfinite().all()."""
    if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.numel() == 0:
        return True
    if tensor.is_complex():
        return bool(torch.isfinite(tensor).all())
    low, high = tensor.aminmax()
    return bool(torch.isfinite(low) and torch.isfinite(high))


def load_weights(task: "Task", data: bytes) -> nn.Module:
    """A model of `task` holding the weights in `data`, or `WeightsError` naming what is wrong.

    The model is built on the meta device (no random initialisation of parameters about
    to be overwritten) and takes the tensors read from `data` as they are (no second
    copy); a model whose state_dict leaves something uninitialised (a non-persistent
    buffer) is built the ordinary way instead."""
    tensors = read_tensors(data)
    with torch.device("meta"):
        model = task.build_model()
    expected = {name: (tuple(t.shape), t.dtype) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    if found.keys() != expected.keys():
        missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
        raise WeightsError(f"weights do not fit the {task.name} model: missing {missing}, unexpected {extra}")
    for name, (shape, dtype) in expected.items():
        if found[name] != shape:
            raise WeightsError(f"tensor {name} has shape {list(found[name])}, the {task.name} model needs {list(shape)}")
        if not _all_finite(tensors[name]):
            raise WeightsError(f"tensor {name} holds NaN or infinite values")
        if tensors[name].dtype != dtype:
            tensors[name] = tensors[name].to(dtype)  # as load_state_dict's copy would
    model.load_state_dict(tensors, assign=True)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        model = task.build_model()
        model.load_state_dict(tensors)
    return model
