"""The ``send_to_accounting`` flow action: the order's accounting document, made once per revision and
type, stored with the order and handed to the step's provider once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol

from orderflow import clock
from orderflow.accounting.document import DOCUMENT_LABELS, build_document, document_key, skus_of
from orderflow.errors import ProviderUnavailable
from orderflow.fulfillment.providers import Document, Provider, ProviderError
from orderflow.models.order import BigCommerceSettings, Item, Order
from orderflow.models.step import StepOutcome, StepRequest
from orderflow.store.accounting import AccountingRecord, AccountingRepository

# What an SQS consumer tells this document by (providers.Document's kinds).
DOCUMENT_KIND: Literal["accounting_document"] = "accounting_document"


class Orders(Protocol):
    def get(self, order_key: str) -> Order: ...


class Items(Protocol):
    def get_many(self, skus: Iterable[str]) -> dict[str, Item]: ...


class Settings(Protocol):
    def bigcommerce(self) -> BigCommerceSettings: ...


class Providers(Protocol):
    """The step's provider, from its ``params`` (fulfillment/actions.py Providers)."""

    def for_step(self, request: StepRequest) -> Provider: ...


def send_to_accounting(
    request: StepRequest,
    orders: Orders,
    records: AccountingRepository,
    items: Items,
    settings: Settings,
    providers: Providers,
) -> StepOutcome:
    """Hand the order over as the document type its import-as says. A document stored and sent before
    (a retried step, a resubmit) is answered from the record, nothing sent; one stored but not taken
    yet is sent again as it was, under the same Idempotency-Key. A provider that cannot be reached is
    waited for on the flow's schedule; one that refuses the document fails the step with its words."""
    provider = providers.for_step(request)  # a step misconfigured fails before anything is made
    order = orders.get(request.order_key)
    current = settings.bigcommerce()
    key = document_key(order, current.document_type(order))
    record = records.find(order.order_key, key)
    if record is None:
        document = build_document(order, current, items.get_many(skus_of(order)))
        record = records.create(
            AccountingRecord(
                order_key=order.order_key,
                key=key,
                document_type=document.document_type,
                import_id=document.import_id,
                revision=document.revision,
                document=document.model_dump(mode="json"),
                created_at=clock.iso(),
            )
        )
    label = f"{DOCUMENT_LABELS.get(record.document_type, record.document_type)} {record.import_id}"
    details: dict[str, Any] = {
        "document_type": record.document_type,
        "import_id": record.import_id,
        "idempotency_key": record.key,
    }
    if record.sent_at:
        return StepOutcome(
            succeeded=True,
            message=f"{label} was sent before ({record.sent_at}): document {record.document_number}; "
            "nothing sent again",
            details={**details, "provider": record.provider, "document_number": record.document_number},
        )
    details["provider"] = provider.name
    try:
        number = provider.send(Document(DOCUMENT_KIND, record.key, record.order_key, record.document))
    except ProviderError as exc:
        if not exc.permanent:
            raise ProviderUnavailable(exc.message) from exc  # sent again on the flow's long schedule
        return StepOutcome(succeeded=False, message=exc.message, details=details)
    records.mark_sent(record, provider.name, number)
    return StepOutcome(
        succeeded=True,
        message=f"{label} ({record.document.get('total_inc_tax')} {record.document.get('currency')}) "
        f"accepted by the {provider.name} provider as document {number}",
        details={**details, "document_number": number},
    )
