"""A task written the way a user writes one, outside the package: iris flowers (4
measurements, 3 species), a small MLP, scored by macro-averaged F1.

    derelayl deploy --task examples/iris_task.py:task --ipfs-api ... --rpc-url ... --private-key ...

Participants load this file by the entry point the task spec names (or by the
"task" field of their participant.json, where their own copy lives) and check it
against the spec on chain.
"""

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn

from derelayl import Dataset, Task


class Standardize(nn.Module):
    """Iris measurements are centimetres (0.1 to 8): the model scales them itself, with
    the data set's known means and deviations, so every participant feeds raw data."""

    MEAN, STD = (5.84, 3.06, 3.76, 1.20), (0.83, 0.43, 1.76, 0.76)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - torch.tensor(self.MEAN)) / torch.tensor(self.STD)


class IrisTask(Task):
    name = "iris-mlp"
    input_shape = (4,)
    labels = (0, 1, 2)
    metric = "macro_f1"
    hyperparameters = {"epochs": 30, "lr": 0.05, "momentum": 0.9, "batch_size": 16}
    score_floor = 0.4

    def build_model(self) -> nn.Module:
        return nn.Sequential(Standardize(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Dataset) -> float:
        model.eval()
        predicted = model(torch.as_tensor(data.features, dtype=torch.float32)).argmax(dim=1).numpy()
        return float(f1_score(data.labels, predicted, average="macro", labels=list(self.labels), zero_division=0))


task = IrisTask()


def write_example_data(folder, parts: int, seed: int = 0) -> list:
    """Splits scikit-learn's iris into `parts` .npz files in `folder` (for trying the
    task out); returns their paths."""
    from pathlib import Path

    from sklearn.datasets import load_iris

    iris = load_iris()
    order = np.random.default_rng(seed).permutation(len(iris.target))
    paths = []
    for i, rows in enumerate(np.array_split(order, parts)):
        path = Path(folder) / f"iris-{i}.npz"
        np.savez(path, features=iris.data[rows].astype(np.float32), labels=iris.target[rows].astype(np.int64))
        paths.append(path)
    return paths


if __name__ == "__main__":
    # python examples/iris_task.py FOLDER: gives each participant folder in FOLDER (one
    # with a participant.json) its own share of iris as data.npz.
    import sys
    from pathlib import Path

    folders = sorted(p.parent for p in Path(sys.argv[1]).glob("*/participant.json"))
    for folder, share in zip(folders, write_example_data(sys.argv[1], len(folders))):
        share.replace(folder / "data.npz")
        print(f"{folder / 'data.npz'}: {len(np.load(folder / 'data.npz')['labels'])} samples")
