"""The local runtime's state across restarts: its tables, generated secrets, flow state machines and
executions, saved in a directory (``make serve``: ``.local/state``) and restored on start."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderflow import clock
from orderflow_local import moto_patches
from orderflow_local.template import ACCOUNT, REGION

FORMAT = 1
SAVE_INTERVAL = 1.0  # seconds: a kill -9 loses at most this much; a clean stop loses nothing
INTERRUPTED = "interrupted by a restart of the local runtime"
TABLES = "tables"
SECRETS = "secrets.json"
MACHINES = "state_machines.json"
EXECUTIONS = "executions.json"
SAVED = "saved.json"  # when the last save was made: written last
LOCK = "lock"
TEMPORARY = ".tmp"
# What changes a table: its file is written again at the next save.
TABLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
# Step Functions calls that read only; any other call may change a machine or an execution.
_READS = ("Describe", "List", "Get", "Validate", "TestState")
_STEPS = ("Task", "Parallel")  # the states a step result can name (resubmit.resume_point)
_BATCH = 25  # BatchWriteItem's limit

log = logging.getLogger(__name__)


class StateError(RuntimeError):
    pass


@dataclass(frozen=True)
class Interrupted:
    """An execution that was running when the local runtime last saved its state before stopping."""

    execution: str
    state_machine: str
    order_key: str
    order_id: int | None
    flow: str  # "<name or id> v<version>"
    step: str  # "" when it had entered no step
    resubmittable: bool  # a failed step result was recorded for the step it was in

    def hint(self) -> str:
        if self.resubmittable:
            return f"POST /orders/{self.order_key}/resubmit"
        if self.order_id is not None:
            # The intake stopped before it stored the order: nothing to resubmit, the store still has it.
            body = json.dumps({"order_ids": [self.order_id]})
            return f"not imported yet: POST /providers/bigcommerce/sync {body}"
        return "nothing recorded to resubmit"


class LocalState:
    """Saves the runtime's state to ``directory`` and restores it from there.

    ``consistent`` is the lock moto's DynamoDB calls are serialised with: a save holds it while it
    reads every table and Step Functions, so what it writes is one moment of the whole system.
    """

    def __init__(
        self,
        directory: Path,
        tables: Mapping[str, str],
        template_machines: set[str],
        consistent: threading.RLock,
    ) -> None:
        self.directory = directory
        self.tables = dict(tables)  # logical id → table name
        self.template_machines = template_machines  # created from template.yaml on every start
        self._consistent = consistent
        self._dirty_lock = threading.Lock()
        self._dirty_tables: set[str] = set()
        self._dirty_machines = False
        self._observing = False
        self._restored = False  # nothing is saved over the directory before it has been read
        self._save_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: Any = None
        self._dynamodb: Any = None
        self._stepfunctions: Any = None
        self.saved_at: str | None = None  # of the state restored, None when the directory was new
        self.restored_items: dict[str, int] = {}  # table name → items restored

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Take the directory: two runtimes saving into one would overwrite each other's state."""
        import fcntl  # POSIX; imported here so that a runtime without a state directory needs none

        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / TABLES).mkdir(exist_ok=True)
        handle = open(self.directory / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise StateError(
                f"{self.directory} is in use by another local runtime (pid {owner}): stop it, or give this "
                "one another --state-dir (or --ephemeral)"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle
        for leftover in [
            *self.directory.glob(f".*{TEMPORARY}"),
            *(self.directory / TABLES).glob(f".*{TEMPORARY}"),
        ]:
            leftover.unlink()  # a save a kill cut short: the files it was replacing are whole

    def close(self) -> None:
        """Stop saving in the background, save what is left, and release the directory."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            if self._restored:
                self.save()
        finally:
            self._observing = False
            if self._lock_file is not None:
                self._lock_file.close()  # closing the file releases its lock
                self._lock_file = None

    def secrets(self, generated: Mapping[str, str]) -> dict[str, str]:
        """The generated secrets of this state: the saved value of each, a new one for a secret the
        template did not have before (a provider's callbacks carry the old value after a restart)."""
        path = self.directory / SECRETS
        saved = _read(path).get("secrets", {}) if path.is_file() else {}
        values = {name: str(saved.get(name, value)) for name, value in generated.items()}
        if values != saved:
            _write(path, {"format": FORMAT, "secrets": values}, private=True)
        return values

    def restore(self, dynamodb: Any, stepfunctions: Any) -> list[Interrupted]:
        """Put the saved state into the freshly created resources; the executions that were running
        at the last save, each with a failed step result where it stopped (so it can be resubmitted)."""
        self._dynamodb, self._stepfunctions = dynamodb, stepfunctions
        for logical, name in self.tables.items():
            path = self._table_path(name)
            if path.is_file():
                items = self._restore_table(name, path)
                self.restored_items[name] = items
                log.debug("restored %s items into %s (%s)", items, name, logical)
        self._observing = True  # what follows writes new state, to be saved again
        self.saved_at = self._optional(SAVED).get("saved_at")
        for machine in self._optional(MACHINES).get("state_machines", []):
            self._restore_machine(machine)
        interrupted = self._restore_executions(
            self._optional(EXECUTIONS).get("executions", []), self.saved_at or clock.iso()
        )
        self._restored = True
        return interrupted

    def _optional(self, name: str) -> dict[str, Any]:
        path = self.directory / name
        return _read(path) if path.is_file() else {}

    def start_saving(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._save_while_dirty, name="local-state", daemon=True)
        self._thread.start()

    # -- marking dirty ---------------------------------------------------------------------------
    def observe(self, service: str, action: str, params: Mapping[str, Any]) -> None:
        """Called after each moto call (moto_patches.WRITE_OBSERVERS): note what it may have changed."""
        if not self._observing:
            return
        if service == "dynamodb" and action in TABLE_WRITES:
            touched = _tables_of(action, params)
            with self._dirty_lock:
                self._dirty_tables.update(touched if touched else self.tables.values())
        elif service == "stepfunctions" and not action.startswith(_READS):
            with self._dirty_lock:
                self._dirty_machines = True

    @property
    def dirty(self) -> bool:
        with self._dirty_lock:
            return bool(self._dirty_tables) or self._dirty_machines

    def _save_while_dirty(self) -> None:
        while not self._stopping.wait(SAVE_INTERVAL):
            if not self.dirty:
                continue
            try:
                self.save()
            except Exception:  # the next save tries again; the runtime goes on serving
                log.warning("local state not saved", exc_info=True)

    # -- saving ----------------------------------------------------------------------------------
    def save(self) -> None:
        """Write what changed since the last save."""
        if not self._restored:
            return  # the directory holds state not yet read: nothing may be written over it
        with self._save_lock:
            # Tables first, then Step Functions, under the lock that serialises DynamoDB: a flow is
            # published (a new version) before the flows table names it, so every version the tables
            # name is in the Step Functions part too; and a step still running has not written its result.
            with self._consistent:
                with self._dirty_lock:
                    tables, machines_dirty = self._dirty_tables, self._dirty_machines
                    self._dirty_tables, self._dirty_machines = set(), False
                try:
                    scanned = {name: self._scan(name) for name in sorted(tables)}
                    snapshot = self._snapshot_stepfunctions() if machines_dirty else None
                except BaseException:
                    self._dirty_again(tables, machines_dirty)
                    raise
            saved_at = clock.iso()
            files: list[tuple[Path, Any]] = []
            if snapshot is not None:
                machines, executions = snapshot
                files.append((self.directory / MACHINES, {"format": FORMAT, "state_machines": machines}))
                files.append((self.directory / EXECUTIONS, {"format": FORMAT, "executions": executions}))
            files.extend(
                (self._table_path(name), {"format": FORMAT, "table": name, "items": items})
                for name, items in scanned.items()
            )
            files.append((self.directory / SAVED, {"format": FORMAT, "saved_at": saved_at}))
            try:
                _write_all(files)
            except BaseException:
                self._dirty_again(tables, machines_dirty)
                raise
            if snapshot is not None and any(e["status"] == "RUNNING" for e in snapshot[1]):
                # An execution ends inside the engine, with no call to notice: look again next time.
                self._dirty_again(set(), True)

    def _dirty_again(self, tables: set[str], machines: bool) -> None:
        with self._dirty_lock:
            self._dirty_tables |= tables
            self._dirty_machines |= machines

    def _table_path(self, name: str) -> Path:
        return self.directory / TABLES / f"{name}.json"

    def _scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self._dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(encode_item(item) for item in page.get("Items", []))
        return items

    def _snapshot_stepfunctions(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        machines: list[dict[str, Any]] = []
        executions: list[dict[str, Any]] = []
        for machine in list(_stepfunctions_backend().state_machines):
            if machine.name not in self.template_machines:
                machines.append(
                    {
                        "name": machine.name,
                        "arn": machine.arn,
                        "role_arn": machine.roleArn,
                        "type": machine.type,
                        "tracing": machine.tracingConfiguration,
                        "definition": machine.definition,
                        "versions": [
                            {"arn": v.arn, "definition": v.definition, "description": v.description}
                            for _, v in sorted(machine.versions.items())
                        ],
                    }
                )
            executions.extend(self._execution_record(machine, e) for e in list(machine.executions))
        return machines, executions

    def _execution_record(self, machine: Any, execution: Any) -> dict[str, Any]:
        status = execution.exec_status.value if execution.exec_status is not None else "RUNNING"
        record: dict[str, Any] = {
            "arn": execution.exec_arn,
            "name": execution.name,
            "machine": machine.name,
            "on": execution.state_machine.arn,  # the machine, or the version it was started on
            "status": status,
            "start_date": _iso(execution.start_date),
            "stop_date": _iso(execution.stop_date),
            "input": execution.input_data,
            "output": execution.output,
            "error": execution.error,
            "cause": execution.cause,
        }
        if status == "RUNNING":
            record["step"] = self._current_step(execution)
        return record

    def _current_step(self, execution: Any) -> dict[str, str] | None:
        """The step a running execution is in, from its history: the latest it entered and has not
        left; between two steps (a Choice), the one before, since running a step again can be
        recovered from and skipping one cannot."""
        try:
            events = self._history(execution.exec_arn)
        except Exception:  # not started yet: it has entered no step
            events = []
        entered: dict[str, tuple[int, Any]] = {}
        last: tuple[str, Any] | None = None
        for event in events:
            kind = str(event.get("type", ""))
            if kind in {f"{t}StateEntered" for t in _STEPS}:
                name = event["stateEnteredEventDetails"]["name"]
                entered[name] = (int(event["id"]), event.get("timestamp"))
                last = (name, event.get("timestamp"))
            elif kind in {f"{t}StateExited" for t in _STEPS}:
                entered.pop(event["stateExitedEventDetails"]["name"], None)
        definition = json.loads(execution.state_machine.definition)
        if entered:
            name = max(entered, key=lambda n: entered[n][0])
            at: Any = entered[name][1]
        elif last is not None:
            name, at = last
        else:
            name, at = _first_step(definition, execution.input_data), execution.start_date
        if not name:
            return None
        return {"step": name, "action": _action_of(definition, name), "entered_at": _iso(at) or ""}

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self._stepfunctions.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    # -- restoring -------------------------------------------------------------------------------
    def _restore_table(self, name: str, path: Path) -> int:
        saved = _read(path)
        items = [decode_item(item) for item in saved.get("items", [])]
        try:
            for start in range(0, len(items), _BATCH):
                requests: dict[str, Any] = {
                    name: [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
                }
                while requests:
                    answer = self._dynamodb.batch_write_item(RequestItems=requests)
                    requests = answer.get("UnprocessedItems") or {}
        except Exception as exc:
            raise StateError(
                f"could not restore table {name} from {path} ({exc}); has template.yaml changed its keys? "
                "Move the state directory away, or start with --ephemeral"
            ) from exc
        return len(items)

    def _restore_machine(self, saved: Mapping[str, Any]) -> None:
        """Create the machine and publish its versions in order: moto numbers them 1, 2, … as AWS does,
        so each gets the ARN the flows table recorded."""
        client = self._stepfunctions
        versions = list(saved.get("versions", []))
        first = versions[0] if versions else None
        created = client.create_state_machine(
            name=saved["name"],
            definition=first["definition"] if first else saved["definition"],
            roleArn=saved["role_arn"],
            type=saved.get("type") or "STANDARD",
            tracingConfiguration=saved.get("tracing") or {"enabled": False},
            **({"publish": True, **_description(first)} if first else {}),
        )
        arn = created["stateMachineArn"]
        made = [created.get("stateMachineVersionArn")] if first else []
        for version in versions[1:]:
            answer = client.update_state_machine(
                stateMachineArn=arn, definition=version["definition"], publish=True, **_description(version)
            )
            made.append(answer.get("stateMachineVersionArn"))
        expected = [v["arn"] for v in versions]
        if made != expected:
            raise StateError(
                f"state machine {saved['name']}: its versions came back as {made}, not {expected}; move the "
                "state directory away, or start with --ephemeral"
            )
        if versions and saved["definition"] != versions[-1]["definition"]:
            client.update_state_machine(stateMachineArn=arn, definition=saved["definition"])

    def _restore_executions(self, saved: list[dict[str, Any]], saved_at: str) -> list[Interrupted]:
        """Each execution comes back as a record (its status, input and output, not its history): a
        resubmit reads the failed run's input, and a deterministic name started again is refused as
        on AWS. One that was running comes back ABORTED, with a failed result for the step it was in."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.backend.execution import Execution

        backend = _stepfunctions_backend()
        machines = {m.name: m for m in backend.state_machines}
        known = {e.exec_arn for m in backend.state_machines for e in m.executions}
        interrupted: list[Interrupted] = []
        for record in saved:
            machine = machines.get(record["machine"])
            if machine is None:
                log.warning("execution %s: its state machine %s is gone", record["name"], record["machine"])
                continue
            if record["arn"] in known:
                continue
            on = machine if record["on"] == machine.arn else _version(machine, record["on"])
            execution = Execution(
                name=record["name"],
                sm_type=on.sm_type,
                role_arn=on.roleArn,
                exec_arn=record["arn"],
                account_id=ACCOUNT,
                region_name=REGION,
                state_machine=on,
                start_date=_datetime(record["start_date"]) or datetime.datetime.now(datetime.UTC),
                cloud_watch_logging_session=None,
                activity_store={},
                input_data=json.dumps(record["input"]),
            )
            running = record["status"] == "RUNNING"
            execution.exec_status = ExecutionStatus("ABORTED" if running else record["status"])
            execution.stop_date = _datetime(saved_at if running else record["stop_date"])
            execution.output = record.get("output")
            execution.error = "Interrupted" if running else record.get("error")
            execution.cause = INTERRUPTED if running else record.get("cause")
            moto_patches.mark_finished(execution)
            # the list its versions share (moto_patches: executions on versions)
            machine.executions.append(execution)
            if running:
                interrupted.append(self._interrupt(record))
        if interrupted:
            with self._dirty_lock:
                self._dirty_machines = True
        return interrupted

    def _interrupt(self, record: Mapping[str, Any]) -> Interrupted:
        """Record a failed result for the step the execution was in, so that resubmitting the order runs
        it again (resubmit.latest_failure takes the latest failed step)."""
        from orderflow.models.order import StepResult, StepStatus
        from orderflow.store import tables

        given = _mapping(record.get("input"))
        flow, order_ref = _mapping(given.get("flow")), _mapping(given.get("order_ref"))
        step = _mapping(record.get("step"))
        order_key = str(given.get("order_key") or "")
        order_id = order_ref.get("order_id")
        label = f"{flow.get('name') or flow.get('id') or record['machine']} v{flow.get('version', '?')}"
        recorded = False
        if order_key and flow.get("id") and step.get("step"):
            orders = tables.orders()
            if orders.find_header(order_key) is not None:
                orders.record_step(
                    StepResult(
                        order_key=order_key,
                        flow_id=str(flow["id"]),
                        flow_version=int(flow.get("version", 1)),
                        flow_name=str(flow.get("name", "")),
                        step=step["step"],
                        action=step.get("action") or "",
                        status=StepStatus.FAILED,
                        message=INTERRUPTED,
                        started_at=step.get("entered_at") or record["start_date"],
                        finished_at=clock.iso(),
                        execution=record["name"],
                    )
                )
                recorded = True
        return Interrupted(
            execution=record["name"],
            state_machine=record["machine"],
            order_key=order_key,
            order_id=order_id if isinstance(order_id, int) else None,
            flow=label,
            step=str(step.get("step") or ""),
            resubmittable=recorded,
        )


# -- DynamoDB JSON in files -------------------------------------------------------------------------


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level (typed) item as JSON: binary values base64, as DynamoDB's own JSON exports have them."""
    return {name: _encode(value) for name, value in item.items()}


def decode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _decode(value) for name, value in item.items()}


def _encode(value: Mapping[str, Any]) -> dict[str, Any]:
    ((kind, data),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(data)).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(d)).decode() for d in data]}
    if kind == "M":
        return {"M": {k: _encode(v) for k, v in data.items()}}
    if kind == "L":
        return {"L": [_encode(v) for v in data]}
    return {kind: data}


def _decode(value: Mapping[str, Any]) -> dict[str, Any]:
    ((kind, data),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(data)}
    if kind == "BS":
        return {"BS": [base64.b64decode(d) for d in data]}
    if kind == "M":
        return {"M": {k: _decode(v) for k, v in data.items()}}
    if kind == "L":
        return {"L": [_decode(v) for v in data]}
    return {kind: data}


def _tables_of(action: str, params: Mapping[str, Any]) -> set[str]:
    """The tables a write names (empty when it cannot be told: then every table is saved)."""
    if "TableName" in params:
        return {str(params["TableName"])}
    if action == "BatchWriteItem":
        return {str(name) for name in params.get("RequestItems", {})}
    if action == "TransactWriteItems":
        return {
            str(operation["TableName"])
            for item in params.get("TransactItems", [])
            for operation in item.values()
            if isinstance(operation, dict) and "TableName" in operation
        }
    return set()


# -- helpers ----------------------------------------------------------------------------------------


def _read(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise StateError(f"{path} is not local state this version can read (format {FORMAT})")
    return value


def _write(path: Path, value: Any, *, private: bool = False) -> None:
    _write_all([(path, value)], private=private)


def _write_all(files: list[tuple[Path, Any]], *, private: bool = False) -> None:
    """Each file whole or not at all (a temporary file, then os.replace); all of them written before
    any is replaced, so a kill mixes old and new files only within the few replaces."""
    written: list[tuple[Path, Path]] = []
    try:
        for path, value in files:
            temporary = path.with_name(f".{path.name}{TEMPORARY}")
            mode = 0o600 if private else 0o644
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            written.append((temporary, path))
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(value, handle, separators=(",", ":"), default=str)
                handle.flush()
                os.fsync(handle.fileno())
        for temporary, path in written:
            os.replace(temporary, path)
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime.datetime):
        return clock.iso(moment)
    return str(moment)


def _datetime(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _description(version: Mapping[str, Any] | None) -> dict[str, str]:
    description = (version or {}).get("description")
    return {"versionDescription": description} if description else {}


def _version(machine: Any, arn: str) -> Any:
    number = int(arn.rsplit(":", 1)[1])
    version = machine.versions.get(number)
    if version is None:
        raise StateError(f"execution on {arn}: that version of {machine.name} was not restored")
    return version


def _first_step(definition: Mapping[str, Any], given: Any) -> str:
    """The step an execution that has entered none starts with: the resume point of a resubmit,
    else the first step (past the generated entry Choice of a machine that starts with one)."""
    states: Mapping[str, Any] = definition.get("States", {})
    start = str(definition.get("StartAt", ""))
    entry = states.get(start, {})
    if isinstance(given, dict) and given.get("resume_at"):
        return str(given["resume_at"])
    if entry.get("Type") != "Choice":
        return start if entry.get("Type") in _STEPS else ""
    for choice in entry.get("Choices", []):
        if choice.get("IsPresent") is False:
            return str(choice.get("Next", ""))
    return ""


def _action_of(definition: Mapping[str, Any], step: str) -> str:
    for name, state in _states(definition):
        if name == step:
            payload = state.get("Parameters", {}).get("Payload", {})
            return str(payload.get("action") or state.get("Type", "").lower())
    return ""


def _states(machine: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in machine.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)


def _stepfunctions_backend() -> Any:
    # The executing backend: mock_aws(config={"stepfunctions": {"execute_state_machine": True}}).
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[ACCOUNT][REGION]
