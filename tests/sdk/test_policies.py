"""The bidding policies never offer what the contract refuses; the candidate bid policies keep an offer's deposit."""

from derelayl import TOKEN, PolicyView, default_price
from derelayl.policies import (BID_POLICIES, PRICE_POLICIES, capped_bid, capped_quarter_bid, default_bid,
                               fraction_bid, minimum_price, reserve_bid)


def view(credit, min_price, k=4):
    return PolicyView(credit=credit, latest_version=3, own_version=3, k=k, min_price=min_price)


def test_default_price_never_offers_below_the_minimum():
    """Class 7 (issue 17): with a minimum price, the authors' policy (credit / k) would
    offer less than the contract takes when credit is low: it offers the minimum when
    the credit covers k of it, and nothing otherwise."""
    floor = TOKEN // 100
    assert default_price(view(10 * TOKEN, floor)) == TOKEN // 4  # budget 1 token / k
    assert default_price(view(4 * floor, floor)) == floor  # exactly k x the minimum
    assert default_price(view(4 * floor + 3, floor)) == floor
    assert default_price(view(4 * floor - 1, floor)) is None  # cannot cover k slots: no offer
    assert default_price(view(0, floor)) is None
    assert default_price(view(0, 0)) == 0  # no minimum (tests): as before
    for credit in range(0, 10 * floor, floor // 7):
        price = default_price(view(credit, floor))
        assert price is None or (price >= floor and price * 4 <= credit)


def bid_view(credit, latest=5, own=-1, min_price=TOKEN // 100, k=4):
    return PolicyView(credit=credit, latest_version=latest, own_version=own, k=k, min_price=min_price)


def test_default_bid_is_unchanged():
    """The authors' policy bids its whole credit when the version gap exceeds it."""
    assert default_bid(bid_view(10 * TOKEN, latest=3, own=3)) == TOKEN
    assert default_bid(bid_view(10 * TOKEN, latest=5, own=-1)) == 7 * TOKEN
    assert default_bid(bid_view(3 * TOKEN)) == 3 * TOKEN  # the whole credit
    assert default_bid(bid_view(0)) == 0


def test_candidate_bids_keep_the_offer_deposit():
    """reserve, fraction and capped never leave less than k x min_price, never bid more
    than the default policy, and never bid below 0."""
    reserve = 4 * (TOKEN // 100)
    for policy in (reserve_bid, fraction_bid, capped_bid, capped_quarter_bid):
        for credit in [0, 1, reserve - 1, reserve, reserve + 1, TOKEN, 3 * TOKEN + 7, 10 * TOKEN, 100 * TOKEN]:
            for latest, own in ((0, -1), (3, 3), (5, -1), (40, 2)):
                v = bid_view(credit, latest, own)
                bid = policy(v)
                assert 0 <= bid <= default_bid(v), (policy.__name__, credit, latest, own)
                assert bid == 0 or credit - bid >= reserve, (policy.__name__, credit, latest, own)


def test_candidate_bids_values():
    reserve = 4 * (TOKEN // 100)
    assert reserve_bid(bid_view(3 * TOKEN)) == 3 * TOKEN - reserve  # default would bid all 3
    assert reserve_bid(bid_view(10 * TOKEN, latest=3, own=3)) == TOKEN  # below the reserve: as the default
    assert reserve_bid(bid_view(reserve)) == 0
    assert fraction_bid(bid_view(10 * TOKEN)) == (10 * TOKEN - reserve) // 4
    assert fraction_bid(bid_view(10 * TOKEN), fraction=0.5) == (10 * TOKEN - reserve) // 2
    assert fraction_bid(bid_view(100 * TOKEN, latest=3, own=3)) == TOKEN  # the version gap still caps it
    assert capped_bid(bid_view(10 * TOKEN)) == TOKEN
    assert capped_bid(bid_view(TOKEN)) == TOKEN - reserve
    assert capped_bid(bid_view(10 * TOKEN), cap=TOKEN // 2) == TOKEN // 2
    assert capped_quarter_bid(bid_view(10 * TOKEN)) == TOKEN // 4
    assert capped_quarter_bid(bid_view(reserve + TOKEN // 10)) == TOKEN // 10
    # without a minimum price (TEST_PARAMS) nothing is reserved
    assert reserve_bid(bid_view(3 * TOKEN, min_price=0)) == 3 * TOKEN
    assert BID_POLICIES["default"] is default_bid


def test_candidate_bids_never_exceed_the_credit():
    for policy in BID_POLICIES.values():
        for credit in range(0, 2 * TOKEN, TOKEN // 13):
            assert policy(bid_view(credit, latest=60, own=-1)) <= credit


def test_minimum_price_offers_the_minimum_or_nothing():
    floor = TOKEN // 100
    assert minimum_price(view(10 * TOKEN, floor)) == floor  # default_price would offer 1/4 token
    assert minimum_price(view(4 * floor, floor)) == floor
    assert minimum_price(view(4 * floor - 1, floor)) is None
    assert minimum_price(view(0, 0)) == 0  # no minimum (tests): free offers
    assert PRICE_POLICIES["default"] is default_price
    for credit in range(0, 10 * floor, floor // 7):
        price = minimum_price(view(credit, floor))
        assert price is None or (price == floor and price * 4 <= credit)
