"""Filter and execution policies: what a merchant's rules match, the messages, and validation with paths."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from orderflow.models.order import Address, Customer, Order, OrderLine
from orderflow.models.returns import Return, ReturnLine, return_document
from orderflow.policies import (
    Policy,
    PolicyError,
    Rule,
    RuleGroup,
    check_execution_policies,
    decide_filters,
    evaluate_policy,
    evaluate_rules,
    parse_policy,
)
from orderflow.policies.evaluate import compare, resolve_field


def _line(number: int, **extra: Any) -> OrderLine:
    values: dict[str, Any] = {
        "line_number": number,
        "external_id": 100 + number,
        "sku": f"SKU-{number}",
        "name": f"Product {number}",
        "quantity": 1,
        "unit_price": Decimal("10.0000"),
        "total_inc_tax": Decimal("10.0000"),
        "product": f"Product {number}",
        "unit": "Each",
    }
    return OrderLine(**{**values, **extra})


def _order(**extra: Any) -> Order:
    values: dict[str, Any] = {
        "order_key": "BC-abc123-250",
        "store_hash": "abc123",
        "external_id": 250,
        "import_id": "BC-250",
        "currency": "USD",
        "subtotal_ex_tax": Decimal("92.5900"),
        "total_tax": Decimal("7.4100"),
        "total_inc_tax": Decimal("100.0000"),
        "payment_method": "Credit Card",
        "channel_id": 1,
        "order_source": "www",
        "customer": Customer(external_id=11, email="jo@example.com", first_name="Jo", company=""),
        "billing_address": Address(country_iso2="US", state="Texas", zip="78701"),
        "ship_to": [Address(country_iso2="CA", state="Ontario", zip="M5V 2T6")],
        "lines": [_line(1), _line(2)],
    }
    return Order(**{**values, **extra})


def _policy(kind: str = "filter", *rules: dict[str, Any], **extra: Any) -> Policy:
    data: dict[str, Any] = {"name": f"Test {kind} policy", "kind": kind, "rules": list(rules), **extra}
    if kind == "execution":
        data.setdefault("criticality", "critical")
    return parse_policy(data)


def _rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    rule = {"field": field, "operator": operator}
    return rule if value is None else {**rule, "value": value}


# --- filter policies on the order ---------------------------------------------------------------


def test_the_provider_filter_matches_bigcommerce_orders_and_not_orderful_ones() -> None:
    bigcommerce = _policy(
        "filter", _rule("provider", "equals", "BigCommerce"), name="Filter Policy - BigCommerce"
    )
    orderful = _policy("filter", _rule("provider", "equals", "Orderful"), name="Filter Policy - Orderful")
    order = _order()

    assert evaluate_policy(bigcommerce, order).matched
    result = evaluate_policy(orderful, order)
    assert not result.matched
    assert result.message == (
        "filter policy 'Filter Policy - Orderful' does not apply: provider equals Orderful does not hold"
    )


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (">", 100, False),  # the total is exactly 100.0000
        (">=", "100", True),
        ("equals", 100, True),
        ("<", "100.01", True),
        ("<=", 99.99, False),
        ("not equals", "100.00", False),
    ],
)
def test_money_compares_numerically_whatever_its_scale(operator: str, value: Any, expected: bool) -> None:
    policy = _policy("filter", _rule("total", operator, value))

    assert evaluate_policy(policy, _order(total_inc_tax=Decimal("100.0000"))).matched is expected


def test_a_large_order_over_100_matches_and_a_text_field_never_orders() -> None:
    over_100 = _policy("filter", _rule("total", ">", 100))
    currency_over_1 = Rule(field="currency", operator="greater_than", value=1)

    assert evaluate_policy(over_100, _order(total_inc_tax=Decimal("250.5000"))).matched
    # Ordering on text is simply false, never an error.
    assert not evaluate_rules([currency_over_1], _order().model_dump(mode="json"))
    assert evaluate_rules(
        RuleGroup(match="any", rules=[currency_over_1, *over_100.rules]), {"total_inc_tax": "101"}
    )


def test_all_and_any_groups_nest() -> None:
    # US or CA shipments, over 50, paid by card or invoice.
    policy = _policy(
        "filter",
        {"match": "any", "rules": [_rule("country", "equals", "US"), _rule("country", "equals", "ca")]},
        _rule("total", ">", 50),
        {
            "match": "any",
            "rules": [
                _rule("payment_method", "equals", "invoice"),
                {"rules": [_rule("payment_method", "equals", "credit card"), _rule("channel", "==", 1)]},
            ],
        },
    )

    assert evaluate_policy(policy, _order()).matched
    assert not evaluate_policy(policy, _order(channel_id=2)).matched
    assert not evaluate_policy(policy, _order(ship_to=[Address(country_iso2="MX")])).matched
    assert policy.describe() == (
        "order (country equals US or country equals ca) and total > 50 and "
        "(payment_method equals invoice or (payment_method equals credit card and channel equals 1))"
    )


def test_a_top_level_any_policy_holds_when_one_rule_does() -> None:
    policy = _policy("filter", _rule("channel", "equals", 2), _rule("currency", "equals", "usd"), match="any")

    assert evaluate_policy(policy, _order()).matched
    assert not evaluate_policy(policy, _order(currency="EUR")).matched


def test_contains_data_tells_an_empty_company_from_a_filled_one() -> None:
    has_company = _policy("filter", _rule("company", "contains data"))
    no_company = _policy("filter", _rule("company", "does not contain data"))
    business = _order(customer=Customer(external_id=11, company="Acme Ltd"))
    consumer = _order(customer=Customer(external_id=11, company=""))

    assert evaluate_policy(has_company, business).matched
    assert not evaluate_policy(no_company, business).matched
    assert not evaluate_policy(has_company, consumer).matched
    assert evaluate_policy(no_company, consumer).matched
    # An empty list has no data either.
    assert evaluate_policy(
        _policy("filter", _rule("ship_to", "does not contain data")), _order(ship_to=[])
    ).matched


def test_a_missing_field_fails_every_operator_but_not_equals_and_does_not_contain_data() -> None:
    order = _order(account=None, ship_to=[])  # no mapped account, no ship-to address
    document = order.model_dump(mode="json")

    for operator, value, expected in [
        ("equals", "Acme", False),
        ("not_equals", "Acme", True),
        (">", 1, False),
        ("<=", 1, False),
        ("contains_data", None, False),
        ("does_not_contain_data", None, True),
    ]:
        assert compare(resolve_field(document, "account"), operator, value) is expected, operator
        # A path that is not there at all behaves the same.
        assert compare(resolve_field(document, "ship_to[0].city"), operator, value) is expected, operator


def test_guest_orders_are_told_apart_from_registered_customers() -> None:
    guests_only = _policy("filter", _rule("guest", "equals", True))

    assert evaluate_policy(
        guests_only, _order(customer=Customer(external_id=0, email="g@example.com"))
    ).matched
    assert not evaluate_policy(guests_only, _order()).matched
    # "true" written as text means the same.
    assert evaluate_policy(
        _policy("filter", _rule("guest", "=", "TRUE")), _order(customer=Customer())
    ).matched


def test_country_falls_back_to_the_billing_address_without_a_ship_to_country() -> None:
    us_only = _policy("filter", _rule("country", "equals", "us"))

    assert not evaluate_policy(us_only, _order()).matched  # ships to Canada
    assert evaluate_policy(us_only, _order(ship_to=[])).matched  # billing is in the US
    assert evaluate_policy(us_only, _order(ship_to=[Address(city="Austin")])).matched  # no ship-to country
    assert evaluate_policy(
        _policy("filter", _rule("postal_code", "equals", "78701")), _order(ship_to=[])
    ).matched


def test_dotted_paths_and_computed_fields_reach_into_the_order() -> None:
    order = _order()

    assert evaluate_policy(_policy("filter", _rule("ship_to[0].state", "equals", "ontario")), order).matched
    assert evaluate_policy(_policy("filter", _rule("billing_address.zip", "equals", "78701")), order).matched
    assert evaluate_policy(_policy("filter", _rule("line_count", ">=", 2)), order).matched
    assert evaluate_policy(_policy("filter", _rule("status", "equals", "new")), order).matched
    assert evaluate_policy(
        _policy("filter", _rule("Customer_Email", "equals", "JO@example.com")), order
    ).matched


# --- line policies and filter decisions ---------------------------------------------------------


def test_a_line_filter_selects_the_lines_a_step_works_on() -> None:
    order = _order(lines=[_line(1, quantity=5), _line(2, quantity=1), _line(3, quantity=12)])
    bulk = _policy("filter", _rule("quantity", ">=", 5), applies_to="lines", name="Bulk lines")

    result = evaluate_policy(bulk, order)
    assert (result.matched, result.lines, result.failing_lines) == (True, [1, 3], [2])
    decision = decide_filters([bulk], order)
    assert (decision.applies, decision.lines, decision.reasons) == (True, [1, 3], [])


def test_a_step_is_skipped_when_no_line_or_any_filter_does_not_match() -> None:
    order = _order()
    big_lines = _policy("filter", _rule("quantity", ">", 100), applies_to="lines", name="Big lines")
    bigcommerce = _policy("filter", _rule("provider", "equals", "bigcommerce"), name="BigCommerce")
    orderful = _policy("filter", _rule("provider", "equals", "orderful"), name="Orderful")

    skipped = decide_filters([bigcommerce, big_lines], order)
    assert not skipped.applies
    assert skipped.reasons == ["filter policy 'Big lines' does not apply: no line matches quantity > 100"]
    assert not decide_filters([orderful], order).applies
    assert decide_filters([], order) == decide_filters([bigcommerce], order)
    assert decide_filters([], order).applies and decide_filters([], order).lines is None


def test_line_filters_together_select_only_the_lines_they_all_match() -> None:
    order = _order(lines=[_line(1, quantity=5), _line(2, quantity=9, sku="GIFT"), _line(3, quantity=7)])
    bulk = _policy("filter", _rule("quantity", ">=", 5), applies_to="lines", name="Bulk")
    gifts = _policy("filter", _rule("sku", "equals", "gift"), applies_to="lines", name="Gifts")
    small = _policy("filter", _rule("quantity", "<", 5), applies_to="lines", name="Small")

    assert decide_filters([bulk, gifts], order).lines == [2]
    disjoint = decide_filters(
        [gifts, _policy("filter", _rule("sku", "equals", "SKU-1"), applies_to="lines")], order
    )
    assert not disjoint.applies and disjoint.lines == []
    assert "no line matches every line filter policy" in disjoint.reasons[0]
    assert not decide_filters([bulk, small], order).applies


def test_a_line_execution_policy_names_the_lines_that_fail() -> None:
    order = _order(
        lines=[_line(1), _line(2, product=None), _line(3), _line(4, quantity=0), _line(5, product=None)]
    )
    policy = _policy(
        "execution",
        _rule("product", "contains data"),
        _rule("quantity", ">", 0),
        applies_to="lines",
        name="Line Validation Policy",
    )

    result = evaluate_policy(policy, order)
    assert (result.matched, result.lines, result.failing_lines) == (False, [1, 3], [2, 4, 5])
    assert result.message == (
        "execution policy 'Line Validation Policy' (critical): product contains data does not hold for "
        "lines 2, 5; quantity > 0 does not hold for line 4"
    )


def test_an_order_execution_policy_message_names_the_rule() -> None:
    policy = _policy(
        "execution",
        _rule("total_inc_tax", ">", 0),
        _rule("currency", "contains data"),
        name="Order header Validation Policy",
    )

    assert evaluate_policy(policy, _order()).matched
    result = evaluate_policy(policy, _order(total_inc_tax=Decimal("0.0000")))
    assert result.message == (
        "execution policy 'Order header Validation Policy' (critical): total_inc_tax > 0 does not hold"
    )


def test_critical_failures_fail_the_step_and_information_ones_are_only_recorded() -> None:
    order = _order(customer=Customer(external_id=0), lines=[_line(1), _line(2, unit=None)])
    needs_account = _policy(
        "execution", _rule("customer_email", "contains data"), name="Email present", criticality="information"
    )
    needs_units = _policy(
        "execution",
        _rule("unit", "contains data"),
        name="Units mapped",
        applies_to="lines",
        criticality="critical",
    )

    check = check_execution_policies([needs_account, needs_units], order)
    assert check.information == [
        "execution policy 'Email present' (information): customer_email contains data does not hold"
    ]
    assert check.critical == [
        "execution policy 'Units mapped' (critical): unit contains data does not hold for line 2"
    ]
    # When the filters selected only line 1, the unmapped line 2 is not this step's business.
    assert check_execution_policies([needs_units], order, lines=[1]).critical == []


def test_policies_of_the_wrong_kind_are_a_programming_error() -> None:
    a_filter = _policy("filter", _rule("provider", "equals", "bigcommerce"))
    an_execution = _policy("execution", _rule("total", ">", 0))

    with pytest.raises(ValueError, match="not execution policies"):
        check_execution_policies([a_filter], _order())
    with pytest.raises(ValueError, match="not filter policies"):
        decide_filters([an_execution], _order())


# --- definitions: validation, aliases, identity ------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("=", "equals"),
        ("==", "equals"),
        ("!=", "not_equals"),
        ("Not Equals", "not_equals"),
        (">", "greater_than"),
        ("greater than or equal", "greater_than_or_equal"),
        ("<", "less_than"),
        ("<=", "less_than_or_equal"),
        ("CONTAINS DATA", "contains_data"),
        ("does_not_contain_data", "does_not_contain_data"),
        ("does not  contain data", "does_not_contain_data"),
    ],
)
def test_operator_aliases_are_normalised(alias: str, canonical: str) -> None:
    value = None if "contain" in canonical else 1
    policy = _policy("filter", _rule("channel", alias, value))

    rule = policy.rules[0]
    assert isinstance(rule, Rule) and rule.operator == canonical


def test_a_policy_has_an_id_and_stripped_text() -> None:
    policy = parse_policy(
        {
            "name": "  Order header Validation Policy ",
            "kind": "execution",
            "criticality": "critical",
            "rules": [{"field": " total ", "operator": " > ", "value": " 0 "}],
        }
    )

    assert policy.name == "Order header Validation Policy"
    assert policy.id == "order-header-validation-policy"
    assert policy.status == "draft" and policy.applies_to == "order"
    assert policy.describe() == "order total > 0"


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    return caught.value.problems


def _execution(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "Checks", "kind": "execution", "criticality": "critical", "rules": list(rules), **extra}


def test_an_unknown_field_is_named_with_the_known_ones() -> None:
    problems = _problems(_execution(_rule("total", ">", 0), {"rules": [_rule("totl", ">", 0)]}))

    assert len(problems) == 1
    assert problems[0].startswith(
        "rules[1].rules[0].field: unknown field 'totl' for an order policy (known: "
    )
    assert "provider, channel, order_source" in problems[0] and "ship_to[0].city" in problems[0]


def test_fields_depend_on_what_the_policy_applies_to() -> None:
    assert "for an order policy" in _problems(_execution(_rule("sku", "equals", "A")))[0]
    line_problems = _problems(_execution(_rule("country", "equals", "US"), applies_to="lines"))
    assert line_problems[0].startswith(
        "rules[0].field: unknown field 'country' for a line policy (known: sku,"
    )
    # Paths are checked by their first segment against the model.
    assert parse_policy(_execution(_rule("mapping_issues[0].kind", "equals", "units"), applies_to="lines"))
    assert _problems(_execution(_rule("shipto[0].city", "equals", "Austin")))[0].startswith(
        "rules[0].field: unknown field 'shipto[0].city'"
    )


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (_rule("total", "equals"), "rules[0].value: 'equals' needs a value to compare with"),
        (
            _rule("company", "contains data", "Acme"),
            "rules[0].value: 'contains data' takes no value (got 'Acme'): it checks the field is filled in",
        ),
        (_rule("total", ">", "lots"), "rules[0].value: '>' compares numbers, and 'lots' is not a number"),
        (_rule("total", "<=", True), "rules[0].value: '<=' compares numbers, and True is not a number"),
        (
            _rule("total", "like", "1"),
            "rules[0].operator: unknown operator 'like' (known: equals, not equals, >, >=, <, <=, "
            "contains data, does not contain data; or =, ==, !=)",
        ),
        (
            {"field": "total", "operator": "=", "value": 1, "values": [1]},
            "rules[0].values: Extra inputs are not permitted",
        ),
    ],
)
def test_rule_mistakes_are_reported_with_their_path(rule: dict[str, Any], problem: str) -> None:
    assert _problems(_execution(rule)) == [problem]


def test_criticality_must_fit_the_kind_of_policy() -> None:
    missing = {"name": "Checks", "kind": "execution", "rules": [_rule("total", ">", 0)]}
    on_a_filter = {
        "name": "BC",
        "kind": "filter",
        "criticality": "critical",
        "rules": [_rule("total", ">", 0)],
    }

    assert _problems(missing) == [
        "criticality: an execution policy needs a criticality: 'information' (a failure is recorded and "
        "the step continues) or 'critical' (a failure fails the step)"
    ]
    assert _problems(on_a_filter) == [
        "criticality: a filter policy has no criticality (it only decides whether a step applies); remove it"
    ]


def test_empty_rules_and_every_other_mistake_are_reported_together() -> None:
    problems = _problems(
        {
            "name": "",
            "kind": "execution",
            "criticality": "urgent",
            "rules": [{"match": "any", "rules": []}, _rule("total", "~", 1), {"value": 1}],
        }
    )

    assert problems == [
        "name: String should have at least 1 character",
        "criticality: Input should be 'information' or 'critical'",
        "rules[0].rules: needs at least one rule",
        "rules[1].operator: unknown operator '~' (known: equals, not equals, >, >=, <, <=, contains data, "
        "does not contain data; or =, ==, !=)",
        "rules[2].field: Field required",
        "rules[2].operator: Field required",
    ]
    assert _problems({"name": "No rules", "kind": "filter", "rules": []}) == [
        "rules: needs at least one rule"
    ]


# --- return policies (return flows) -----------------------------------------------------------------


def _a_return(**changes: Any) -> Return:
    fields: dict[str, Any] = {
        "return_id": "BC-250-R1",
        "order_key": "BC-abc123-250",
        "lines": [
            ReturnLine(line_number=1, sku="SKU-1", quantity=1, reason="damaged", condition="opened",
                       unit_price=Decimal("80.00")),
            ReturnLine(line_number=2, sku="SKU-2", quantity=2, reason="too small", unit_price=Decimal("15.00")),
        ],
        "requested_at": "2026-12-03T10:00:00.000Z",
        "shipped_at": "2026-11-20T09:00:00.000Z",
    }  # fmt: skip
    return Return.model_validate({**fields, **changes})


def test_a_return_policy_names_only_return_fields_or_paths_into_the_return() -> None:
    # Given return policies naming an order field, an unknown field, and return fields and paths
    order_field = _problems(_execution(_rule("total", ">", 100), applies_to="return"))
    unknown = _problems(_execution({"rules": [_rule("colour", "equals", "red")]}, applies_to="return"))

    # Then the order's and unknown fields are refused with their path and the return's fields listed
    assert order_field[0].startswith(
        "rules[0].field: unknown field 'total' for a return policy (known: reason,"
    )
    assert "days_since_shipment" in order_field[0] and "lines[0].sku or note" in order_field[0]
    assert unknown[0].startswith("rules[0].rules[0].field: unknown field 'colour' for a return policy")
    for field in ("reason", "condition", "value", "quantity", "days_since_shipment", "resolution", "origin",
                  "status", "line_count", "lines[0].sku", "reasons", "note"):  # fmt: skip
        assert parse_policy(_execution(_rule(field, "contains data"), applies_to="return"))
    # And a return field is no order field
    assert "for an order policy" in _problems(_execution(_rule("days_since_shipment", "<=", 30)))[0]


def test_return_filters_and_checks_read_the_return_document() -> None:
    # Given a return of 110.00 asked 13 days after the shipment, its first line damaged
    document = return_document(_a_return())
    damaged = _policy("filter", _rule("reason", "equals", "Damaged"), applies_to="return", name="Damaged")
    large = _policy("filter", _rule("value", ">", 200), applies_to="return", name="Large returns")
    window = _policy("execution", _rule("days_since_shipment", "<=", 30), applies_to="return", name="Window")
    short = _policy("execution", _rule("days_since_shipment", "<=", 7), applies_to="return", name="Week")

    # When the filters and checks are evaluated on it
    decision = decide_filters([damaged, large], _order(), document)
    checks = check_execution_policies([window, short], _order(), None, document)

    # Then each reads the return, not the order (whose total is 100.00), and says which rule failed
    assert decide_filters([damaged], _order(), document).applies
    assert not decision.applies
    assert decision.reasons == ["filter policy 'Large returns' does not apply: value > 200 does not hold"]
    assert checks.critical == ["execution policy 'Week' (critical): days_since_shipment <= 7 does not hold"]
    # And a return not yet shipped has no days since shipment: a window cannot hold for it
    unshipped = return_document(_a_return(shipped_at=None))
    assert check_execution_policies([window], _order(), None, unshipped).critical
