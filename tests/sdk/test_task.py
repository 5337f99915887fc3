"""derelayl.task: built-in and user tasks train for real, weights that do not fit a
task's model are refused, and a participant's task code and data are checked against
the task spec, each mismatch refused with one line naming what differs."""

import json

import numpy as np
import pytest
import torch

from derelayl import Dataset, Task, TaskError, TaskMismatch, load_task, task_spec
from derelayl.task import check_data, check_task, parse_spec, spec_bytes
from derelayl.tasks.digits import DigitsTask, load_digits_data
from derelayl.training import dirichlet_split
from derelayl.weights import WeightsError, load_weights, save_weights

EXAMPLE = "examples/iris_task.py:task"


def halves(data: Dataset, seed: int = 0) -> tuple[Dataset, Dataset]:
    order = np.random.default_rng(seed).permutation(len(data))
    return data.subset(order[: len(data) * 3 // 4]), data.subset(order[len(data) * 3 // 4 :])


@pytest.mark.parametrize("name, least", [("digits-mlp", 0.85), ("digits-cnn", 0.85), ("wine", 0.85),
                                         ("breast-cancer", 0.9)])
def test_a_turn_of_the_builtin_tasks_learns(name, least):
    task = load_task(name)
    train, test = halves(task.example_data())
    model = task.initial_model(seed=1)
    before = task.evaluate(model, test)
    task.train(model, train, seed=1)
    after = task.evaluate(model, test)
    assert after > least and after > before + 0.2, (before, after)


def test_the_example_task_is_written_as_a_user_would_and_learns(tmp_path):
    """examples/iris_task.py imports only derelayl (and torch, scikit-learn), its metric
    is macro F1, and its data comes from .npz files like any participant's."""
    import examples.iris_task as example

    assert "derelayl." not in open(EXAMPLE.split(":")[0]).read().replace("derelayl.task/", "")
    task = load_task(EXAMPLE)
    assert (task.name, task.metric, task.input_shape) == ("iris-mlp", "macro_f1", (4,))
    train_path, test_path = example.write_example_data(tmp_path, 2)
    train, test = task.load_data(train_path), task.load_data(test_path)
    model = task.initial_model(seed=0)
    task.train(model, train, seed=0)
    assert task.evaluate(model, test) > 0.85


def test_training_is_deterministic_under_a_seed():
    task = load_task("digits-mlp")
    data = task.example_data().subset(np.arange(300))
    runs = []
    for _ in range(2):
        model = task.initial_model(seed=3)
        task.with_hyperparameters({**task.hyperparameters, "epochs": 2}).train(model, data, seed=7)
        runs.append(save_weights(model))
    assert runs[0] == runs[1]


def test_weights_round_trip():
    task = load_task("digits-cnn")
    model = task.initial_model(seed=2)
    restored = load_weights(task, save_weights(model))
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)


def test_truncated_or_garbage_weights_are_refused():
    task = load_task("wine")
    data = save_weights(task.initial_model())
    with pytest.raises(WeightsError, match="safetensors"):
        load_weights(task, data[:-100])
    with pytest.raises(WeightsError):
        load_weights(task, b"\x00" * 64)


def test_weights_of_another_task_or_shape_are_refused():
    with pytest.raises(WeightsError, match="missing"):
        load_weights(load_task("digits-mlp"), save_weights(load_task("digits-cnn").initial_model()))
    with pytest.raises(WeightsError, match="shape"):
        load_weights(DigitsTask(hidden=64), save_weights(DigitsTask(hidden=32).initial_model()))


def test_non_finite_weights_are_refused():
    task = load_task("digits-mlp")
    model = task.initial_model()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(WeightsError, match="NaN"):
        load_weights(task, save_weights(model))


@pytest.mark.parametrize("alpha", [100.0, 0.1])
def test_dirichlet_split_partitions_every_sample(alpha):
    y = load_digits_data().labels
    parts = dirichlet_split(y, 8, alpha, seed=0)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(y)))


def test_small_alpha_skews_labels():
    y = load_digits_data().labels

    def mean_classes(alpha):
        return np.mean([len(np.unique(y[p])) for p in dirichlet_split(y, 8, alpha, seed=0) if len(p)])

    assert mean_classes(0.1) < mean_classes(100.0) == 10


# ------------------------------------------------------------ loading tasks


def test_tasks_load_by_builtin_name_module_or_file():
    assert load_task("wine").name == "wine"
    assert load_task("derelayl.tasks.digits:cnn").name == "digits-cnn"
    assert load_task(EXAMPLE).name == "iris-mlp"
    assert load_task("derelayl.tasks.digits:DigitsTask").name == "digits-mlp"  # a class is instantiated


@pytest.mark.parametrize("entry_point, message", [
    ("mnist", "unknown task 'mnist'"),
    ("nosuch/task.py:task", "no file nosuch/task.py"),
    ("derelayl.nosuch:task", "No module named 'derelayl.nosuch'"),
    ("derelayl.tasks.digits:nosuch", "has no attribute 'nosuch'"),
    ("derelayl.tasks.digits:load_digits_data", "not a derelayl.Task"),
])
def test_a_task_that_cannot_be_loaded_is_named(entry_point, message):
    with pytest.raises(TaskError, match=message):
        load_task(entry_point)


# -------------------------------------------------------------- the spec


