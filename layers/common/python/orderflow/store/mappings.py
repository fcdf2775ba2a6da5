"""Mappings: external values (sku=ABS) → internal values (product Accu Scale), per group and account.

Key design, from the access patterns:
  ``pk = "<kind>#<group>"``, ``sk = "<field name>#<field value>#<account or *>"``
so one partition holds a kind of a group. Looking an order's keys up is never a request per line (see
``lookup``); listing a kind within a group is a Query; ``ById`` finds one by id. The key also makes
duplicates (same group, account, field name and value) impossible. One more item per group,
``pk = "versions#<group>"``, ``sk = "versions"``, holds a token per kind that every write replaces.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from orderflow import clock, config
from orderflow.errors import Conflict, NotFound
from orderflow.models.order import Mapping, MappingInput, MappingKey, MappingKind
from orderflow.store.dynamo import (
    TableRepository,
    decode_cursor,
    encode_cursor,
    is_conditional_failure,
    resource,
)

ID_INDEX = "ById"
ANY_ACCOUNT = "*"
BATCH_LIMIT = 100  # BatchGetItem's maximum keys per call
WRITE_LIMIT = 25  # BatchWriteItem's maximum items per call
UNPROCESSED_ATTEMPTS = 8  # writes of what DynamoDB left unprocessed, waiting longer each time
SEARCH_PAGES = 10  # reads one filtered listing may take before it answers with a cursor
VERSIONS = "versions"
# A kept partition is read again after this long even when its version has not moved: what bounds how
# stale it can be after a write that changed no version (a writer that died between the two, or the
# previous release of this code still running during a deployment).
CACHE_SECONDS = 60.0
# Mappings kept per container, all partitions together: about 1.3 KB each, some 65 MB of a 512 MB
# function. A partition larger than this is used for the one lookup and not kept.
CACHE_LIMIT = 50_000


def item_key(key: MappingKey) -> dict[str, str]:
    return {"pk": partition_key(key.kind, key.group), "sk": sort_key(key)}


def partition_key(kind: MappingKind, group: str) -> str:
    return f"{kind.value}#{group}"


def sort_key(key: MappingKey) -> str:
    return f"{key.field_name.lower()}#{key.field_value}#{key.account or ANY_ACCOUNT}"


def version_key(group: str) -> dict[str, str]:
    return {"pk": f"{VERSIONS}#{group}", "sk": VERSIONS}


def key_of(kind: MappingKind, mapping: MappingInput) -> MappingKey:
    return MappingKey(
        kind,
        mapping.mapping_group,
        mapping.external_field_name,
        mapping.external_field_value,
        mapping.account,
    )


Partition = tuple[MappingKind, str]  # a kind and a group: what one pk holds
Changes = dict[Partition, dict[str, Mapping | None]]  # written mappings by sort key; None: deleted


class MappingRepository(TableRepository):
    def create(self, kind: MappingKind, data: MappingInput) -> Mapping:
        at = clock.iso()
        mapping = Mapping(**data.model_dump(), id=str(uuid.uuid4()), kind=kind, created_at=at, updated_at=at)
        started = time.monotonic()
        with _refusing_duplicates(kind, data):
            self.table.put_item(Item=self._item(mapping), ConditionExpression=Attr("pk").not_exists())
        self._written(_changes((mapping, mapping)), started)
        return mapping

    def get(self, kind: MappingKind, mapping_id: str) -> Mapping:
        page = self.table.query(IndexName=ID_INDEX, KeyConditionExpression=Key("id").eq(mapping_id))
        items = [i for i in page.get("Items", []) if i.get("kind") == kind.value]
        if not items:
            raise NotFound(f"no {kind.value} mapping with id {mapping_id}", field="id")
        return Mapping.model_validate(items[0])

    def update(self, kind: MappingKind, mapping_id: str, data: MappingInput) -> Mapping:
        current = self.get(kind, mapping_id)
        updated = Mapping(
            **data.model_dump(),
            id=current.id,
            kind=kind,
            created_at=current.created_at,
            updated_at=clock.iso(),
        )
        old_key, new_key = item_key(key_of(kind, current)), item_key(key_of(kind, updated))
        started = time.monotonic()
        if old_key == new_key:
            self.table.put_item(Item=self._item(updated))
            self._written(_changes((updated, updated)), started)
            return updated
        # The key changed: move the item atomically, refusing to land on an existing mapping.
        client = resource().meta.client
        with _refusing_duplicates(kind, data):
            client.transact_write_items(
                TransactItems=[
                    {"Delete": {"TableName": self.table_name, "Key": old_key}},
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": self._item(updated),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        self._written(_changes((current, None), (updated, updated)), started)
        return updated

    def delete(self, kind: MappingKind, mapping_id: str) -> None:
        current = self.get(kind, mapping_id)
        started = time.monotonic()
        self.table.delete_item(Key=item_key(key_of(kind, current)))
        self._written(_changes((current, None)), started)

    def search(
        self,
        kind: MappingKind,
        group: str | None = None,
        external_value: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[Mapping], str | None]:
        """One page of a kind's mappings, filtered, with a cursor to the next.

        DynamoDB applies ``Limit`` before a filter, so a filtered page could come back empty with a
        cursor; instead whole pages are read until ``limit`` matches are found (at most
        ``SEARCH_PAGES`` reads per call), and the cursor resumes right after the last one returned.
        """
        kwargs: dict[str, Any] = {}
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        filters = [] if group is not None else [Attr("kind").eq(kind.value)]
        if external_value is not None:
            filters.append(Attr("external_field_value").eq(external_value))
        if filters:
            expression: Any = filters[0]
            for extra in filters[1:]:
                expression = expression & extra
            kwargs["FilterExpression"] = expression
        else:
            kwargs["Limit"] = limit

        def read(**more: Any) -> dict[str, Any]:
            if group is not None:
                return dict(
                    self.table.query(KeyConditionExpression=Key("pk").eq(partition_key(kind, group)), **more)
                )
            return dict(self.table.scan(**more))

        found: list[dict[str, Any]] = []
        for _ in range(SEARCH_PAGES):
            page = read(**kwargs)
            items = page.get("Items", [])
            last_key = page.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                found.append(item)
                if len(found) == limit:
                    more = index + 1 < len(items) or last_key is not None
                    next_key = {"pk": item["pk"], "sk": item["sk"]} if more else None
                    return [Mapping.model_validate(i) for i in found], encode_cursor(next_key)
            if last_key is None:
                return [Mapping.model_validate(i) for i in found], None
            kwargs["ExclusiveStartKey"] = last_key
        return [Mapping.model_validate(i) for i in found], encode_cursor(last_key)

    def resolve(self, keys: Iterable[MappingKey]) -> dict[MappingKey, Mapping]:
        """Look up exactly these keys: one BatchGetItem per 100 (for a few keys; many: ``lookup``)."""
        found, _ = self._batch_get(_by_item_key(keys))
        return found

    def lookup(self, keys: Iterable[MappingKey]) -> dict[MappingKey, Mapping]:
        """Look up many keys in requests that do not grow with their number: what maps an order, and
        what an import compares its rows with.

        Requests:
        - keys that fit one BatchGetItem (100): that one request;
        - more: the partitions (a kind of a group) holding most of them are taken whole, until the
          rest fit one BatchGetItem along with those groups' version items: that one request; then
          per partition taken whole, none when this container keeps it at the version just read and
          read it under ``CACHE_SECONDS`` ago, else its Query pages (1 MB each, some 3,000 mappings).
        So mapping an order (the account's keys, then the lines') costs 2 requests at any size in a
        container that keeps the group's products, and 2 + their pages in one that does not yet (3
        while they fit one page), 1 for a small order whose account is its customer record's (its
        lines' keys go with the account's: ``mapping/resolve.py``); an import of a file of one group,
        1 read (+ the pages) before writing.

        Correctness: every read is strongly consistent, a partition is read after its version (so a
        kept copy is never older than its version says), and every write replaces the version after
        writing (``_written``): a lookup that starts after a write through this repository returned
        sees it, from any container. A write that replaced no version (a writer that died in between,
        the previous release during a deployment) is seen within ``CACHE_SECONDS``.
        """
        wanted = _by_item_key(keys)
        by_partition: dict[Partition, dict[str, list[MappingKey]]] = {}
        for same in wanted.values():
            first = same[0]
            by_partition.setdefault((first.kind, first.group), {})[sort_key(first)] = same
        rest = len(wanted)
        whole: list[Partition] = []
        if rest > BATCH_LIMIT:
            for partition in sorted(by_partition, key=lambda p: len(by_partition[p]), reverse=True):
                if rest + len({group for _, group in whole}) <= BATCH_LIMIT:
                    break
                whole.append(partition)
                rest -= len(by_partition[partition])
        taken = {partition_key(*p) for p in whole}
        exact = {key: same for key, same in wanted.items() if key[0] not in taken}
        groups = {group for _, group in whole}
        found, versions = self._batch_get(exact, groups)
        for kind, group in whole:
            held = self._partition(kind, group, versions.get(group, {}).get(kind.value))
            for sk, same in by_partition[(kind, group)].items():
                mapping = held.get(sk)
                if mapping is not None:
                    found.update(dict.fromkeys(same, mapping))
        return found

    def upsert_many(self, kind: MappingKind, inputs: Iterable[MappingInput]) -> UpsertCounts:
        """Create or update many mappings by their key, keeping the id of one that exists.

        Idempotent: a mapping whose value is already the one given is not written again. The stored
        ones are found by ``lookup``, the changes written in one BatchWriteItem per 25; a later input
        with the same key wins.
        """
        by_key: dict[MappingKey, MappingInput] = {}
        for data in inputs:
            by_key[_canonical(key_of(kind, data))] = data
        existing = self.lookup(by_key)
        counts = UpsertCounts()
        changes: list[tuple[MappingInput, Mapping | None]] = []
        for key, data in by_key.items():
            current = existing.get(key)
            if current is not None and current.value == data.value:
                counts.unchanged += 1
                continue
            changes.append((data, current))
            if current is None:
                counts.created += 1
            else:
                counts.updated += 1
        self.put_resolved(kind, changes)
        return counts

    def put_resolved(self, kind: MappingKind, changes: Iterable[tuple[MappingInput, Mapping | None]]) -> None:
        """Write mappings whose stored version the caller has just read (None: new), keeping its id
        and creation time. One BatchWriteItem per 25; being a batch, it cannot be conditional: a
        mapping created with the same key since the caller's read is replaced."""
        at = clock.iso()
        written = [
            Mapping.model_construct(  # the input is validated already: a CSV's 10,000 rows, not twice
                **{name: getattr(data, name) for name in MappingInput.model_fields},
                id=current.id if current else str(uuid.uuid4()),
                kind=kind,
                created_at=current.created_at if current else at,
                updated_at=at,
            )
            for data, current in changes
        ]
        # The client's own call rather than boto3's batch writer, which copies every item it buffers;
        # batches in parallel (a client is safe across threads; MAPPING_WRITE_THREADS): on AWS each is a
        # round trip, and a 10,000-row file is 400 of them.
        client = resource().meta.client
        changes_made = _changes(*((m, m) for m in written))
        started = time.monotonic()

        def write(batch: list[Mapping]) -> None:
            pending: dict[str, Any] = {
                self.table_name: [{"PutRequest": {"Item": self._item(m)}} for m in batch]
            }
            for attempt in range(UNPROCESSED_ATTEMPTS):
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    return
                time.sleep(min(0.05 * 2**attempt, 1.0))  # DynamoDB throttled part of the batch
            raise RuntimeError(f"DynamoDB left mappings unwritten after {UNPROCESSED_ATTEMPTS} attempts")

        batches = [written[start : start + WRITE_LIMIT] for start in range(0, len(written), WRITE_LIMIT)]
        try:
            threads = config.settings().mapping_write_threads
            if len(batches) <= 1 or threads == 1:
                for batch in batches:
                    write(batch)
            else:
                with ThreadPoolExecutor(max_workers=min(threads, len(batches))) as pool:
                    for _ in pool.map(write, batches):  # re-raises the first batch that failed
                        pass
        except Exception:
            # Some batches may be written: the versions move all the same, and no container keeps a
            # copy that could miss them (nor one that would hold what was not written).
            self._written(changes_made, None)
            raise
        self._written(changes_made, started)

    def list_all(self, kind: MappingKind, group: str | None = None) -> list[Mapping]:
        """Every mapping of a kind (of one group: its partition, as ``lookup`` reads it; of all
        groups: a Scan), across DynamoDB's pages: for exports."""
        if group is not None:
            _, versions = self._batch_get({}, {group})
            return list(self._partition(kind, group, versions.get(group, {}).get(kind.value)).values())
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FilterExpression": Attr("kind").eq(kind.value)}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [Mapping.model_validate(item) for item in items]

    def _batch_get(
        self, wanted: dict[tuple[str, str], list[MappingKey]], groups: Iterable[str] = ()
    ) -> tuple[dict[MappingKey, Mapping], dict[str, dict[str, Any]]]:
        """The mappings of these item keys and the version items of these groups, strongly consistent,
        in one BatchGetItem per 100 keys (and again for any DynamoDB leaves unprocessed)."""
        pending = [{"pk": pk, "sk": sk} for pk, sk in wanted] + [version_key(group) for group in groups]
        found: dict[MappingKey, Mapping] = {}
        versions: dict[str, dict[str, Any]] = {}
        client_resource = resource()
        for start in range(0, len(pending), BATCH_LIMIT):
            request: dict[str, Any] = {
                self.table_name: {"Keys": pending[start : start + BATCH_LIMIT], "ConsistentRead": True}
            }
            while request:
                answer = client_resource.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    if item["sk"] == VERSIONS:  # a mapping's sort key always holds a "#"
                        versions[item["pk"].removeprefix(f"{VERSIONS}#")] = item
                        continue
                    mapping = Mapping.model_validate(item)
                    found.update(dict.fromkeys(wanted[(item["pk"], item["sk"])], mapping))
                request = answer.get("UnprocessedKeys") or {}
        return found, versions

    def _partition(self, kind: MappingKind, group: str, version: str | None) -> dict[str, Mapping]:
        """A kind's mappings in a group by sort key: the container's copy when it is at ``version`` (just
        read) and fresh, else the partition read whole (strongly consistent) and kept at ``version``."""
        pk = partition_key(kind, group)
        held = _CACHE.get(self.table_name, pk, version)
        if held is not None:
            return held
        mappings = {
            item["sk"]: Mapping.model_validate(item)
            for item in self.query_all(Key("pk").eq(pk), ConsistentRead=True)
        }
        now = time.monotonic()
        _CACHE.put(self.table_name, pk, _Kept(version, now, now, mappings))
        return mappings

    def _written(self, changes: Changes, started: float | None) -> None:
        """After a write that ``started`` then (monotonic): replace the version of each partition
        written, and bring this container's copy of it up to date when that copy was at the version
        just replaced since before the write (then nobody else wrote in between: one who is still
        writing replaces the version after us, which drops the copy). A write that failed part way
        (``started`` None): the copy is dropped instead."""
        by_group: dict[str, list[MappingKind]] = {}
        for kind, group in changes:
            by_group.setdefault(group, []).append(kind)
            if started is None:
                _CACHE.drop(self.table_name, partition_key(kind, group))
        for group, kinds in by_group.items():
            tokens = {kind: uuid.uuid4().hex for kind in kinds}
            answer = self.table.update_item(
                Key=version_key(group),
                UpdateExpression="SET " + ", ".join(f"#k{n} = :v{n}" for n in range(len(kinds))),
                ExpressionAttributeNames={f"#k{n}": kind.value for n, kind in enumerate(kinds)},
                ExpressionAttributeValues={f":v{n}": tokens[kind] for n, kind in enumerate(kinds)},
                ReturnValues="UPDATED_OLD",
            )
            before = answer.get("Attributes", {})
            if started is None:
                continue
            for kind in kinds:
                _CACHE.written(
                    self.table_name,
                    partition_key(kind, group),
                    (before.get(kind.value), started),
                    tokens[kind],
                    changes[(kind, group)],
                )

    @staticmethod
    def _item(mapping: Mapping) -> dict[str, Any]:
        return {**item_key(key_of(mapping.kind, mapping)), **mapping.model_dump(mode="json")}


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class _Kept:
    """A partition as this container keeps it: read at ``loaded_at`` (monotonic), and as the table is
    at ``version`` since ``since`` (its read, or the write of this container that brought it there)."""

    version: str | None
    loaded_at: float
    since: float
    mappings: dict[str, Mapping]  # never changed once kept: a write keeps a new dict


