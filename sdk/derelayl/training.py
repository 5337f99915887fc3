"""PyTorch models of a task, safe (de)serialization, one relay turn of training, and
evaluation.

Weights travel as safetensors: loading them never runs code (no pickle), and
`load_weights` refuses bytes that are corrupted, truncated, or that do not have
exactly the tensors and shapes the task's model expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn
from tqdm import tqdm

from derelayl.errors import ConfigurationError, WeightsError


@dataclass(frozen=True)
class ModelSpec:
    """The architecture of a task's model (digits: 8x8 grey images, 10 classes)."""

    kind: str = "mlp"  # "mlp" or "cnn"
    input_shape: tuple[int, int, int] = (1, 8, 8)
    classes: int = 10
    hidden: int = 64

    def build(self, seed: int = 0) -> nn.Module:
        """A freshly initialised model (the same for the same seed)."""
        torch.manual_seed(seed)
        channels, height, width = self.input_shape
        if self.kind == "mlp":
            return nn.Sequential(
                nn.Flatten(), nn.Linear(channels * height * width, self.hidden), nn.ReLU(),
                nn.Linear(self.hidden, self.classes),
            )
        if self.kind == "cnn":
            return nn.Sequential(
                nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(32 * (height // 4) * (width // 4), self.hidden), nn.ReLU(),
                nn.Linear(self.hidden, self.classes),
            )
        raise ConfigurationError(f"unknown model kind {self.kind!r}: expected 'mlp' or 'cnn'")


def save_weights(model: nn.Module, metadata: dict[str, str] | None = None) -> bytes:
    """The model's weights as safetensors bytes, with optional string `metadata` in the
    header (a submission's binding to its trainer, see `participant.submission_binding`)."""
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


def load_weights(spec: ModelSpec, data: bytes) -> nn.Module:
    """A model of `spec` holding the weights in `data`, or `WeightsError` naming what is wrong."""
    tensors = read_tensors(data)
    model = spec.build()
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    if found.keys() != expected.keys():
        missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
        raise WeightsError(f"weights do not fit a {spec.kind}: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if found[name] != shape:
            raise WeightsError(f"tensor {name} has shape {list(found[name])}, the {spec.kind} needs {list(shape)}")
        if not torch.isfinite(tensors[name]).all():
            raise WeightsError(f"tensor {name} holds NaN or infinite values")
    model.load_state_dict(tensors)
    return model


def train_turn(model: nn.Module, features: np.ndarray, labels: np.ndarray, *, epochs: int = 5,
               lr: float = 0.05, batch_size: int = 32, seed: int = 0, progress: bool = False) -> nn.Module:
    """Trains `model` in place on local data (SGD with momentum); deterministic under `seed`.
    With `progress`, a tqdm bar (on stderr) shows the epochs and the last epoch's loss."""
    if len(features) == 0:
        return model
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        bar.set_postfix(loss=f"{total / len(x):.3f}")
    return model


@torch.no_grad()
def evaluate(model: nn.Module, features: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of `model` on the given data."""
    if len(features) == 0:
        return 0.0
    model.eval()
    predictions = model(torch.as_tensor(features, dtype=torch.float32)).argmax(dim=1).numpy()
    return float((predictions == np.asarray(labels)).mean())


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (1,797 8x8 images, shipped with the package), scaled to
    [0, 1] and shaped (n, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32)[:, None, :, :], digits.target.astype(np.int64)


def dirichlet_split(labels: np.ndarray, parts: int, alpha: float, seed: int = 0) -> list[np.ndarray]:
    """Index sets of a label-skewed split: for each class, the share of each part is
    drawn from Dirichlet(alpha) (small alpha: strongly non-IID; large: close to IID)."""
    if parts < 1 or alpha <= 0:
        raise ConfigurationError(f"need parts >= 1 and alpha > 0, got parts={parts}, alpha={alpha}")
    rng = np.random.default_rng(seed)
    split: list[list[int]] = [[] for _ in range(parts)]
    for label in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == label))
        shares = rng.dirichlet([alpha] * parts)
        cuts = (np.cumsum(shares)[:-1] * len(indices)).astype(int)
        for part, chunk in enumerate(np.split(indices, cuts)):
            split[part].extend(chunk.tolist())
    return [np.array(sorted(p), dtype=np.int64) for p in split]
