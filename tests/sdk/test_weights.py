"""derelayl.weights.load_weights on its fast path (model built on the meta device,
tensors taken as read) and its fallback: what comes out is exactly what went in, is
trainable, and anything non-finite is refused."""

import pytest
import torch
from torch import nn

from derelayl.task import Task
from derelayl.weights import WeightsError, load_weights, save_weights


class WithBuffers(Task):
    """BatchNorm (float and int64 buffers) and a non-persistent buffer, which a model
    built on the meta device would leave uninitialised."""

    name = "with-buffers"
    input_shape = (4,)
    labels = (0, 1)

    def build_model(self) -> nn.Module:
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
        model.register_buffer("scale", torch.full((2,), 0.5), persistent=False)
        return model


class Plain(Task):
    name = "plain"
    input_shape = (4,)
    labels = (0, 1)

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


@pytest.mark.parametrize("task", [Plain(), WithBuffers()], ids=["meta", "fallback"])
def test_loaded_model_holds_the_weights_and_trains(task):
    torch.manual_seed(0)
    original = task.build_model()
    data = save_weights(original)
    model = load_weights(task, data)
    assert save_weights(model) == data
    assert all(p.requires_grad and not p.is_meta for p in model.parameters())
    assert not any(b.is_meta for b in model.buffers())
    if isinstance(task, WithBuffers):
        assert torch.equal(model.scale, torch.full((2,), 0.5))
    loss = model(torch.randn(5, 4)).sum()
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert save_weights(model) != data
    assert save_weights(load_weights(task, data)) == data  # a second load does not share the first's tensors


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_any_non_finite_value_is_refused(value):
    model = Plain().build_model()
    with torch.no_grad():
        model[3].weight[1, 7] = value
    with pytest.raises(WeightsError, match=r"tensor 3\.weight holds NaN or infinite"):
        load_weights(Plain(), save_weights(model))


def test_other_dtypes_are_cast_to_the_models():
    model = Plain().build_model()
    data = save_weights(model.double())
    loaded = load_weights(Plain(), data)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert torch.allclose(loaded[0].weight, model[0].weight.float())
