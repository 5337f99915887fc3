"""Tabular tasks on data sets that scikit-learn ships (no download): wine (13
features, 3 classes, balanced accuracy) and breast cancer (30 features, 2 classes,
ROC AUC). The model standardizes its input with constants fixed by the task (the
public data set's means and deviations), so every participant feeds raw features."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from derelayl.task import Dataset, Task


class Standardize(nn.Module):
    """(x - mean) / std with fixed constants (buffers: part of the weights)."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TabularTask(Task):
    """An MLP on one of scikit-learn's small tabular data sets."""

    hyperparameters = {"epochs": 20, "lr": 0.05, "momentum": 0.9, "batch_size": 16}

    def __init__(self, name: str, loader: str, metric: str, score_floor: float, hidden: int = 32) -> None:
        self.name, self._loader, self.metric, self.score_floor, self.hidden = name, loader, metric, score_floor, hidden
        data = self.example_data()
        self.input_shape = tuple(data.features.shape[1:])
        self.labels = tuple(int(v) for v in np.unique(data.labels))
        self._mean = data.features.mean(axis=0)
        self._std = data.features.std(axis=0) + 1e-6

    def example_data(self) -> Dataset:
        """The whole public data set (for the demo and benchmarks to split)."""
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, self._loader)()
        return Dataset(bunch.data.astype(np.float32), bunch.target.astype(np.int64))

    def build_model(self) -> nn.Module:
        return nn.Sequential(Standardize(self._mean, self._std), nn.Linear(self.input_shape[0], self.hidden),
                             nn.ReLU(), nn.Linear(self.hidden, len(self.labels)))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Dataset) -> float:
        from sklearn.metrics import balanced_accuracy_score, roc_auc_score

        if len(data) == 0:
            return 0.0
        model.eval()
        logits = model(torch.as_tensor(data.features, dtype=torch.float32))
        if self.metric == "roc_auc":
            if len(np.unique(data.labels)) < 2:
                return float((logits.argmax(dim=1).numpy() == data.labels).mean())
            return float(roc_auc_score(data.labels, torch.softmax(logits, dim=1)[:, 1].numpy()))
        return float(balanced_accuracy_score(data.labels, logits.argmax(dim=1).numpy()))


wine = TabularTask("wine", "load_wine", "balanced_accuracy", score_floor=0.5)
breast_cancer = TabularTask("breast-cancer", "load_breast_cancer", "roc_auc", score_floor=0.6)
