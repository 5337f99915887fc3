"""The merge turn's lineage rewards (derelayl.merge_lineage, docs/merge.md): exact
equal shares per layer, a horizon, claims of the difference, and reads that do not grow
with depth."""

from __future__ import annotations

import random

import pytest

from derelayl.errors import ConfigurationError
from derelayl.merge_lineage import MergeLineage


def ledger(*sizes: int, reward: int = 10, horizon: int = 100) -> MergeLineage:
    lineage = MergeLineage(lineage_reward=reward, horizon=horizon)
    for size in sizes:
        lineage.settle(size)
    return lineage


def test_every_later_model_pays_each_earlier_layer_once_shared_equally():
    lineage = ledger(3, 2, 4)  # layers 1..3 after the genesis
    assert lineage.earned(0, 0) == (3 + 2 + 4) * 10  # the genesis: every later model
    assert [lineage.earned(1, i) for i in range(3)] == [(2 + 4) * 10 // 3] * 3  # 20 each
    assert [lineage.earned(2, i) for i in range(2)] == [4 * 10 // 2] * 2
    assert [lineage.earned(3, i) for i in range(4)] == [0] * 4


def test_a_layer_is_never_paid_more_than_its_descendants_owe_and_less_than_one_unit_short_each():
    rng = random.Random(19)
    for _ in range(200):
        lineage = ledger(*[rng.randint(1, 7) for _ in range(rng.randint(1, 12))], reward=rng.randint(0, 10**6),
                         horizon=rng.randint(1, 15))
        for layer, size in enumerate(lineage.sizes):
            last = min(len(lineage.sizes) - 1, layer + lineage.horizon)
            owed = sum(lineage.sizes[layer + 1:last + 1]) * lineage.lineage_reward
            paid = sum(lineage.earned(layer, i) for i in range(size))
            assert owed - size < paid <= owed


def test_a_model_earns_only_from_the_layers_within_the_horizon():
    lineage = ledger(2, 2, 2, 2, reward=6, horizon=2)
    assert lineage.earned(0, 0) == (2 + 2) * 6  # layers 1 and 2, not 3 and 4
    assert lineage.earned(1, 1) == (2 + 2) * 6 // 2  # layers 2 and 3
    assert lineage.earned(3, 0) == 2 * 6 // 2  # layer 4 only: nothing later yet


def test_a_claim_pays_what_was_earned_since_the_last_one():
    lineage = ledger(2, reward=10)
    assert lineage.claim(0, 0) == 20
    assert lineage.claim(0, 0) == 0
    lineage.settle(3)
    assert lineage.claim(0, 0) == 30
    assert lineage.claim(1, 0) == 15 and lineage.claim(1, 1) == 15 and lineage.claim(1, 1) == 0


class CountingList(list):
    reads = 0

    def __getitem__(self, index):
        CountingList.reads += 1
        return super().__getitem__(index)


def test_a_claim_reads_the_same_few_entries_whatever_the_depth():
    reads = {}
    for depth in (3, 1000):
        lineage = ledger(*[2] * depth)
        lineage.cumulative, lineage.sizes = CountingList(lineage.cumulative), CountingList(lineage.sizes)
        CountingList.reads = 0
        lineage.claim(1, 0)
        reads[depth] = CountingList.reads
    assert reads == {3: 4, 1000: 4}  # two counts, and the layer's size twice (the check and the share)


@pytest.mark.parametrize("bad", [dict(lineage_reward=-1, horizon=1), dict(lineage_reward=1, horizon=0)])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ConfigurationError):
        MergeLineage(**bad)


def test_an_empty_layer_and_an_unknown_model_are_refused():
    lineage = ledger(2)
    with pytest.raises(ConfigurationError, match="at least one model"):
        lineage.settle(0)
    with pytest.raises(ConfigurationError, match="no model 2 in layer 1"):
        lineage.earned(1, 2)
    with pytest.raises(ConfigurationError, match="no model 0 in layer 5"):
        lineage.claim(5, 0)


def test_a_fallback_cuts_the_layer_given_up_and_appends_an_empty_layer():
    lineage = ledger(2, 3, reward=6, horizon=5)  # layers 1 and 2
    assert lineage.fall_back(2) == 3 and lineage.sizes[3] == 0
    assert lineage.earned(2, 0) == 0 and lineage.closed(2)  # nobody improved it: it earns nothing
    lineage.settle(4)  # layer 4 descends from layer 1, offered again
    assert lineage.earned(1, 0) == (3 + 4) * 6 // 2  # layer 1 earns from its children in 2, and from 4
    assert lineage.earned(2, 2) == 0
    assert lineage.fall_back(4) == 5 and lineage.fall_back(1) == 6  # again, then the layer before
    assert lineage.earned(1, 1) == (3 + 4) * 6 // 2 and lineage.closed(1)
    for bad in (0, 3, 7):  # the genesis, an empty layer, no layer
        with pytest.raises(ConfigurationError, match="holds no models to give up"):
            lineage.fall_back(bad)
