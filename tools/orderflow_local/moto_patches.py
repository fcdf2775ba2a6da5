"""Every change the local runtime makes inside moto, checked against the moto version it was written for."""

from __future__ import annotations

import contextvars
import copy
import functools
import importlib
import inspect
import logging
import threading
import time
import types
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import moto

# The patches reach into moto's private modules, so they hold for this version only; requirements-dev.txt
# pins it, and tests/unit/test_moto_patches.py checks that the two agree.
MOTO_VERSION = "5.2.5"

QUIET_ENGINE_LOGS = "quiet engine logs"
ATOMIC_DYNAMODB_WRITES = "atomic DynamoDB writes"
OBSERVED_STEPFUNCTIONS_CALLS = "observed Step Functions calls"
EXECUTIONS_ON_VERSIONS = "executions on versions"
ONE_LAMBDA_CLIENT = "one Lambda client per region"
SCALED_RETRY_WAITS = "scaled retry waits"
FINISHED_RESTORED_EXECUTIONS = "finished restored executions"
QUERIES_READ_ONE_PARTITION = "queries read one partition"
DEFINITIONS_PARSED_ONCE = "definitions parsed once"
JSON_PATHS_PARSED_ONCE = "JSONPaths parsed once"
PLAIN_ITEMS_WRITTEN_DIRECTLY = "plain items written directly"
ITEMS_SIZED_ONCE = "items sized once"
TRANSACTIONS_BACK_UP_THEIR_ITEMS = "transactions back up their own items"

# Held by each DynamoDB call moto answers; a save of the local state holds it to read one moment.
ATOMIC_LOCK = threading.RLock()
# Told of each call moto answered (service, action, parameters): how the local state knows what to save.
WRITE_OBSERVERS: list[Callable[[str, str, dict[str, Any]], None]] = []

log = logging.getLogger(__name__)
_MISSING = object()


class MotoPatchError(RuntimeError):
    """A patch's target is gone from the installed moto: the patch no longer applies."""

    def __init__(self, patch: str, missing: str) -> None:
        super().__init__(
            f"moto patch {patch!r} no longer applies: {missing} is gone (the patches in "
            f"orderflow_local/moto_patches.py were written for moto {MOTO_VERSION}, "
            f"moto {moto.__version__} is installed)"
        )
        self.patch = patch


def apply(*, retry_wait_scale: float = 1.0) -> None:
    """Apply every patch; again is harmless (none wraps twice), and the per-run ones start afresh:
    a new Lambda client cache, this run's retry wait scale."""
    check_version(moto.__version__)
    _quiet_engine_logs()
    _make_dynamodb_writes_atomic()
    _observe_stepfunctions_calls()
    _run_executions_on_versions()
    _reuse_engine_lambda_client()
    _scale_engine_retry_waits(retry_wait_scale)
    _check_restored_executions()
    _query_one_partition()
    _parse_each_definition_once()
    _parse_each_json_path_once()
    _write_plain_items_directly()
    _size_items_once()
    _back_up_transaction_items_only()


def check_version(installed: str) -> None:
    """A warning naming both versions when ``installed`` is not the moto the patches were written for."""
    if installed == MOTO_VERSION:
        return
    log.warning(
        "moto %s is installed, but the local runtime's patches of moto's internals were written for "
        "moto %s: check them (orderflow_local/moto_patches.py) and the pin in requirements-dev.txt",
        installed,
        MOTO_VERSION,
    )


def require(owner: Any, attribute: str, patch: str) -> Any:
    """``owner.attribute``, which ``patch`` reaches into; MotoPatchError naming the patch when it is gone.
    An attribute a class only declares (set per instance) counts as there, and reads as None."""
    found = getattr(owner, attribute, _MISSING)
    if found is not _MISSING:
        return found
    declared = any(attribute in vars(cls).get("__annotations__", {}) for cls in getattr(owner, "__mro__", ()))
    if declared:
        return None
    raise MotoPatchError(patch, f"{_name_of(owner)}.{attribute}")


def mark_finished(execution: Any) -> None:
    """Give an execution restored as a record (no worker ever ran it) the stand-in worker moto's
    backend asks about task tokens, map runs and history."""
    require(execution, "exec_worker", FINISHED_RESTORED_EXECUTIONS)
    execution.exec_worker = _FINISHED_WORKER


