"""Default bidding policies (DESIGN section 1, from the authors' simulation), pluggable:
a policy is any function of a `PolicyView` that returns an amount in base units.
Used by the participant agent and by the simulator alike."""

from __future__ import annotations

from dataclasses import dataclass

from derelayl.params import TOKEN


@dataclass
class PolicyView:
    """What a bidding policy may look at."""

    credit: int  # withdrawable credit, in token base units
    latest_version: int  # newest lineage layer
    own_version: int  # newest layer of a model this participant holds (-1: none)
    k: int
    min_price: int = 0  # the deployment's lowest price per trainer (params.min_price)


def default_bid(view: PolicyView) -> int:
    """The authors' trainer policy: min(balance, V_latest - V_own + 1) tokens."""
    return min(view.credit, (view.latest_version - view.own_version + 1) * TOKEN)


def default_price(view: PolicyView, budget: int = TOKEN) -> int | None:
    """The authors' MO policy: min(balance, budget) / k per trainer, but never below
    the deployment's minimum price (the contract refuses it): the minimum when the
    credit covers k of it, else None (offer nothing this round)."""
    price = min(view.credit, budget) // view.k
    if price >= view.min_price:
        return price
    return view.min_price if view.credit >= view.min_price * view.k else None
