"""A tiny shop: items, carts and prices."""
