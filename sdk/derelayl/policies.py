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


def offer_reserve(view: PolicyView) -> int:
    """What an offer at the minimum price deposits: k x min_price (0 without a minimum)."""
    return view.k * view.min_price


def reserve_bid(view: PolicyView) -> int:
    """`default_bid`, but never so much that less than an offer's deposit (k x min_price)
    is left: a trainer whose child is accepted can then always offer it. A candidate,
    not the default (docs/efficacy.md, "Bid policies under the deployed rules")."""
    return max(0, min(default_bid(view), view.credit - offer_reserve(view)))


def fraction_bid(view: PolicyView, fraction: float = 0.25) -> int:
    """`reserve_bid`, but at most `fraction` of the credit above the reserve: a run of
    rejections shrinks the bids geometrically instead of emptying the credit. A
    candidate, not the default."""
    spare = max(0, view.credit - offer_reserve(view))
    return min(reserve_bid(view), int(spare * fraction))


def capped_bid(view: PolicyView, cap: int = TOKEN) -> int:
    """`reserve_bid`, but at most `cap` (1 token): a rejected child costs at most one
    token. A candidate, not the default."""
    return min(reserve_bid(view), cap)


def capped_quarter_bid(view: PolicyView) -> int:
    """`capped_bid` at a quarter of a token. A candidate, not the default."""
    return capped_bid(view, TOKEN // 4)


#: The bid policies by name (the efficacy benchmark's ``--bid-policy``).
BID_POLICIES = {"default": default_bid, "reserve": reserve_bid, "fraction": fraction_bid, "capped": capped_bid,
                "capped-quarter": capped_quarter_bid}


def default_price(view: PolicyView, budget: int = TOKEN) -> int | None:
    """The authors' MO policy: min(balance, budget) / k per trainer, but never below
    the deployment's minimum price (the contract refuses it): the minimum when the
    credit covers k of it, else None (offer nothing this round)."""
    price = min(view.credit, budget) // view.k
    return price if price >= view.min_price else minimum_price(view)


def minimum_price(view: PolicyView) -> int | None:
    """An MO that offers the deployment's minimum price whatever its credit (None when
    its credit cannot cover k of it): an owner whose children are rejected then loses
    k x min_price a round at most, instead of `default_price`'s credit / k per slot
    (all its credit below the 1-token budget). A candidate, not the default: the
    price is also what a trainer gets if the owner never delivers the key, so a lower
    price is a smaller remedy."""
    return view.min_price if view.credit >= offer_reserve(view) else None


#: The price policies by name (the efficacy benchmark's ``--price-policy``).
PRICE_POLICIES = {"default": default_price, "minimum": minimum_price}
