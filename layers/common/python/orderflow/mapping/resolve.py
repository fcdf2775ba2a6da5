"""Mapping resolution (pure): which keys an order needs, and the order with those keys applied.

An account-specific mapping beats the group's general one. The order's account is, first found:
the accounts mapping of its billing company (``company`` = name, B2B orders), the group's catch-all
(``ProviderName`` = ``BigCommerce``, every order of the store to one account), else the customer
record the order was matched to (one account per customer, created on a customer's first order).
A missing price list is not an error (the store's prices stand); a missing product or unit is.
Nothing is fetched here: the caller's lookup reads the keys in a few requests (store/mappings.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orderflow.models.order import (
    SOURCE_BIGCOMMERCE,
    Mapping,
    MappingIssue,
    MappingKey,
    MappingKind,
    Order,
    OrderLine,
)

PROVIDER_FIELD = "ProviderName"
PROVIDER_VALUE = "BigCommerce"
COMPANY_FIELD = "company"
# Keys a lookup answers in one request (store/mappings.py: one BatchGetItem); more may read partitions whole.
ONE_READ = 100

Lookup = Callable[[Iterable[MappingKey]], dict[MappingKey, Mapping]]


def provider_value(order: Order) -> str:
    """The ProviderName a group's catch-all account and price list are keyed on: BigCommerce for the
    store's orders, the source's provider name for another source's (POST /orders)."""
    return PROVIDER_VALUE if order.source == SOURCE_BIGCOMMERCE else order.source


def header_keys(order: Order) -> list[MappingKey]:
    """Account candidates, most specific first, then the group's general price list."""
    group, provider = order.mapping_group, provider_value(order)
    keys = [
        MappingKey(MappingKind.ACCOUNTS, group, PROVIDER_FIELD, provider),
        MappingKey(MappingKind.PRICE_LISTS, group, PROVIDER_FIELD, provider),
    ]
    company = order.customer.company.strip()
    if company:
        keys.insert(0, MappingKey(MappingKind.ACCOUNTS, group, COMPANY_FIELD, company))
    return keys


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
                    MappingKind.PRICE_LISTS,
                    order.mapping_group,
                    PROVIDER_FIELD,
                    provider_value(order),
                    account,
                )
            )
    return sorted(keys, key=lambda k: (k.kind.value, k.field_value, k.account or ""))


def map_order(order: Order, lookup: Lookup) -> Order:
    """Resolve account, price list, and every line's product and unit; record every miss.

    The lines' keys depend on the account, which the header's keys decide. While they are few, they
    are asked with the header's, for the customer record's account (the account unless an accounts
    mapping names another): a small order of a group without accounts mappings takes one lookup, and
    the keys of another account, when a mapping names one, a second. More keys than one lookup reads
    at once are asked after the header's, for the account found: a group's partition read whole for
    them is then read once, not for a guess and again for the account."""
    keys = header_keys(order)
    asked = {*keys, *line_keys(order, order.customer.record_id)}
    if len(asked) > ONE_READ:
        asked = set(keys)
    found = lookup(asked)
    account = next(
        (found[k].value for k in keys if k.kind is MappingKind.ACCOUNTS and k in found),
        order.customer.record_id,
    )
    issues: list[MappingIssue] = []
    if account is None:
        message = (
            "no account: the order has no customer to match (no billing email) and mapping group "
            f"'{order.mapping_group}' has no accounts mapping {PROVIDER_FIELD}='{provider_value(order)}'"
        )
        issues.append(
            MappingIssue(
                kind=MappingKind.ACCOUNTS, field=PROVIDER_FIELD, value=provider_value(order), message=message
            )
        )
    rest = [key for key in line_keys(order, account) if key not in asked]
    if rest:
        found.update(lookup(rest))
    price_list = _value(found, keys[-1], account)
    lines = [_map_line(line, order.mapping_group, account, found) for line in order.lines]
    return order.model_copy(
        update={"account": account, "price_list": price_list, "lines": lines, "mapping_issues": issues}
    )


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
