"""Every change the local runtime makes inside moto, checked against the moto version it was written for."""

from __future__ import annotations

import importlib
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