def _module(name: str, patch: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MotoPatchError(patch, f"module {name}") from None


def _name_of(owner: Any) -> str:
    if isinstance(owner, ModuleType):
        return owner.__name__
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return f"a {type(owner).__name__}"


def _quiet_engine_logs() -> None:
    # moto's ASL engine logs every caught task failure at ERROR; those are step results here.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    # Functions share one process here, so one invocation's metrics flush can empty another's set;
    # on Lambda an invocation has its container to itself.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def _make_dynamodb_writes_atomic() -> None:
    """DynamoDB applies a conditional write atomically; moto checks then writes, so two threads can
    both pass one condition. Serialising moto's DynamoDB calls restores the guarantee locally."""
    patch = ATOMIC_DYNAMODB_WRITES
    handler = require(_module("moto.dynamodb.responses", patch), "DynamoHandler", patch)
    original = require(handler, "call_action", patch)
    require(handler, "_get_action", patch)
    if getattr(original, "_serialised", False):
        return

    def call_action(self: Any) -> Any:
        with ATOMIC_LOCK:
            answer = original(self)
            # Under the lock: a save (which holds it) sees a write and its mark together.
            if WRITE_OBSERVERS:
                body = require(self, "body", patch)
                params = body if isinstance(body, dict) else {}
                for observe in list(WRITE_OBSERVERS):
                    observe("dynamodb", self._get_action(), params)
            return answer

    call_action._serialised = True  # type: ignore[attr-defined]
    handler.call_action = call_action


def _observe_stepfunctions_calls() -> None:
    patch = OBSERVED_STEPFUNCTIONS_CALLS
    response = require(_module("moto.stepfunctions.responses", patch), "StepFunctionResponse", patch)
    original = require(response, "call_action", patch)
    require(response, "_get_action", patch)
    if getattr(original, "_observed", False):
        return

    def call_action(self: Any) -> Any:
        answer = original(self)
        for observe in list(WRITE_OBSERVERS):
            observe("stepfunctions", self._get_action(), {})
        return answer

    call_action._observed = True  # type: ignore[attr-defined]
    response.call_action = call_action


def _run_executions_on_versions() -> None:
    """Step Functions runs an execution started on a version ARN on that version (how in-flight
    orders stay on the flow version they started with); moto's executing engine cannot start one.
    A published version gets its machine's execution list and backend, which the engine needs."""
    patch = EXECUTIONS_ON_VERSIONS
    models = _module("moto.stepfunctions.models", patch)
    machine = require(models, "StateMachine", patch)
    version_class = require(models, "StateMachineVersion", patch)
    original = require(machine, "publish", patch)
    idempotency = require(machine, "_handle_name_input_idempotency", patch)
    if getattr(original, "_runs_versions", False):
        return

    def publish(self: Any, description: str | None) -> None:
        original(self, description)
        version = require(self, "latest_version", patch)
        # AWS lists a version's executions under its machine too
        version.executions = require(self, "executions", patch)
        version.backend = require(self, "backend", patch)

    publish._runs_versions = True  # type: ignore[attr-defined]
    machine.publish = publish
    version_class._handle_name_input_idempotency = idempotency


def _reuse_engine_lambda_client() -> None:
    """moto's engine builds a new boto3 client for every Lambda task (tens of ms each, and racy when
    executions run side by side); one client per region serves them all."""
    patch = ONE_LAMBDA_CLIENT
    lambda_eval_utils = _module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils", patch
    )
    original = getattr(lambda_eval_utils, "_original_boto_client_for", None) or require(
        lambda_eval_utils, "boto_client_for", patch
    )
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            if (region, service) not in clients:
                clients[(region, service)] = original(
                    region=region, service=service, state_credentials=state_credentials
                )
            return clients[(region, service)]

    lambda_eval_utils._original_boto_client_for = original  # type: ignore[attr-defined]
    # Fresh per runtime: clients of the current session.
    lambda_eval_utils.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _scale_engine_retry_waits(scale: float) -> None:
    """The generated ASL keeps real retry intervals for AWS; locally they can be made shorter."""
    patch = SCALED_RETRY_WAITS
    retrier_decl = _module("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", patch)
    require(retrier_decl, "time", patch)
    real_sleep = time.sleep
    retrier_decl.time = types.SimpleNamespace(sleep=lambda seconds: real_sleep(seconds * scale))  # type: ignore[attr-defined]


def _check_restored_executions() -> None:
    """mark_finished runs at restore time only: find out at start that it would no longer apply."""
    patch = FINISHED_RESTORED_EXECUTIONS
    execution = require(_module("moto.stepfunctions.parser.backend.execution", patch), "Execution", patch)
    require(execution, "exec_worker", patch)


