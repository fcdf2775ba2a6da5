"""Flows, their published versions, the routing of new orders, and policies: one table.

Items (``pk`` / ``sk``):
  ``flow`` / ``<flow id>``            the editable definition, its status and version
  ``flow#<flow id>`` / ``v000001``    a published version: definition, policies, ASL, version ARN (immutable)
  ``route`` / ``<flow id>``           a published flow's routing: version ARN, input events, filter policies
  ``policy`` / ``<policy id>``        a policy definition and its status
Listing flows, reading the routes for a new order and listing policies are each one Query.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from pydantic import BaseModel, ConfigDict, Field

from orderflow import clock
from orderflow.errors import Conflict, NotFound
from orderflow.models.flow import Flow
from orderflow.store.dynamo import TableRepository, is_conditional_failure, plain, resource, storable

FLOW, ROUTE, POLICY = "flow", "route", "policy"
CREATED_ON = "created_on"


class FlowRecord(BaseModel):
    """A flow as stored: its definition plus where it is in its life."""

    model_config = ConfigDict(defer_build=True)

    id: str
    definition: dict[str, Any]
    status: str = "unpublished"
    version: int = 1  # the version the definition is, or will be when published
    published_version: int | None = None
    state_machine_arn: str | None = None
    versions: list[int] = Field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""

    @property
    def created_on(self) -> str | None:
        """The day the flow was created: its definition's, else (a flow stored before that was kept) the
        day of ``created_at``."""
        return self.definition.get(CREATED_ON) or (self.created_at[:10] if self.created_at else None)

    def flow(self) -> Flow:
        return Flow.model_validate({**self.definition, "status": self.status, "version": self.version})


class FlowVersion(BaseModel):
    model_config = ConfigDict(defer_build=True)

    flow_id: str
    version: int
    definition: dict[str, Any]
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    asl: str
    state_machine_arn: str
    version_arn: str
    published_at: str


def version_item(version: FlowVersion) -> dict[str, Any]:
    """A version as stored: its ASL compressed (a published machine may be up to 1 MiB of text, and a
    DynamoDB item at most 400 KB; the generated JSON is repetitive and shrinks ~50 times)."""
    item = storable(version.model_dump(exclude={"asl"}))
    item["asl_z"] = base64.b64encode(zlib.compress(version.asl.encode(), 9)).decode("ascii")
    return dict(item)


def version_from_item(item: dict[str, Any]) -> FlowVersion:
    packed = item.pop("asl_z", None)
    if packed is not None:
        item["asl"] = zlib.decompress(base64.b64decode(packed)).decode()
    return FlowVersion.model_validate(item)


class Route(BaseModel):
    """What the router needs to start a flow for an order, copied from its published version."""

    model_config = ConfigDict(defer_build=True)

    flow_id: str
    name: str
    version: int
    version_arn: str
    input_events: list[str]
    filter_policies: list[dict[str, Any]] = Field(default_factory=list)


class PolicyRecord(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str
    definition: dict[str, Any]
    status: str = "draft"
    created_at: str = ""
    updated_at: str = ""


class FlowRepository(TableRepository):
    # -- flows ---------------------------------------------------------------------------------
    def create(self, flow_id: str, definition: dict[str, Any]) -> FlowRecord:
        """A new flow; a definition that does not say when it was created is created today (UTC)."""
        at = clock.iso()
        if not definition.get(CREATED_ON):
            definition = {**definition, CREATED_ON: at[:10]}
        record = FlowRecord(id=flow_id, definition=definition, created_at=at, updated_at=at)
        self._put_new(
            self._flow_item(record), f"a flow named like '{definition.get('name')}' exists (id {flow_id})"
        )
        return record

    def find(self, flow_id: str) -> FlowRecord | None:
        item = self.table.get_item(Key={"pk": FLOW, "sk": flow_id}, ConsistentRead=True).get("Item")
        return FlowRecord.model_validate(plain(item)) if item else None

    def get(self, flow_id: str) -> FlowRecord:
        record = self.find(flow_id)
        if record is None:
            raise NotFound(f"flow {flow_id} does not exist", field="flow_id")
        return record

    def all_flows(self) -> list[FlowRecord]:
        return [FlowRecord.model_validate(plain(i)) for i in self._query(FLOW)]

    def replace(self, flow_id: str, definition: dict[str, Any]) -> FlowRecord:
        """Change an unpublished flow's definition (a published one is immutable: 409); it keeps the
        day it was created unless the new definition names one."""
        record = self.get(flow_id)
        if not definition.get(CREATED_ON):
            definition = {**definition, CREATED_ON: record.created_on}
        updated = record.model_copy(update={"definition": definition, "updated_at": clock.iso()})
        try:
            self.table.put_item(
                Item=self._flow_item(updated), ConditionExpression=Attr("status").eq("unpublished")
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise published_conflict(record) from None
            raise
        return updated

    def delete(self, flow_id: str) -> None:
        record = self.get(flow_id)
        try:
            self.table.delete_item(
                Key={"pk": FLOW, "sk": flow_id}, ConditionExpression=Attr("status").eq("unpublished")
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise published_conflict(record) from None
            raise

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, record: FlowRecord, version: FlowVersion, route: Route) -> FlowRecord:
        """Record a new published version and route new orders to it, all or nothing."""
        at = clock.iso()
        published = record.model_copy(
            update={
                "status": "published",
                "published_version": version.version,
                "state_machine_arn": version.state_machine_arn,
                "versions": sorted({*record.versions, version.version}),
                "updated_at": at,
            }
        )
        try:
            resource().meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": self._flow_item(published),
                            # unchanged since it was read, and not published meanwhile
                            "ConditionExpression": "#status = :unpublished AND updated_at = :seen",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":unpublished": "unpublished",
                                ":seen": record.updated_at,
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": {
                                "pk": f"{FLOW}#{record.id}",
                                "sk": f"v{version.version:06d}",
                                **version_item(version),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": {"pk": ROUTE, "sk": record.id, **storable(route.model_dump())},
                        }
                    },
                ]
            )
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(
                    f"flow {record.id} changed or was published while publishing; read it again",
                    field="flow_id",
                ) from None
            raise
        return published

    def unpublish(self, flow_id: str) -> FlowRecord:
        """Stop routing new orders to the flow; its next publish will be a new version."""
        record = self.get(flow_id)
        if record.status != "published":
            raise Conflict(f"flow {flow_id} is not published", field="flow_id")
        updated = record.model_copy(
            update={
                "status": "unpublished",
                "version": (record.published_version or 0) + 1,
                "updated_at": clock.iso(),
            }
        )
        resource().meta.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": self._flow_item(updated),
                        "ConditionExpression": "#status = :published",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":published": "published"},
                    }
                },
                {"Delete": {"TableName": self.table_name, "Key": {"pk": ROUTE, "sk": flow_id}}},
            ]
        )
        return updated

    def version(self, flow_id: str, version: int) -> FlowVersion:
        item = self.table.get_item(Key={"pk": f"{FLOW}#{flow_id}", "sk": f"v{version:06d}"}).get("Item")
        if not item:
            raise NotFound(f"flow {flow_id} has no published version {version}", field="version")
        return version_from_item(plain(item))

    def routes(self) -> list[Route]:
        return [Route.model_validate(plain(i)) for i in self._query(ROUTE)]

    def has_flows(self) -> bool:
        return bool(self.table.query(KeyConditionExpression=Key("pk").eq(FLOW), Limit=1).get("Items"))

    # -- policies ------------------------------------------------------------------------------
    def create_policy(self, policy_id: str, definition: dict[str, Any]) -> PolicyRecord:
        at = clock.iso()
        record = PolicyRecord(id=policy_id, definition=definition, created_at=at, updated_at=at)
        self._put_new(
            self._policy_item(record),
            f"a policy named like '{definition.get('name')}' exists (id {policy_id})",
        )
        return record

    def policy(self, policy_id: str) -> PolicyRecord:
        item = self.table.get_item(Key={"pk": POLICY, "sk": policy_id}, ConsistentRead=True).get("Item")
        if not item:
            raise NotFound(f"policy {policy_id} does not exist", field="policy_id")
        return PolicyRecord.model_validate(plain(item))

    def policies(self) -> list[PolicyRecord]:
        return [PolicyRecord.model_validate(plain(i)) for i in self._query(POLICY)]

    def save_policy(self, record: PolicyRecord) -> PolicyRecord:
        updated = record.model_copy(update={"updated_at": clock.iso()})
        self.table.put_item(Item=self._policy_item(updated), ConditionExpression=Attr("pk").exists())
        return updated

    def delete_policy(self, policy_id: str) -> None:
        self.table.delete_item(Key={"pk": POLICY, "sk": policy_id})

    # -- helpers -------------------------------------------------------------------------------
    def _put_new(self, item: dict[str, Any], conflict: str) -> None:
        try:
            self.table.put_item(Item=item, ConditionExpression=Attr("pk").not_exists())
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(conflict, field="name") from None
            raise

    def _query(self, pk: str) -> list[dict[str, Any]]:
        return self.query_all(Key("pk").eq(pk), ConsistentRead=True)

    @staticmethod
    def _flow_item(record: FlowRecord) -> dict[str, Any]:
        return {"pk": FLOW, "sk": record.id, **storable(record.model_dump())}

    @staticmethod
    def _policy_item(record: PolicyRecord) -> dict[str, Any]:
        return {"pk": POLICY, "sk": record.id, **storable(record.model_dump())}


def published_conflict(record: FlowRecord) -> Conflict:
    return Conflict(
        f"flow {record.id} is published (version {record.published_version}) and cannot be changed; "
        "unpublish it first, then edit it and publish again as a new version",
        field="flow_id",
    )
