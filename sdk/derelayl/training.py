"""The default training turn and metric of supervised classification tasks, and the
label-skewed split the demo and benchmarks give their participants.

`Task.train` and `Task.evaluate` use `train_turn` and `evaluate` unless a task
overrides them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from derelayl.errors import ConfigurationError


def train_turn(model: nn.Module, features: np.ndarray, labels: np.ndarray, *, epochs: int = 5,
               lr: float = 0.05, momentum: float = 0.9, batch_size: int = 32, class_balanced: bool = False,
               seed: int = 0, progress: bool = False) -> nn.Module:
    """Trains `model` in place on local data (mini-batch SGD on cross-entropy);
    deterministic under `seed`. With `class_balanced`, every class present in the data
    weighs the same in the loss (a trainer whose share is label-skewed then does not
    pull the model toward its majority classes). With `progress`, a tqdm bar (on
    stderr) shows the epochs and the last epoch's loss.

    The optimizer is created anew each turn (a trainer receives weights, not optimizer
    state), so momentum warms up within the turn: for short turns plain SGD at the
    equivalent step, lr / (1 - momentum), learns more (docs/efficacy.md)."""
    if len(features) == 0:
        return model
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss(weight=class_weights(model, x, y) if class_balanced else None)
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
def class_weights(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss weights over the model's classes: n / (classes present x count) for each
    class present in `y`, 0 for the others."""
    classes = model(x[:1]).shape[1]
    counts = torch.bincount(y, minlength=classes).to(torch.float32)
    present = int((counts > 0).sum())
    return torch.where(counts > 0, len(y) / (present * counts.clamp(min=1)), torch.zeros_like(counts))


@torch.no_grad()
def evaluate(model: nn.Module, features: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of `model` on the given data."""
    if len(features) == 0:
        return 0.0
    model.eval()
    predictions = model(torch.as_tensor(features, dtype=torch.float32)).argmax(dim=1).numpy()
    return float((predictions == np.asarray(labels)).mean())


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