def _query_one_partition() -> None:
    """moto answers a Query on a table's key by sorting every item of the table and keeping the
    partition's: each order's read costs as much as the whole orders table, so a run slows as it
    goes. The items moto reads for such a Query are the partition's own (same answer, same order)."""
    patch = QUERIES_READ_ONE_PARTITION
    table_class = require(_module("moto.dynamodb.models.table", patch), "Table", patch)
    original_query = require(table_class, "query", patch)
    original_all_items = require(table_class, "all_items", patch)
    if getattr(original_query, "_one_partition", False):
        return
    signature = inspect.signature(original_query)
    if not {"hash_key", "index_name"} <= set(signature.parameters):
        raise MotoPatchError(patch, "Table.query(hash_key, …, index_name)")
    # The (table, partition key) a Query on this thread is reading, while moto gathers its candidates.
    reading: contextvars.ContextVar[tuple[Any, Any] | None] = contextvars.ContextVar("reading", default=None)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key, index_name = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
        if index_name or hash_key is None:  # an index's partitions are not kept apart: moto's own way
            return original_query(self, *args, **kwargs)
        token = reading.set((self, hash_key))
        try:
            return original_query(self, *args, **kwargs)
        finally:
            reading.reset(token)

    def all_items(self: Any) -> Any:
        partition = reading.get()
        if partition is None or partition[0] is not self:
            return original_all_items(self)
        # .get: moto's item store is a defaultdict, and a read must not add an empty partition to it
        found = self.items.get(partition[1])
        if found is None:
            return []
        items = list(found.values()) if self.range_key_attr else [found]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    query._one_partition = True  # type: ignore[attr-defined]
    table_class.query = query
    table_class.all_items = all_items


def _parse_each_definition_once() -> None:
    """moto's engine parses a state machine's definition again for every execution it starts (ANTLR,
    in pure Python: a quarter of the local pipeline's time). The parse tree of each definition is kept;
    every execution still gets a program of its own, built from that tree as moto builds it."""
    patch = DEFINITIONS_PARSED_ONCE
    parser_class = require(
        _module("moto.stepfunctions.parser.asl.parse.asl_parser", patch), "AmazonStateLanguageParser", patch
    )
    preprocessor = require(
        _module("moto.stepfunctions.parser.asl.parse.preprocessor", patch), "Preprocessor", patch
    )
    original = require(parser_class, "parse", patch)
    if getattr(original, "_parsed_once", False):
        return

    @functools.lru_cache(maxsize=256)  # a definition that fails to parse raises each time: not kept
    def tree_of(definition: str) -> Any:
        return original(definition)[1]

    def parse(definition: str) -> tuple[Any, Any]:
        tree = tree_of(definition)
        return preprocessor().visit(tree), tree

    parse._parsed_once = True  # type: ignore[attr-defined]
    parser_class.parse = staticmethod(parse)


def _parse_each_json_path_once() -> None:
    """moto's engine parses a JSONPath (``$.order_key``, a ResultPath) anew at every use, building a
    new parser each time (PLY, in pure Python). A parsed path is a value (finding or setting matches
    does not change it): each path is parsed once."""
    patch = JSON_PATHS_PARSED_ONCE
    for name in (
        "moto.stepfunctions.parser.asl.utils.json_path",
        "moto.stepfunctions.parser.asl.component.common.path.result_path",
    ):
        module = _module(name, patch)
        original = require(module, "parse", patch)
        if getattr(original, "_parsed_once", False):
            continue
        parse = functools.lru_cache(maxsize=1024)(original)
        parse._parsed_once = True  # type: ignore[attr-defined]
        module.parse = parse  # type: ignore[attr-defined]


class _NotPlain(Exception):
    """An attribute value the direct writer leaves to moto's serializer (a blob, anything unexpected)."""


def _plain_attribute_value(value: Any) -> dict[str, Any]:
    """A DynamoDB attribute value ({"S": "x"}, {"M": {...}}…) as moto's JSON serializer writes it, for
    the types that it writes unchanged: strings, numbers, booleans, nulls, their sets, maps and lists."""
    if type(value) is not dict or len(value) != 1:
        raise _NotPlain
    ((kind, inner),) = value.items()
    if kind in ("S", "N") and type(inner) is str:
        return value
    if kind in ("BOOL", "NULL") and type(inner) is bool:
        return value
    if kind in ("SS", "NS") and type(inner) is list and all(type(v) is str for v in inner):
        return {kind: list(inner)}
    if kind == "M" and type(inner) is dict:
        return {"M": {k: _plain_attribute_value(v) for k, v in inner.items()}}
    if kind == "L" and type(inner) is list:
        return {"L": [_plain_attribute_value(v) for v in inner]}
    raise _NotPlain


def _write_plain_items_directly() -> None:
    """moto writes each DynamoDB answer by walking botocore's model of it, looking every member of every
    attribute value up under several names: most of the time a Lambda spends in DynamoDB locally, for
    items that are already in the wire format. An attribute value of the plain types is written as it
    is; blobs (base64 on the wire) still take moto's way."""
    patch = PLAIN_ITEMS_WRITTEN_DIRECTLY
    serialize = _module("moto.core.serialize", patch)
    serializer = require(serialize, "get_serializer_class", patch)("dynamodb", "json")
    original = require(serializer, "_serialize_type_structure", patch)
    if getattr(original, "_plain_items", False):
        return

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb":
            try:
                plain = _plain_attribute_value(value)
            except _NotPlain:
                pass
            else:
                serialized[self.get_serialized_name(shape, key)] = plain
                return
        original(self, serialized, value, shape, key)

    _serialize_type_structure._plain_items = True  # type: ignore[attr-defined]
    serializer._serialize_type_structure = _serialize_type_structure