@dataclass
class _PartitionCache:
    """Whole partitions per warm container, least recently used dropped first. Shared by every thread
    of the process (the local runtime runs its functions on threads): one lock around each use."""

    _kept: OrderedDict[tuple[str, str], _Kept] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, table: str, pk: str, version: str | None) -> dict[str, Mapping] | None:
        with self._lock:
            kept = self._kept.get((table, pk))
            if kept is None:
                return None
            if kept.version != version or _expired(kept):
                del self._kept[(table, pk)]
                return None
            self._kept.move_to_end((table, pk))
            return kept.mappings

    def put(self, table: str, pk: str, kept: _Kept) -> None:
        with self._lock:
            self._kept.pop((table, pk), None)
            self._keep(table, pk, kept)

    def written(
        self,
        table: str,
        pk: str,
        replaced: tuple[str | None, float],
        after: str,
        changes: dict[str, Mapping | None],
    ) -> None:
        """A write that started at ``replaced[1]`` replaced version ``replaced[0]`` with ``after``."""
        before, started = replaced
        with self._lock:
            kept = self._kept.pop((table, pk), None)
            # Only a copy that was at the version this write replaced since before the write began is
            # the table as it was just before it (a copy read meanwhile may hold a later write of the
            # same key by someone else). It keeps its load time: the age limit counts from the read.
            if kept is None or kept.version != before or kept.since > started or _expired(kept):
                return
            mappings = dict(kept.mappings)
            for sk, mapping in changes.items():
                if mapping is None:
                    mappings.pop(sk, None)
                else:
                    mappings[sk] = mapping
            self._keep(table, pk, _Kept(after, kept.loaded_at, time.monotonic(), mappings))

    def _keep(self, table: str, pk: str, kept: _Kept) -> None:
        """Keep a partition (the lock held), dropping the least recently used ones over the limit."""
        if len(kept.mappings) > CACHE_LIMIT:
            return
        self._kept[(table, pk)] = kept
        total = sum(len(k.mappings) for k in self._kept.values())
        while total > CACHE_LIMIT:
            _, dropped = self._kept.popitem(last=False)
            total -= len(dropped.mappings)

    def drop(self, table: str, pk: str) -> None:
        with self._lock:
            self._kept.pop((table, pk), None)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


