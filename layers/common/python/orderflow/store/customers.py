"""Customer records: one per store and email, created the first time an order brings a new one.

Key design, from the access patterns:
  ``pk = "customer#<store hash>#<email, lower case>"``: matching by email is a consistent GetItem,
  and creating is a put conditioned on that key being free, so two orders racing for the same new
  email create one record. ``ById`` answers ``GET /customers/{id}``; the sparse ``ByExternalKey``
  (``<store hash>#<BigCommerce customer id>``, registered customers only) matches by customer id.
  A contact's e-mail has an item of its own under the same key scheme, ``contact_of`` naming the
  customer's e-mail: matching by e-mail finds the customer through it (a second GetItem only then), and
  no new customer can take an e-mail a contact already has. It carries no ``id``, so it is in no index.
"""

from __future__ import annotations

import uuid
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeDeserializer

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.order import CustomerRecord
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    resource,
)

ID_INDEX = "ById"
CONTACT_OF = "contact_of"
# A customer and its contacts are written in one transaction (100 items at most).
MAX_CONTACTS = 50
EXTERNAL_INDEX = "ByExternalKey"
_TYPES = TypeDeserializer()


def normal_email(email: str) -> str:
    return email.strip().lower()


def record_key(store_hash: str, email: str) -> dict[str, str]:
    return {"pk": f"customer#{store_hash}#{normal_email(email)}"}


def external_key(store_hash: str, external_id: int) -> str:
    return f"{store_hash}#{external_id}"


def new_customer_id() -> str:
    return f"CUS-{uuid.uuid4().hex[:12].upper()}"


def _deserialised(item: dict[str, Any]) -> dict[str, Any]:
    """An item as an error hands it back (DynamoDB's typed JSON: the resource does not convert it)."""
    return {name: _TYPES.deserialize(value) for name, value in item.items()}


def contact_emails(record: CustomerRecord) -> set[str]:
    """The contacts' e-mails that are not the customer's own, as they are keyed."""
    own = normal_email(record.email)
    return {normal_email(c.email) for c in record.contacts if normal_email(c.email)} - {own}


