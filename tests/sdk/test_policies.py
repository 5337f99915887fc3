"""The default bidding policies never offer what the contract refuses."""

from derelayl import TOKEN, PolicyView, default_price


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
