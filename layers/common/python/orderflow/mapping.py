"""Mapping resolution (pure): which keys an order needs, and the order with those keys applied.

An account-specific mapping beats the group's general one. Nothing is fetched here: the caller looks
the keys up in one batch (store/mappings.py) and hands back what it found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orderflow.models import Mapping, MappingIssue, MappingKey, MappingKind, Order, OrderLine

PROVIDER_FIELD = "ProviderName"
PROVIDER_VALUE = "BigCommerce"

Lookup = Callable[[Iterable[MappingKey]], dict[MappingKey, Mapping]]


def header_keys(order: Order) -> list[MappingKey]:
    group = order.mapping_group
    return [
        MappingKey(MappingKind.ACCOUNTS, group, PROVIDER_FIELD, PROVIDER_VALUE),
        MappingKey(MappingKind.PRICE_LISTS, group, PROVIDER_FIELD, PROVIDER_VALUE),
    ]


def line_keys(order: Order, account: str | None) -> list[MappingKey]:
    """Both variants of every key: the general one and, when the order has an account, its own."""
    accounts = [None, account] if account else [None]
    keys: set[MappingKey] = set()
    for line in order.lines:
        for acct in accounts:
            keys.add(MappingKey(MappingKind.PRODUCTS, order.mapping_group, "sku", line.sku, acct))
            keys.add(MappingKey(MappingKind.UNITS, order.mapping_group, "unit", line.external_unit, acct))
        if account:
            keys.add(
                MappingKey(
                    MappingKind.PRICE_LISTS, order.mapping_group, PROVIDER_FIELD, PROVIDER_VALUE, account
                )
            )
    return sorted(keys, key=lambda k: (k.kind.value, k.field_value, k.account or ""))


def map_order(order: Order, lookup: Lookup) -> Order:
    """Resolve account, price list, and every line's product and unit; record every miss."""
    found = lookup(header_keys(order))
    account = _value(found, header_keys(order)[0], None)
    found.update(lookup(line_keys(order, account)))
    price_list = _value(found, header_keys(order)[1], account)
    lines = [_map_line(line, order.mapping_group, account, found) for line in order.lines]
    return order.model_copy(update={"account": account, "price_list": price_list, "lines": lines})


def _map_line(
    line: OrderLine, group: str, account: str | None, found: dict[MappingKey, Mapping]
) -> OrderLine:
    issues: list[MappingIssue] = []
    resolved: dict[str, str | None] = {}
    for target, kind, field, value in (
        ("product", MappingKind.PRODUCTS, "sku", line.sku),
        ("unit", MappingKind.UNITS, "unit", line.external_unit),
    ):
        resolved[target] = _value(found, MappingKey(kind, group, field, value), account)
        if resolved[target] is None:
            message = f"no {target} mapping for {field} '{value}' in mapping group '{group}'"
            issues.append(MappingIssue(kind=kind, field=field, value=value, message=message))
    return line.model_copy(update={**resolved, "mapping_issues": issues})


def _value(found: dict[MappingKey, Mapping], general: MappingKey, account: str | None) -> str | None:
    if account:
        specific = MappingKey(general.kind, general.group, general.field_name, general.field_value, account)
        if specific in found:
            return found[specific].value
    mapping = found.get(general)
    return mapping.value if mapping else None
