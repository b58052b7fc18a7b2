"""Items and carts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """Something for sale, priced in cents."""

    sku: str
    name: str
    price_cents: int


@dataclass
class Cart:
    """Items a customer wants, with quantities."""

    lines: dict[str, int] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item, quantity: int = 1) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.items[item.sku] = item
        self.lines[item.sku] = self.lines.get(item.sku, 0) + quantity

    def remove(self, sku: str) -> None:
        self.lines.pop(sku, None)
        self.items.pop(sku, None)

    def count(self) -> int:
        return sum(self.lines.values())
