"""Built-in order checks (pure). Each returns every problem found, each naming what is wrong."""

from __future__ import annotations

from typing import Protocol

from orderflow.errors import InvalidInput
from orderflow.models.order import Order
from orderflow.models.step import StepOutcome, StepRequest


class OrderReader(Protocol):
    def get(self, order_key: str) -> Order: ...


def check_header(order: Order) -> list[str]:
    problems: list[str] = []
    if not order.lines:
        problems.append("the order has no lines")
    if not order.currency:
        problems.append("currency is missing")
    if not (order.customer.email or order.billing_address.email):
        problems.append("the customer has no email address")
    if order.total_inc_tax < 0:
        problems.append(f"total_inc_tax is negative ({order.total_inc_tax})")
    if not order.ship_to:
        problems.append("the order has no shipping address")
    return problems


def check_lines(order: Order, lines: list[int] | None = None) -> list[str]:
    """Every line, or only the given line numbers (a step's line filter policy chose them)."""
    problems: list[str] = []
    for line in order.lines:
        if lines is not None and line.line_number not in lines:
            continue
        label = f"line {line.line_number} (SKU '{line.sku}')"
        problems.extend(f"{label}: {issue.message}" for issue in line.mapping_issues)
        if line.quantity <= 0:
            problems.append(f"{label}: quantity must be positive (got {line.quantity})")
        if line.unit_price < 0:
            problems.append(f"{label}: unit price is negative ({line.unit_price})")
    return problems


def validate_order(request: StepRequest, orders: OrderReader) -> StepOutcome:
    """The validate_order_header and validate_order_line actions."""
    order = orders.get(request.order_key)
    if request.action == "validate_order_header":
        problems, subject = check_header(order), "header"
    elif request.action == "validate_order_line":
        count = len(order.lines) if request.lines is None else len(request.lines)
        problems, subject = check_lines(order, request.lines), f"{count} lines"
    else:
        raise InvalidInput(f"the validation function does not perform '{request.action}'", field="action")
    if problems:
        return StepOutcome(succeeded=False, message="; ".join(problems), details={"problems": problems})
    return StepOutcome(succeeded=True, message=f"{subject} valid")
