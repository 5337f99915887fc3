"""Tasks: what every participant of one deployment agrees on.

A task is the model architecture, the input and label schema, the training turn
(loss, optimizer, hyperparameters), the metric evaluators report, and how a
participant loads its own data. A user writes one class in their own file, importing
only `derelayl` (like Flower's client API)::

    from torch import nn
    from derelayl import Task

    class IrisTask(Task):
        name = "iris-mlp"
        input_shape = (4,)
        labels = (0, 1, 2)
        metric = "macro_f1"
        hyperparameters = {"epochs": 20, "lr": 0.1, "batch_size": 16}

        def build_model(self) -> nn.Module:
            return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

        def evaluate(self, model, data) -> float:   # the metric, in [0, 1]
            ...

    task = IrisTask()

`train` (SGD on cross-entropy with the task's hyperparameters) and `load_data` (an
.npz file with ``features`` and ``labels``) have defaults. Built-in tasks are named
(`BUILTIN_TASKS`: ``digits-mlp``, ``digits-cnn``, ``wine``, ``breast-cancer``); a
user's task is named by its entry point, ``path/to/file.py:attr`` or
``package.module:attr``.

The task spec (`task_spec`) is the versioned JSON document a deployment pins to IPFS
and records on chain by CID: the task's name and entry point, the tensor names and
shapes of its model, its input shape, label set, metric and hyperparameters, and the
SDK version that wrote it. Every participant checks its own code (`check_task`) and
data (`check_data`) against it before acting, so trainers and evaluators of one task
can never silently disagree.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from derelayl.errors import TaskError, TaskMismatch

#: The task spec's format tag; a participant refuses a spec of another format.
SPEC_FORMAT = "derelayl.task/1"
#: Built-in tasks by name: their entry points inside the package.
BUILTIN_TASKS = {
    "digits-mlp": "derelayl.tasks.digits:mlp",
    "digits-cnn": "derelayl.tasks.digits:cnn",
    "wine": "derelayl.tasks.tabular:wine",
    "breast-cancer": "derelayl.tasks.tabular:breast_cancer",
}
#: The hyperparameters of the default training turn (`Task.train`).
DEFAULT_HYPERPARAMETERS: dict[str, Any] = {"epochs": 5, "lr": 0.05, "momentum": 0.9, "batch_size": 32,
                                           "class_balanced": False}


@dataclass(frozen=True)
class Dataset:
    """A participant's own data: ``features`` of shape (n, *input_shape) and
    integer ``labels`` of shape (n,)."""

    features: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "Dataset":
        """The rows `indices` of this data set."""
        return Dataset(self.features[indices], self.labels[indices])


class Task:
    """Base class of a task: override `build_model` and set the schema attributes;
    override `train`, `evaluate` or `load_data` when the defaults do not fit.

    Attributes
    ----------
    name:
        A short name (``"digits-mlp"``), recorded in the spec.
    input_shape:
        The shape of one sample's features, e.g. ``(1, 8, 8)`` or ``(13,)``.
    labels:
        The label set, e.g. ``tuple(range(10))``.
    metric:
        The name of what `evaluate` returns (a score in [0, 1], higher is better).
    hyperparameters:
        The training turn's settings, recorded in the spec: every trainer of the
        deployment uses the spec's values.
    score_floor:
        The least score a model must reach to be accepted (recorded in the spec;
        `deploy_task` raises the contract's floor to it). Set it above chance level
        (0.1 for 10 balanced classes, 0.5 for ROC AUC): below it, models no better
        than chance can be accepted while their parent is the genesis, whose score on
        chain is 0; `derelayl deploy` warns when a task leaves it at 0.
    """

    name: str = ""
    input_shape: tuple[int, ...] = ()
    labels: tuple[int, ...] = ()
    metric: str = "accuracy"
    hyperparameters: dict[str, Any] = DEFAULT_HYPERPARAMETERS
    score_floor: float = 0.0

    # ------------------------------------------------------------ to override

    def build_model(self) -> nn.Module:
        """A freshly initialised model of the task's architecture."""
        raise NotImplementedError(f"{type(self).__name__} must define build_model()")

    def train(self, model: nn.Module, data: Dataset, *, seed: int, progress: bool = False) -> None:
        """One training turn on the participant's own `data`, in place. Default:
        mini-batch SGD on cross-entropy (`derelayl.training.train_turn`), using
        `hyperparameters` (epochs, lr, momentum, batch_size, class_balanced).
        Deterministic under `seed`."""
        from derelayl.training import train_turn

        h = {**DEFAULT_HYPERPARAMETERS, **self.hyperparameters}
        train_turn(model, data.features, data.labels, epochs=int(h["epochs"]), lr=float(h["lr"]),
                   momentum=float(h["momentum"]), batch_size=int(h["batch_size"]),
                   class_balanced=bool(h["class_balanced"]), seed=seed, progress=progress)

    def evaluate(self, model: nn.Module, data: Dataset) -> float:
        """The task's metric of `model` on `data`, in [0, 1]. Default: accuracy."""
        from derelayl.training import evaluate

        return evaluate(model, data.features, data.labels)

    def load_data(self, path: Path) -> Dataset:
        """A participant's data from `path`. Default: an .npz file holding
        ``features`` (float, shape (n, *input_shape)) and ``labels`` (integers)."""
        return load_npz(path)

    # ------------------------------------------------------------ provided

    def initial_model(self, seed: int = 0) -> nn.Module:
        """`build_model()` under `seed`: the same weights for the same seed (a genesis)."""
        torch.manual_seed(seed)
        return self.build_model()

    def with_hyperparameters(self, values: dict[str, Any]) -> "Task":
        """A copy of this task whose training turn uses `values` (e.g. the spec's)."""
        other = copy.copy(self)
        other.hyperparameters = dict(values)
        return other

    def tensor_shapes(self) -> dict[str, list[int]]:
        """Name -> shape of every tensor of the task's model (what weights must hold)."""
        return {name: list(t.shape) for name, t in self.initial_model().state_dict().items()}


def load_npz(path: Path) -> Dataset:
    """The ``features`` and ``labels`` arrays of an .npz file; `TaskError` naming the
    file and what is wrong."""
    try:
        with np.load(path) as archive:
            missing = [k for k in ("features", "labels") if k not in archive.files]
            if missing:
                raise TaskError(f"{path}: no {' or '.join(repr(m) for m in missing)} array "
                                f"(an .npz with 'features' and 'labels' is expected; found {archive.files})")
            features, labels = archive["features"], archive["labels"]
    except FileNotFoundError as exc:
        raise TaskError(f"{path}: no such data file") from exc
    except (OSError, ValueError) as exc:
        raise TaskError(f"{path}: not a readable .npz file ({exc})") from exc
    return Dataset(np.asarray(features, dtype=np.float32), np.asarray(labels))


# ---------------------------------------------------------------- loading


def load_task(entry_point: str) -> Task:
    """The task named by `entry_point`: a built-in name (``"wine"``), ``module:attr``
    or ``path/to/file.py:attr``. The attribute may be a `Task` instance or class."""
    target = BUILTIN_TASKS.get(entry_point, entry_point)
    if ":" not in target:
        raise TaskError(f"unknown task {entry_point!r}: expected a built-in ({', '.join(BUILTIN_TASKS)}), "
                        f"'module:attribute' or 'path/to/file.py:attribute'")
    where, _, attr = target.rpartition(":")
    try:
        module = _import_file(Path(where)) if where.endswith(".py") else importlib.import_module(where)
    except TaskError:
        raise
    except Exception as exc:  # noqa: BLE001 - a user's module may raise anything while importing
        raise TaskError(f"cannot load task {entry_point!r}: {type(exc).__name__}: {exc}") from exc
    obj = getattr(module, attr, None)
    if obj is None:
        raise TaskError(f"cannot load task {entry_point!r}: {where} has no attribute {attr!r}")
    task = obj() if isinstance(obj, type) and issubclass(obj, Task) else obj
    if not isinstance(task, Task):
        raise TaskError(f"task {entry_point!r} is a {type(task).__name__}, not a derelayl.Task")
    if not task.name or not task.input_shape or not task.labels:
        raise TaskError(f"task {entry_point!r} must set name, input_shape and labels")
    return task


def _import_file(path: Path):
    if not path.is_file():
        raise TaskError(f"cannot load task: no file {path}")
    name = f"derelayl_user_task_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"cannot load task: {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------- the spec


def task_spec(task: Task, entry_point: str) -> dict[str, Any]:
    """The task spec document of `task`, loadable from `entry_point`."""
    from derelayl import __version__

    return {
        "format": SPEC_FORMAT,
        "name": task.name,
        "entry_point": entry_point,
        "input_shape": list(task.input_shape),
        "labels": [int(v) for v in task.labels],
        "metric": task.metric,
        "tensors": task.tensor_shapes(),
        "hyperparameters": dict(task.hyperparameters),
        "score_floor": float(task.score_floor),
        "sdk_version": __version__,
    }


def spec_bytes(spec: dict[str, Any]) -> bytes:
    """The canonical bytes of a spec (sorted keys, no spaces): what is pinned."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()


_SPEC_FIELDS = {"format": str, "name": str, "entry_point": str, "input_shape": list, "labels": list,
                "metric": str, "tensors": dict, "hyperparameters": dict, "score_floor": (int, float),
                "sdk_version": str}


def parse_spec(data: bytes, source: str) -> dict[str, Any]:
    """The spec in `data` (fetched from `source`, e.g. its CID), checked for form."""
    try:
        spec = json.loads(data)
    except ValueError as exc:
        raise TaskError(f"task spec {source}: not JSON ({exc})") from exc
    if not isinstance(spec, dict):
        raise TaskError(f"task spec {source}: not a JSON object")
    for field, kind in _SPEC_FIELDS.items():
        if field not in spec:
            raise TaskError(f"task spec {source}: no {field!r} field")
        if not isinstance(spec[field], kind):
            raise TaskError(f"task spec {source}: {field!r} is {type(spec[field]).__name__}, not {kind}")
    if spec["format"] != SPEC_FORMAT:
        raise TaskError(f"task spec {source}: format {spec['format']!r}, this SDK reads {SPEC_FORMAT!r}")
    return spec


def check_task(task: Task, spec: dict[str, Any]) -> Task:
    """`task` set to the spec's hyperparameters, or `TaskMismatch` naming the first
    thing that differs between the participant's task code and the spec on chain."""
    mine = task_spec(task, spec["entry_point"])
    for field in ("name", "input_shape", "labels", "metric"):
        if mine[field] != spec[field]:
            raise TaskMismatch(f"the task here has {field} {mine[field]!r}, the deployment's spec says {spec[field]!r}")
    ours, theirs = mine["tensors"], spec["tensors"]
    if ours.keys() != theirs.keys():
        missing, extra = sorted(theirs.keys() - ours.keys()), sorted(ours.keys() - theirs.keys())
        raise TaskMismatch(f"the task's model here has different tensors than the spec: missing {missing}, "
                           f"not in the spec {extra}")
    for name, shape in theirs.items():
        if ours[name] != shape:
            raise TaskMismatch(f"tensor {name} has shape {ours[name]} here, the spec says {shape}")
    unknown = sorted(spec["hyperparameters"].keys() - {*task.hyperparameters, *DEFAULT_HYPERPARAMETERS})
    if unknown:
        raise TaskMismatch(f"the spec's hyperparameters {unknown} are unknown to the task here")
    return task.with_hyperparameters(spec["hyperparameters"])


def check_data(task: Task, data: Dataset, source: str) -> None:
    """`TaskMismatch` naming `source` unless `data` has the task's input shape and
    labels from its label set."""
    if len(data.features) != len(data.labels):
        raise TaskMismatch(f"{source}: {len(data.features)} feature rows but {len(data.labels)} labels")
    if len(data) == 0:
        raise TaskMismatch(f"{source}: holds no samples")
    if tuple(data.features.shape[1:]) != tuple(task.input_shape):
        raise TaskMismatch(f"{source}: features have shape (n, {', '.join(map(str, data.features.shape[1:]))}), "
                           f"the task {task.name} wants (n, {', '.join(map(str, task.input_shape))})")
    if not np.issubdtype(data.labels.dtype, np.integer):
        raise TaskMismatch(f"{source}: labels are {data.labels.dtype}, the task wants integers")
    stray = sorted(set(np.unique(data.labels).tolist()) - set(task.labels))
    if stray:
        raise TaskMismatch(f"{source}: labels {stray[:5]} are not in the task's label set {list(task.labels)}")