_CACHE = _PartitionCache()


def _expired(kept: _Kept) -> bool:
    return time.monotonic() - kept.loaded_at >= CACHE_SECONDS


def forget_kept_partitions() -> None:
    """Drop every partition this container keeps: the next lookups read as a cold container does."""
    _CACHE.clear()


def _changes(*written: tuple[Mapping, Mapping | None]) -> Changes:
    """Changes by partition from (the mapping whose key was written, what it holds now; None: deleted)."""
    changes: Changes = {}
    for where, now in written:
        key = key_of(where.kind, where)
        changes.setdefault((key.kind, key.group), {})[sort_key(key)] = now
    return changes


def _canonical(key: MappingKey) -> MappingKey:
    """The key as the table spells it: a field name's case does not make another mapping."""
    return MappingKey(key.kind, key.group, key.field_name.lower(), key.field_value, key.account)


def _by_item_key(keys: Iterable[MappingKey]) -> dict[tuple[str, str], list[MappingKey]]:
    """Keys by the item (pk, sk) each names (``SKU`` and ``sku`` name the same one), each asked once."""
    wanted: dict[tuple[str, str], list[MappingKey]] = {}
    for key in set(keys):
        wanted.setdefault((partition_key(key.kind, key.group), sort_key(key)), []).append(key)
    return wanted


@contextmanager
def _refusing_duplicates(kind: MappingKind, data: MappingInput) -> Iterator[None]:
    """A write conditioned on the key being free failed: that is a duplicate mapping (409)."""
    try:
        yield
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise
        scope = f"account '{data.account}'" if data.account else "all accounts"
        raise Conflict(
            f"a {kind.value} mapping for {data.external_field_name}='{data.external_field_value}' already "
            f"exists in group '{data.mapping_group}' for {scope}",
            field="external_field_value",
        ) from None
