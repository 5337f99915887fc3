"""The lineage rewards of a merge relay (docs/merge.md): `RelayProtocol` keeps one
`MergeLineage` when it plays the merge turn.

In a merge relay every accepted model of layer L+1 descends from all the models of
layer L, and through them from every earlier layer, so counting descendants per
parent (as the plain relay does for single parents) would pay each layer as many
times as it has models. Instead each accepted model of a later layer owes one
`lineage_reward` to each of the `horizon` layers before it, shared equally by that
layer's models. Settlement appends one number per layer, the count of accepted models
in layers 0..L; what a model has earned is then

    (count[min(latest, L + horizon, cut[L])] - count[L]) * lineage_reward // models_in_L

a fixed number of stored entries whatever the depth. A claim records how many later
models it counted (its units) and pays what was earned less what the count of its
last claim had earned. The integer division leaves each model less than one base
unit short, so a layer's models are together never paid more than their descendants
owe.

A fallback (the relay gives up a frontier that nobody improves and offers the layer
before it again) appends a layer of no models and cuts the layer given up: it earns
nothing from the layers after the cut, which descend from the layer before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from derelayl.errors import ConfigurationError


@dataclass
class MergeLineage:
    """The lineage ledger of a merge relay: `settle` once per accepted layer and
    `fall_back` once per fallback layer, then `owed` and `claim` per model, each
    reading a fixed number of entries. Amounts are token base units; units are later
    accepted models counted."""

    lineage_reward: int
    horizon: int  # the layers after its own from which a model earns
    cumulative: list[int] = field(default_factory=lambda: [1])  # accepted models in layers 0..L (genesis: 1)
    sizes: list[int] = field(default_factory=lambda: [1])  # models per layer (a fallback layer: 0)
    cut: dict[int, int] = field(default_factory=dict)  # layer given up -> the last layer that pays it
    counted: dict[tuple[int, int], int] = field(default_factory=dict)  # (layer, index) -> units its claims counted

    def __post_init__(self) -> None:
        if self.lineage_reward < 0 or self.horizon < 1:
            raise ConfigurationError(f"lineage_reward must be >= 0 and horizon >= 1, got {self.lineage_reward} "
                                     f"and {self.horizon}")

    def settle(self, accepted: int) -> int:
        """Appends a layer of `accepted` models (at least one: a round that accepts
        nothing adds no layer) and returns its number."""
        if accepted < 1:
            raise ConfigurationError(f"a layer holds at least one model, got {accepted}")
        return self._append(accepted)

    def fall_back(self, given_up: int) -> int:
        """Appends the empty layer of a fallback from layer `given_up` (whose models
        nobody improved) and returns its number: `given_up` earns nothing from it or
        from any layer after it."""
        if not 0 < given_up < len(self.sizes) or self.sizes[given_up] == 0:
            raise ConfigurationError(f"layer {given_up} holds no models to give up ({len(self.sizes)} layers)")
        self.cut[given_up] = len(self.sizes) - 1
        return self._append(0)

    def _append(self, accepted: int) -> int:
        self.cumulative.append(self.cumulative[-1] + accepted)
        self.sizes.append(accepted)
        return len(self.sizes) - 1

    def last_paying(self, layer: int) -> int:
        """The newest layer whose models pay `layer` now: the horizon's end, the cut,
        or the newest layer if earlier."""
        return min(len(self.cumulative) - 1, layer + self.horizon, self.cut.get(layer, layer + self.horizon))

    def units(self, layer: int) -> int:
        """The accepted models that pay `layer` now (each pays its models together one
        `lineage_reward`)."""
        return self.cumulative[self.last_paying(layer)] - self.cumulative[layer]

    def earned(self, layer: int, index: int) -> int:
        """What model `index` of `layer` has earned so far (base units)."""
        self._check(layer, index)
        return self.units(layer) * self.lineage_reward // self.sizes[layer]

    def unclaimed(self, layer: int, index: int) -> int:
        """The units a claim by model `index` of `layer` would count now."""
        self._check(layer, index)
        return self.units(layer) - self.counted.get((layer, index), 0)

    def owed(self, layer: int, index: int) -> int:
        """What a claim by model `index` of `layer` would pay now (base units)."""
        counted = self.counted.get((layer, index), 0)
        return self.earned(layer, index) - counted * self.lineage_reward // self.sizes[layer]

    def closed(self, layer: int) -> bool:
        """Whether `layer` can earn no more: its horizon has passed or it was cut."""
        return layer in self.cut or len(self.sizes) - 1 >= layer + self.horizon

    def claim(self, layer: int, index: int) -> int:
        """Pays model `index` of `layer` what it earned since its last claim."""
        self._check(layer, index)
        units, size = self.units(layer), self.sizes[layer]
        before = self.counted.get((layer, index), 0)
        self.counted[(layer, index)] = units
        return units * self.lineage_reward // size - before * self.lineage_reward // size

    def _check(self, layer: int, index: int) -> None:
        if not 0 <= layer < len(self.sizes) or not 0 <= index < self.sizes[layer]:
            raise ConfigurationError(f"no model {index} in layer {layer} ({len(self.sizes)} layers)")