def test_the_spec_records_what_participants_must_agree_on():
    spec = task_spec(load_task("wine"), "wine")
    assert spec["format"] == "derelayl.task/1" and spec["entry_point"] == "wine"
    assert spec["input_shape"] == [13] and spec["labels"] == [0, 1, 2] and spec["metric"] == "balanced_accuracy"
    assert spec["tensors"]["1.weight"] == [32, 13] and spec["hyperparameters"]["epochs"] == 20
    assert spec["sdk_version"]
    assert parse_spec(spec_bytes(spec), "Qm...") == spec


def test_the_same_task_passes_and_takes_the_specs_hyperparameters():
    spec = task_spec(load_task("digits-mlp").with_hyperparameters({"epochs": 20, "lr": 0.1}), "digits-mlp")
    checked = check_task(load_task("digits-mlp"), spec)
    assert checked.hyperparameters == {"epochs": 20, "lr": 0.1}


@pytest.mark.parametrize("other, message", [
    (DigitsTask(hidden=32), r"tensor 1.weight has shape \[32, 64\] here, the spec says \[64, 64\]"),
    (DigitsTask("cnn"), "has name 'digits-cnn', the deployment's spec says 'digits-mlp'"),
])
def test_a_task_that_differs_from_the_spec_is_refused_with_what_differs(other, message):
    spec = task_spec(load_task("digits-mlp"), "digits-mlp")
    with pytest.raises(TaskMismatch, match=message):
        check_task(other, spec)


def test_a_different_metric_or_input_shape_is_refused():
    spec = task_spec(load_task("digits-mlp"), "digits-mlp")

    class Recall(DigitsTask):
        metric = "recall"

    with pytest.raises(TaskMismatch, match="metric 'recall'"):
        check_task(Recall(), spec)
    with pytest.raises(TaskMismatch, match="input_shape"):
        check_task(load_task("digits-mlp"), {**spec, "input_shape": [64]})
    with pytest.raises(TaskMismatch, match=r"hyperparameters \['warmup'\] are unknown"):
        check_task(load_task("digits-mlp"), {**spec, "hyperparameters": {"warmup": 3}})


@pytest.mark.parametrize("data, message", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"format": "derelayl.task/1"}).encode(), "no 'name' field"),
])
def test_a_malformed_spec_is_named(data, message):
    with pytest.raises(TaskError, match=message):
        parse_spec(data, "QmSpec")


def test_a_spec_of_another_format_is_refused():
    spec = {**task_spec(load_task("wine"), "wine"), "format": "derelayl.task/9"}
    with pytest.raises(TaskError, match="format 'derelayl.task/9'"):
        parse_spec(spec_bytes(spec), "QmSpec")


# ---------------------------------------------------------------- the data


@pytest.mark.parametrize("features, labels, message", [
    (np.zeros((5, 64), np.float32), np.zeros(5, np.int64), r"features have shape \(n, 64\), the task digits-mlp "
                                                           r"wants \(n, 1, 8, 8\)"),
    (np.zeros((5, 1, 8, 8), np.float32), np.full(5, 12), r"labels \[12\] are not in the task's label set"),
    (np.zeros((5, 1, 8, 8), np.float32), np.zeros(5, np.float32), "labels are float32"),
    (np.zeros((0, 1, 8, 8), np.float32), np.zeros(0, np.int64), "holds no samples"),
    (np.zeros((5, 1, 8, 8), np.float32), np.zeros(4, np.int64), "5 feature rows but 4 labels"),
])
def test_data_of_the_wrong_shape_or_labels_is_refused(features, labels, message):
    with pytest.raises(TaskMismatch, match=message):
        check_data(load_task("digits-mlp"), Dataset(features, labels), "data.npz")


def test_a_data_file_without_its_arrays_is_named(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros(3))
    with pytest.raises(TaskError, match="no 'features' or 'labels' array"):
        Task().load_data(tmp_path / "d.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(TaskError, match="not a readable .npz file"):
        Task().load_data(tmp_path / "junk.npz")
    with pytest.raises(TaskError, match="no such data file"):
        Task().load_data(tmp_path / "none.npz")


def test_the_class_balanced_loss_weighs_every_present_class_the_same():
    """A share of 9 samples of class 0 and 1 of class 3: class 3 weighs 9 times class 0,
    absent classes 0, and each present class's weights sum to the same total."""
    from derelayl.training import class_weights

    y = torch.tensor([0] * 9 + [3])
    weights = class_weights(load_task("digits-mlp").initial_model(), torch.zeros(10, 1, 8, 8), y)
    assert weights.shape == (10,) and weights[3] == pytest.approx(9 * weights[0])
    assert weights[[1, 2, 4, 5, 6, 7, 8, 9]].sum() == 0
    assert (weights[y].sum() / 2).item() == pytest.approx(weights[0].item() * 9)


def test_a_class_balanced_turn_learns_a_minority_class_a_plain_turn_ignores():
    """On a share where digit 1 is 5% of the samples, the class-balanced turn (the
    `class_balanced` hyperparameter) recalls more of digit 1 on a balanced test set."""
    task = load_task("digits-mlp")
    data = task.example_data()
    train, test = halves(data, seed=3)
    keep = np.flatnonzero((train.labels != 1) | (np.arange(len(train)) % 20 == 0))
    skewed = train.subset(keep)
    recall = {}
    for balanced in (False, True):
        model = task.initial_model(seed=0)
        turn = task.with_hyperparameters({**task.hyperparameters, "class_balanced": balanced})
        turn.train(model, skewed, seed=0)
        ones = test.subset(np.flatnonzero(test.labels == 1))
        recall[balanced] = task.evaluate(model, ones)
    assert recall[True] > recall[False], recall