# moto's limit on an item's size (DynamoDB's 400 KB, as moto measures it: LimitedSizeDict.__setitem__).
_ITEM_SIZE_LIMIT = 405000


def _size_items_once() -> None:
    """moto builds an item attribute by attribute, measuring the whole item again before each one goes
    in (to refuse an item over 400 KB): the cost of writing or reading an order grows with the square
    of its attributes. The item is measured once, when built, against the same limit."""
    patch = ITEMS_SIZED_ONCE
    dynamo_type = _module("moto.dynamodb.models.dynamo_type", patch)
    item_class = require(dynamo_type, "Item", patch)
    limited = require(dynamo_type, "LimitedSizeDict", patch)
    value_class = require(dynamo_type, "DynamoType", patch)
    too_large = require(dynamo_type, "ItemSizeTooLarge", patch)
    bytesize = require(dynamo_type, "bytesize", patch)
    original = require(item_class, "__init__", patch)
    if getattr(original, "_sized_once", False):
        return

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = limited()
        for key, value in attrs.items():
            dict.__setitem__(self.attrs, key, value_class(value))
        # each attribute's name and value, as LimitedSizeDict counts them
        if sum(bytesize(key) + value.size() for key, value in self.attrs.items()) > _ITEM_SIZE_LIMIT:
            raise too_large

    __init__._sized_once = True  # type: ignore[attr-defined]
    item_class.__init__ = __init__


class _Unlisted(dict[str, Any]):
    """The backend's tables, each still found by name, none found by ``in``: what moto's transaction
    looks for to copy whole."""

    def __contains__(self, name: object) -> bool:
        return False


def _back_up_transaction_items_only() -> None:
    """moto makes a transaction undoable by copying every table it writes, whole, before it starts: a
    webhook's de-duplication (one transaction) costs more with each delivery ever received. The items
    the transaction writes are copied instead, and put back as they were when it fails."""
    patch = TRANSACTIONS_BACK_UP_THEIR_ITEMS
    models = _module("moto.dynamodb.models", patch)
    backend_class = require(models, "DynamoDBBackend", patch)
    value_class = require(models, "DynamoType", patch)
    original = require(backend_class, "transact_write_items", patch)
    if getattr(original, "_own_items", False):
        return

    def written_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
        """(table, hash key, range key, the item as it is now or None) for each item written; None when
        a table keeps a stream (whose records only a whole copy puts back)."""
        found = []
        for transact_item in transact_items:
            operation, request = next(iter(transact_item.items()))
            table = backend.tables.get(request.get("TableName"))
            if table is None:
                continue  # moto refuses the transaction; nothing of it is written
            if table.stream_shard is not None:
                return None
            key = request.get("Item") if operation == "Put" else request.get("Key")
            ranged = table.range_key_attr is not None
            if not isinstance(key, dict) or any(
                name not in key for name in (table.hash_key_attr, *([table.range_key_attr] if ranged else []))
            ):
                continue  # moto refuses an incomplete key; nothing of the transaction is written
            hash_key = value_class(key[table.hash_key_attr])
            range_key = value_class(key[table.range_key_attr]) if ranged else None
            now = table.get_item(hash_key, range_key)
            found.append((table, hash_key, range_key, copy.deepcopy(now)))
        return found

    def put_back(table: Any, hash_key: Any, range_key: Any, before: Any) -> None:
        if table.range_key_attr is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        elif before is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        written = written_items(self, transact_items)
        if written is None:
            return original(self, transact_items)
        tables = self.tables
        self.tables = _Unlisted(tables)
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, before in reversed(written):
                put_back(table, hash_key, range_key, before)
            raise
        finally:
            self.tables = tables

    transact_write_items._own_items = True  # type: ignore[attr-defined]
    backend_class.transact_write_items = transact_write_items


def _never(*_: Any, **__: Any) -> Any:
    return None


# A restored execution has no worker; moto's backend still asks every execution's worker about task
# tokens and map runs, and for its history: it knows none of them.
_FINISHED_WORKER = types.SimpleNamespace(
    env=types.SimpleNamespace(
        callback_pool_manager=types.SimpleNamespace(notify=lambda **_: False, heartbeat=lambda **_: False),
        map_run_record_pool_manager=types.SimpleNamespace(get=_never, get_all=list),
        event_manager=types.SimpleNamespace(get_event_history=list),
    ),
    stop=_never,
)
