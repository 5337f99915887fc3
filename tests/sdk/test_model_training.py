"""derelayl.training: real training on digits, determinism, and weights that are
corrupted, truncated or of the wrong shape are refused, never loaded."""

import numpy as np
import pytest
import torch

from derelayl.training import (
    ModelSpec,
    WeightsError,
    dirichlet_split,
    evaluate,
    load_digits_data,
    load_weights,
    save_weights,
    train_turn,
)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits_data()
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_turn_of_training_learns_digits(digits, kind):
    x, y, x_test, y_test = digits
    spec = ModelSpec(kind=kind)
    model = spec.build(seed=1)
    before = evaluate(model, x_test, y_test)
    train_turn(model, x, y, epochs=5, seed=1)
    after = evaluate(model, x_test, y_test)
    assert before < 0.3 and after > 0.85


def test_training_is_deterministic_under_a_seed(digits):
    x, y, _, _ = digits
    runs = [save_weights(train_turn(ModelSpec().build(seed=3), x[:300], y[:300], epochs=2, seed=7)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_weights_round_trip(digits):
    spec = ModelSpec(kind="cnn")
    model = spec.build(seed=2)
    restored = load_weights(spec, save_weights(model))
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)


def test_truncated_weights_are_refused():
    data = save_weights(ModelSpec().build())
    with pytest.raises(WeightsError, match="safetensors"):
        load_weights(ModelSpec(), data[:-100])


def test_garbage_is_refused():
    with pytest.raises(WeightsError):
        load_weights(ModelSpec(), b"\x00" * 64)


def test_weights_of_another_architecture_are_refused():
    with pytest.raises(WeightsError, match="missing"):
        load_weights(ModelSpec(kind="mlp"), save_weights(ModelSpec(kind="cnn").build()))


def test_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(WeightsError, match="shape"):
        load_weights(ModelSpec(hidden=64), save_weights(ModelSpec(hidden=32).build()))


def test_non_finite_weights_are_refused():
    model = ModelSpec().build()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    with pytest.raises(WeightsError, match="NaN"):
        load_weights(ModelSpec(), save_weights(model))


@pytest.mark.parametrize("alpha", [100.0, 0.1])
def test_dirichlet_split_partitions_every_sample(alpha):
    _, y = load_digits_data()
    parts = dirichlet_split(y, 8, alpha, seed=0)
    joined = np.sort(np.concatenate(parts))
    assert np.array_equal(joined, np.arange(len(y)))


def test_small_alpha_skews_labels():
    _, y = load_digits_data()
    def mean_classes(alpha):
        return np.mean([len(np.unique(y[p])) for p in dirichlet_split(y, 8, alpha, seed=0) if len(p)])
    assert mean_classes(0.1) < mean_classes(100.0) == 10
