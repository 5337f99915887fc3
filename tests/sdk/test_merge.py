"""The merge turn's math (derelayl.merge): averages and robust merges of state dicts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from derelayl.merge import MERGES, average, clipped_mean, coordinate_median, trimmed_mean


def states(*values: float) -> list[dict[str, torch.Tensor]]:
    """One state dict per value: a 2x2 weight filled with it and an integer counter."""
    return [{"w": torch.full((2, 2), v), "count": torch.tensor(7)} for v in values]


def test_average_is_the_mean_and_weights_count():
    assert torch.allclose(average(states(1.0, 2.0, 6.0))["w"], torch.full((2, 2), 3.0))
    assert torch.allclose(average(states(0.0, 4.0), weights=[3, 1])["w"], torch.full((2, 2), 1.0))


def test_average_of_one_model_is_that_model_and_inputs_are_untouched():
    inputs = states(1.5, 2.5)
    before = [s["w"].clone() for s in inputs]
    assert torch.equal(average(inputs[:1])["w"], inputs[0]["w"])
    for merge in (average, coordinate_median, trimmed_mean):
        merge(states(1.0, 2.0, 3.0))
    average(inputs)
    assert all(torch.equal(s["w"], b) for s, b in zip(inputs, before))


def test_median_odd_and_even():
    assert torch.allclose(coordinate_median(states(5.0, 1.0, 3.0))["w"], torch.full((2, 2), 3.0))
    assert torch.allclose(coordinate_median(states(4.0, 1.0, 3.0, 2.0))["w"], torch.full((2, 2), 2.5))


def test_median_is_coordinate_wise():
    a = {"w": torch.tensor([0.0, 10.0, 5.0])}
    b = {"w": torch.tensor([1.0, 0.0, 5.0])}
    c = {"w": torch.tensor([2.0, 20.0, -5.0])}
    assert torch.equal(coordinate_median([a, b, c])["w"], torch.tensor([1.0, 10.0, 5.0]))


def test_trimmed_mean_drops_the_extremes():
    assert torch.allclose(trimmed_mean(states(-100.0, 1.0, 2.0, 3.0, 100.0), trim=1)["w"], torch.full((2, 2), 2.0))
    assert torch.allclose(trimmed_mean(states(1.0, 2.0, 6.0), trim=0)["w"], torch.full((2, 2), 3.0))
    with pytest.raises(ValueError, match="more than 2"):
        trimmed_mean(states(1.0, 2.0), trim=1)


def test_robust_merges_ignore_one_garbage_model_the_mean_does_not():
    good = states(1.0, 1.1, 0.9, 1.05)
    garbage = states(-1000.0)
    merged = {name: merge(good + garbage)["w"] for name, merge in MERGES.items()}
    assert merged["mean"].min() < -100
    for name in ("median", "trimmed"):
        assert 0.9 <= merged[name].min() and merged[name].max() <= 1.1
    # clipped: the garbage pulls by the radius (0.1 per entry here) over 5 models
    assert 0.95 <= merged["clipped"].min() and merged["clipped"].max() <= 1.05


def test_clipped_mean_keeps_a_lone_models_direction_the_trimmed_mean_drops_it():
    # Entry 1 moves in one model only (the one trainer that holds a label); the rest agree.
    models = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([1.1, 0.0])}, {"w": torch.tensor([0.9, 0.0])},
              {"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([1.0, 0.4])}]
    assert trimmed_mean(models, trim=1)["w"][1] == 0
    clipped = clipped_mean(models)["w"]
    # the lone model's difference (0, 0.4) is clipped to the median length 0.1: it adds 0.1 / 5 to entry 1
    assert torch.allclose(clipped, torch.tensor([1.0, 0.02]), atol=1e-6)


def test_clipped_mean_is_the_mean_when_every_model_is_within_the_radius():
    # Two models at the same distance from the median: nobody is clipped.
    assert torch.allclose(clipped_mean(states(1.0, 3.0))["w"], torch.full((2, 2), 2.0))
    assert torch.equal(clipped_mean(states(2.5))["w"], torch.full((2, 2), 2.5))


def test_clipped_mean_around_a_given_start_bounds_each_update():
    start = {"w": torch.zeros(2), "count": torch.tensor(1)}
    # updates of length 1, 1 and 100 (the last one bad): the radius is 1, the bad one counts as (0, 1)
    models = [{"w": torch.tensor([1.0, 0.0]), "count": torch.tensor(2)}, {"w": torch.tensor([0.0, 1.0]),
              "count": torch.tensor(3)}, {"w": torch.tensor([0.0, 100.0]), "count": torch.tensor(4)}]
    merged = clipped_mean(models, center=start)
    assert torch.allclose(merged["w"], torch.tensor([1 / 3, 2 / 3]))
    assert merged["count"].item() == 2  # integer tensors from the first model, not from the start
    with pytest.raises(ValueError, match="shape"):
        clipped_mean(models, center={"w": torch.zeros(3), "count": torch.tensor(1)})


def test_clipped_mean_bounds_a_bad_models_pull_by_the_radius_over_the_count():
    generator = torch.Generator().manual_seed(3)
    good = [{"a": torch.randn(4, 3, generator=generator), "b": torch.randn(3, generator=generator)} for _ in range(6)]
    center = coordinate_median(good + [{"a": torch.full((4, 3), 1e6), "b": torch.full((3,), -1e6)}])
    merged = clipped_mean(good + [{"a": torch.full((4, 3), 1e6), "b": torch.full((3,), -1e6)}])
    lengths = sorted(float(torch.sqrt(((g["a"] - center["a"]) ** 2).sum() + ((g["b"] - center["b"]) ** 2).sum()))
                     for g in good)
    moved = torch.sqrt(((merged["a"] - center["a"]) ** 2).sum() + ((merged["b"] - center["b"]) ** 2).sum())
    assert moved <= lengths[3] + 1e-5  # the radius is at most the 4th-nearest good model's length; 7 pulls / 7


def test_integer_tensors_are_taken_from_the_first_and_dtypes_kept():
    merged = coordinate_median([{"w": torch.ones(2, dtype=torch.float32), "count": torch.tensor(3)},
                                {"w": torch.zeros(2, dtype=torch.float32), "count": torch.tensor(9)}])
    assert merged["count"].item() == 3 and merged["w"].dtype == torch.float32


def test_a_merge_loads_into_the_model():
    models = [nn.Linear(3, 2) for _ in range(3)]
    merged = coordinate_median([m.state_dict() for m in models])
    target = nn.Linear(3, 2)
    target.load_state_dict(merged)
    stack = torch.stack([m.weight.detach() for m in models])
    assert torch.allclose(target.weight, stack.median(dim=0).values)


@pytest.mark.parametrize("bad", [
    [],
    [{"w": torch.zeros(2)}, {"v": torch.zeros(2)}],
    [{"w": torch.zeros(2)}, {"w": torch.zeros(3)}],
])
def test_mismatched_inputs_are_refused(bad):
    with pytest.raises(ValueError):
        average(bad)


def test_bad_weights_are_refused():
    with pytest.raises(ValueError):
        average(states(1.0, 2.0), weights=[1.0])
    with pytest.raises(ValueError):
        average(states(1.0, 2.0), weights=[0.0, 0.0])


def test_the_settings_file_names_the_same_merges_as_the_merge_module():
    """participant.json's `merge` field is checked without importing torch, against a
    list of names that must stay the module's."""
    from derelayl.participant_settings import MERGE_NAMES

    assert sorted(MERGE_NAMES) == sorted(MERGES)
