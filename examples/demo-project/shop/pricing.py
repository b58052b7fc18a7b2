"""Prices, discounts and totals."""

from __future__ import annotations

from shop.models import Cart


def apply_discount(price_cents: int, percent: float) -> int:
    """Price after a percentage discount, rounded to the nearest cent.

    >>> apply_discount(1000, 15)
    850
    """
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return round(price_cents * (100 - percent) / 100)


def cart_total(cart: Cart, discount_percent: float = 0.0) -> int:
    """Total of a cart in cents, after an optional discount on every line."""
    total = 0
    for sku, quantity in cart.lines.items():
        item = cart.items[sku]
        total += apply_discount(item.price_cents, discount_percent) * quantity
    return total


def format_cents(cents: int) -> str:
    """Cents as a price string, e.g. 1234 -> '$12.34'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100}.{cents % 100:02d}"
