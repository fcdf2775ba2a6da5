"""Invoices, in their order's partition of the Orders table (``sk = "INVOICE#<number>"``)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Key

from orderflow import clock
from orderflow.models.fulfillment import Invoice
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, storable

INVOICE_PREFIX = "INVOICE#"


class InvoiceRepository(TableRepository):
    def create(self, invoice: Invoice) -> Invoice:
        """Store the invoice; the one stored already under its number if there is one (a retried
        step), so an invoice's number and contents never change once made."""
        try:
            self.table.put_item(Item=_item(invoice), ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            existing = self.find(invoice.order_key, invoice.number)
            assert existing is not None  # the condition failed because it exists
            return existing
        return invoice

    def find(self, order_key: str, number: str) -> Invoice | None:
        item = self.table.get_item(
            Key={"pk": order_key, "sk": f"{INVOICE_PREFIX}{number}"}, ConsistentRead=True
        ).get("Item")
        return _model(item) if item else None

    def for_order(self, order_key: str) -> list[Invoice]:
        items = self.query_all(Key("pk").eq(order_key) & Key("sk").begins_with(INVOICE_PREFIX))
        return [_model(item) for item in items]

    def mark_sent(self, invoice: Invoice, reference: str) -> Invoice:
        sent_at = clock.iso()
        self.table.update_item(
            Key={"pk": invoice.order_key, "sk": f"{INVOICE_PREFIX}{invoice.number}"},
            UpdateExpression="SET sent_at = :at, provider_reference = :ref",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": sent_at, ":ref": reference},
        )
        return invoice.model_copy(update={"sent_at": sent_at})


def _item(invoice: Invoice) -> dict[str, Any]:
    return {
        "pk": invoice.order_key,
        "sk": f"{INVOICE_PREFIX}{invoice.number}",
        "entity": "INVOICE",
        **storable(invoice.model_dump(mode="json")),
    }


def _model(item: dict[str, Any]) -> Invoice:
    return Invoice.model_validate(plain(item))
