import pytest
from shop.models import Cart, Item


def test_add_counts_quantities():
    cart = Cart()
    pen = Item("p1", "Pen", 150)
    cart.add(pen, 2)
    cart.add(pen)
    assert cart.count() == 3


def test_add_rejects_zero_quantity():
    with pytest.raises(ValueError):
        Cart().add(Item("p1", "Pen", 150), 0)