class CustomerRepository(TableRepository):
    def by_email(self, store_hash: str, email: str) -> CustomerRecord | None:
        """The customer of that e-mail, or of the contact that has it."""
        item = self.table.get_item(Key=record_key(store_hash, email), ConsistentRead=True).get("Item")
        return self._record_of(store_hash, item) if item else None

    def _record_of(self, store_hash: str, item: dict[str, Any]) -> CustomerRecord | None:
        if CONTACT_OF not in item:
            return CustomerRecord.model_validate(item)
        own = self.table.get_item(Key=record_key(store_hash, str(item[CONTACT_OF])), ConsistentRead=True).get(
            "Item"
        )
        return CustomerRecord.model_validate(own) if own and CONTACT_OF not in own else None

    def by_external_id(self, store_hash: str, external_id: int) -> CustomerRecord | None:
        """The record of a registered BigCommerce customer (the index is eventually consistent: a
        record created a moment ago may not show yet, and the caller then matches by email)."""
        page = self.table.query(
            IndexName=EXTERNAL_INDEX,
            KeyConditionExpression=Key("external_key").eq(external_key(store_hash, external_id)),
        )
        items = sorted(page.get("Items", []), key=lambda i: str(i.get("created_at", "")))
        return CustomerRecord.model_validate(items[0]) if items else None

    def get(self, customer_id: str) -> CustomerRecord:
        page = self.table.query(IndexName=ID_INDEX, KeyConditionExpression=Key("id").eq(customer_id))
        items = page.get("Items", [])
        if not items:
            raise NotFound(f"no customer with id {customer_id}", field="customer_id")
        return CustomerRecord.model_validate(items[0])

    def create_if_absent(self, record: CustomerRecord) -> tuple[CustomerRecord, bool]:
        """Store the record unless one exists for its email; answer the stored one and whether it is
        new. One request either way: a refused write hands back the record that refused it."""
        record = record.model_copy(update={"email": normal_email(record.email)})
        try:
            self.table.put_item(
                Item=self._item(record),
                ConditionExpression=Attr("pk").not_exists(),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            stored = getattr(exc, "response", {}).get("Item")
            found = self._record_of(record.store_hash, _deserialised(stored)) if stored else None
            if found is not None:
                return found, False
            existing = self.by_email(record.store_hash, record.email)
            if existing is None:  # deleted between the two calls: nothing sensible left but to fail
                raise
            return existing, False
        return record, True

    def link_external_id(self, record: CustomerRecord, external_id: int) -> CustomerRecord:
        """A guest who has since registered: remember their BigCommerce customer id."""
        updated = record.model_copy(update={"external_id": external_id, "updated_at": clock.iso()})
        self.table.update_item(
            Key=record_key(record.store_hash, record.email),
            UpdateExpression="SET external_id = :id, external_key = :key, updated_at = :at",
            ExpressionAttributeValues={
                ":id": external_id,
                ":key": external_key(record.store_hash, external_id),
                ":at": updated.updated_at,
            },
        )
        return updated

    def page(self, limit: int = 50, cursor: str | None = None) -> tuple[list[CustomerRecord], str | None]:
        kwargs: dict[str, Any] = {"Limit": limit}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self.table.scan(**kwargs)
        records = [CustomerRecord.model_validate(i) for i in page.get("Items", []) if CONTACT_OF not in i]
        return records, encode_cursor(page.get("LastEvaluatedKey"))

    def create(self, record: CustomerRecord) -> CustomerRecord:
        """A customer an operator adds, with its contacts' e-mails, in one transaction; Conflict naming
        the e-mail that belongs to a customer (or a contact) already."""
        record = record.model_copy(update={"email": normal_email(record.email)})
        puts = [self._item(record), *self._contact_items(record, contact_emails(record))]
        self._transact(
            [self._put_new(item) for item in puts], record, [record.email, *sorted(contact_emails(record))]
        )
        return record

    def replace(self, current: CustomerRecord, changed: CustomerRecord) -> CustomerRecord:
        """Write an edited customer (its e-mail stays: it is the key), its contacts' e-mails added and
        removed with it; Conflict when it changed meanwhile or a new contact's e-mail is taken."""
        before, after = contact_emails(current), contact_emails(changed)
        added, removed = sorted(after - before), sorted(before - after)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": self._item(changed),
                    "ConditionExpression": "updated_at = :seen",
                    "ExpressionAttributeValues": {":seen": current.updated_at},
                }
            },
            *(self._put_new(item) for item in self._contact_items(changed, set(added))),
            *(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": record_key(changed.store_hash, email),
                        "ConditionExpression": "contact_of = :own",
                        "ExpressionAttributeValues": {":own": normal_email(changed.email)},
                    }
                }
                for email in removed
            ),
        ]
        self._transact(actions, changed, ["", *added, *removed])
        return changed

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(self, actions: list[dict[str, Any]], record: CustomerRecord, emails: list[str]) -> None:
        try:
            resource().meta.client.transact_write_items(TransactItems=actions)
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
            reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
            failed = next(
                (i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"), None
            )
            if failed is None:
                raise Conflict("the customers changed meanwhile; try again", field="id") from None
            if failed == 0 and not emails[0]:
                raise Conflict(
                    f"customer {record.id} changed meanwhile; read it again and repeat the change", field="id"
                ) from None
            email = emails[failed] if failed < len(emails) else ""
            field = "email" if failed == 0 else "contacts"
            raise Conflict(
                f"{email} belongs to a customer (or a customer's contact) already", field=field
            ) from None

    @staticmethod
    def _contact_items(record: CustomerRecord, emails: set[str]) -> list[dict[str, Any]]:
        return [
            {
                **record_key(record.store_hash, email),
                CONTACT_OF: normal_email(record.email),
                "store_hash": record.store_hash,
            }
            for email in sorted(emails)
        ]

    @staticmethod
    def _item(record: CustomerRecord) -> dict[str, Any]:
        item = {**record_key(record.store_hash, record.email), **record.model_dump(mode="json")}
        if record.external_id:
            item["external_key"] = external_key(record.store_hash, record.external_id)
        return item
