"""The local runtime: the whole system on one machine, with no AWS account and no Docker.

- AWS is moto, in-process; Step Functions runs the generated ASL with moto's own ASL engine.
- Lambda invocations (from the state machine, or from the API server) are served in-process by the
  functions' own handlers (``functions/<name>/app.py``).
- Tables, secrets, state machines, routes and each function's environment come from template.yaml.
- With a state directory (``make serve``), that state is saved as it changes and restored on start
  (orderflow_local.state).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
import io
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from urllib.parse import unquote

import boto3
import botocore.loaders
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.response import StreamingBody
from moto import mock_aws

from orderflow.flows.asl import substitute
from orderflow.observability import logger, metrics
from orderflow_local import moto_patches
from orderflow_local.functions import EXAMPLES, load_handler
from orderflow_local.server import LocalApiServer
from orderflow_local.state import Interrupted, LocalState
from orderflow_local.template import REGION, FunctionSpec, LocalTemplate, load_template

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
PROVIDER_SECRET_ID = "ProviderSecretValue"  # the template's secret behind PROVIDER_SECRET_SECRET_ARN


def project_root() -> Path:
    """The folder holding template.yaml: this package lives at tools/orderflow_local."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "template.yaml").is_file():
            return parent
    cwd = Path.cwd()
    if (cwd / "template.yaml").is_file():
        return cwd
    raise FileNotFoundError("template.yaml not found above the orderflow package or in the current folder")


@dataclass
class LocalContext:
    """What a Lambda handler may read from its context object."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        from orderflow_local.template import function_arn

        return function_arn(self.function_name)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class RuntimeConfig:
    bigcommerce_api_url: str
    store_hash: str
    access_token: str
    webhook_secret: str
    admin_token: str | None = None
    log_level: str = "WARNING"
    host: str = "127.0.0.1"
    port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    # moto's engine really waits between a Task's retries (2, 4, 8 s…); tests scale that down.
    retry_wait_scale: float = 1.0
    # Where the state is kept across restarts; None keeps it in memory only (tests, `make demo`).
    state_dir: Path | None = None
    # The providers' shared secret (PROVIDER_SECRET); None: the one made up for the state (or the run).
    provider_secret: str | None = None
    # ALLOW_LOOPBACK_TARGETS for every function; None leaves it unset (allowed only with a loopback store).
    allow_loopback_targets: bool | None = None
    # Custom actions' Lambda targets served in-process: name → "module:function" (orderflow_local.functions).
    functions: dict[str, str] = field(default_factory=dict)

    def template_parameters(self) -> dict[str, str]:
        return {
            "BigCommerceStoreHash": self.store_hash,
            "BigCommerceApiUrl": self.bigcommerce_api_url,
            "BigCommerceAccessToken": self.access_token,
            "WebhookSecret": self.webhook_secret,
            "LogLevel": self.log_level,
        }


class LocalRuntime:
    def __init__(self, config: RuntimeConfig, root: Path | None = None) -> None:
        self.config = config
        self.root = root or project_root()
        self.template: LocalTemplate = load_template(
            self.root / "template.yaml", config.template_parameters()
        )
        self.handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self.handlers_registered: set[str] = set()  # those of register_function
        self.invocations: list[tuple[str, float]] = []  # (function, seconds), for benchmarks
        self._invocations_lock = threading.Lock()
        self._saved_env: dict[str, str] | None = None
        self._saved_log_level: int | None = None
        self._mock: Any = None
        self._states_client: Any = None
        self._states_lock = threading.Lock()
        self.server: LocalApiServer | None = None
        self.state: LocalState | None = None
        # Executions that were running when the state was last saved, as restored on start.
        self.interrupted: list[Interrupted] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._saved_env = dict(os.environ)
        os.environ.update(self._environment())
        try:
            self._start()
        except BaseException:
            self.stop()  # releases the state directory, stops moto and gives the environment back
            raise

    def _start(self) -> None:
        if self.config.state_dir is not None:
            self.state = LocalState(
                Path(self.config.state_dir),
                {logical: args["TableName"] for logical, args in self.template.tables.items()},
                set(self.template.state_machines),
                moto_patches.ATOMIC_LOCK,
            )
            self.state.open()
            # Before the secrets are created: a provider's callbacks carry the value of the last run.
            self.template.generated_secrets = self.state.secrets(self.template.generated_secrets)
        if self.config.provider_secret:
            # Chosen for this run, over the saved one: a provider on loopback is set up with it.
            if PROVIDER_SECRET_ID not in self.template.generated_secrets:
                raise ValueError(f"local runtime: template.yaml has no {PROVIDER_SECRET_ID} to set")
            self.template.generated_secrets[PROVIDER_SECRET_ID] = self.config.provider_secret
        # Before anything starts: a merchant's function that cannot be imported stops the start, named.
        local_functions = {name: load_handler(where) for name, where in self.config.functions.items()}
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        moto_patches.apply(retry_wait_scale=self.config.retry_wait_scale)
        self._saved_log_level = logger.log_level
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))  # the logger was made before the env was set
        _forget_cached_clients()
        boto3.setup_default_session(region_name=REGION)
        assert boto3.DEFAULT_SESSION is not None
        # One reader of botocore's service models for every start in this process: a new session would
        # read and parse them again (a quarter of a start), and botocore only reads them.
        boto3.DEFAULT_SESSION._session.register_component("data_loader", _service_models())
        # botocore hands this handler the serialized request; answering it skips the HTTP call.
        boto3.DEFAULT_SESSION.events.register("before-call.lambda.Invoke", self._on_lambda_invoke)  # type: ignore[arg-type]
        self._create_resources()
        if self.state is not None:
            moto_patches.WRITE_OBSERVERS.append(self.state.observe)
            self.interrupted = self.state.restore(
                boto3.client("dynamodb", region_name=REGION),
                boto3.client("stepfunctions", region_name=REGION),
            )
        self._load_handlers()
        for name, handler in {**EXAMPLES, **local_functions}.items():
            self.register_function(name, handler)
        self.server = LocalApiServer(self.template.routes, self.invoke, self.config.host, self.config.port)
        self.server.start()
        if self.state is not None:
            self.state.start_saving()

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None
        self._wait_for_running(timeout=10)
        if self.state is not None:
            state, self.state = self.state, None
            try:
                state.close()  # the final save: after a clean stop, a restart loses nothing
            except Exception:
                logging.getLogger(__name__).exception("local state not saved at stop")
            finally:
                with contextlib.suppress(ValueError):
                    moto_patches.WRITE_OBSERVERS.remove(state.observe)
        if self._mock:
            self._mock.stop()
            self._mock = None
        self._states_client = None
        _forget_cached_clients()
        if self._saved_log_level is not None:
            logger.setLevel(self._saved_log_level)
            self._saved_log_level = None
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None

    @property
    def api_url(self) -> str:
        assert self.server is not None, "the runtime is not started"
        return self.server.url

    def save_state(self) -> None:
        """Save what changed now, rather than within the second (a no-op without a state directory)."""
        if self.state is not None:
            self.state.save()

    def secret_value(self, logical_id: str) -> str:
        """A secret of the template as this run has it (generated ones are made up per run)."""
        values = {**self.template.secrets, **self.template.generated_secrets}
        return values[logical_id]

    # -- functions -----------------------------------------------------------------------------
    def register_function(self, name: str, handler: Callable[[dict[str, Any], Any], Any]) -> None:
        """Serve Lambda invokes of ``name`` (or an ARN ending in it) with ``handler``: a function outside
        the template, such as a merchant's custom action (see orderflow_local.functions)."""
        if name in self.template.functions and name not in self.handlers_registered:
            raise ValueError(f"local runtime: {name} is a function of template.yaml")
        self.handlers_registered.add(name)
        self.template.functions[name] = FunctionSpec(name, self.root, "app.handler", {}, 30)
        self.handlers[name] = handler

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Call a function's handler in-process, the way Lambda would."""
        spec = self.template.functions[function]
        handler = self.handlers[function]
        started = time.perf_counter()
        try:
            # In a copy of this thread's context: the invocation's log keys are its own and end with it
            # (a function invoked from another one, on its thread, leaves the caller's keys as they were).
            return contextvars.copy_context().run(_call_with_own_log_keys, handler, event, spec)
        finally:
            with self._invocations_lock:
                self.invocations.append((function, time.perf_counter() - started))
            if os.environ.get("POWERTOOLS_METRICS_DISABLED") == "true":
                # Disabled metrics are neither printed nor cleared, and at 100 values Powertools
                # prints them anyway: drop them after each invocation.
                metrics.clear_metrics()

    def _function_for(self, name_or_arn: str) -> FunctionSpec | None:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        return self.template.functions.get(name)

    def _on_lambda_invoke(
        self, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        match = re.search(r"/functions/(.+)/invocations", params["url_path"])
        spec = self._function_for(unquote(match.group(1))) if match else None
        if spec is None:
            return None  # not one of ours: let the embedded Lambda answer (ResourceNotFound)
        event = json.loads(params.get("body") or b"{}")
        headers: dict[str, str] = {}
        try:
            body = json.dumps(self.invoke(spec.logical_id, event), default=str).encode()
        except Exception as exc:
            headers["X-Amz-Function-Error"] = "Unhandled"
            body = json.dumps(
                {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-5:],
                }
            ).encode()
        parsed: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "Payload": StreamingBody(io.BytesIO(body), len(body)),
            "ResponseMetadata": {
                "HTTPStatusCode": 200,
                "HTTPHeaders": headers,
                "RequestId": str(uuid.uuid4()),
            },
        }
        if headers:
            parsed["FunctionError"] = "Unhandled"
        http_headers = HTTPHeaders()
        for key, value in headers.items():
            http_headers[key] = value
        return AWSResponse(params.get("url", ""), 200, http_headers, None), parsed

    def _load_handlers(self) -> None:
        for spec in self.template.functions.values():
            module_name, _, attribute = spec.handler.rpartition(".")
            module = _load_module(f"orderflow_local_{spec.logical_id}", spec.code_dir / f"{module_name}.py")
            self.handlers[spec.logical_id] = getattr(module, attribute)

    # -- executions ----------------------------------------------------------------------------
    def _states(self) -> Any:
        """The Step Functions client the runtime reads executions with: one per run (clients are
        thread-safe), as making a client costs more than the call it makes while waiting."""
        with self._states_lock:
            if self._states_client is None:
                self._states_client = boto3.client("stepfunctions", region_name=REGION)
            return self._states_client

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of every state machine, oldest first (the template's and published flows')."""
        client = self._states()
        found: list[dict[str, Any]] = []
        arns = [
            m["stateMachineArn"]
            for p in client.get_paginator("list_state_machines").paginate()
            for m in p["stateMachines"]
        ]
        for arn in arns:
            for page in client.get_paginator("list_executions").paginate(stateMachineArn=arn):
                found.extend(cast(list[dict[str, Any]], page["executions"]))
        return found

    def wait_for_execution(self, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
        client = self._states()
        deadline = time.monotonic() + timeout
        pause = 0.02
        while True:
            described = cast(dict[str, Any], client.describe_execution(executionArn=execution_arn))
            if described["status"] in TERMINAL:
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {described['status']} after {timeout}s")
            time.sleep(pause)
            # Each look takes the interpreter from the executions it waits for: look less often as
            # the wait grows, never more than a tenth of a second late.
            pause = min(pause * 1.5, 0.1)

    def wait_for_all(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Wait until every execution has finished, including those that finishing ones started
        (the intake starts the flows), and return them all, oldest first."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.executions()
            done = [
                self.wait_for_execution(e["executionArn"], max(0.1, deadline - time.monotonic()))
                for e in listed
            ]
            if len(self.executions()) == len(listed):
                return sorted(done, key=lambda d: d["startDate"])

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        client = self._states()
        events: list[dict[str, Any]] = []
        for page in client.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(cast(list[dict[str, Any]], page["events"]))
        return events

    def definition(self, state_machine_arn: str) -> dict[str, Any]:
        client = self._states()
        return json.loads(client.describe_state_machine(stateMachineArn=state_machine_arn)["definition"])

    def _wait_for_running(self, timeout: float) -> None:
        if self._mock is None:
            return
        try:
            self.wait_for_all(timeout)
        except Exception:  # stopping anyway; a stuck execution must not hang the caller
            logging.getLogger(__name__).warning("executions still running at stop")

    # -- resources -----------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env: dict[str, str] = {
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # moto answers in this process, one request at a time (moto_patches): threads only contend.
            "MAPPING_WRITE_THREADS": "1",
        }
        owners: dict[str, str] = {}
        # All functions share this one process, so their environments must agree.
        for spec in self.template.functions.values():
            for key, value in spec.environment.items():
                if key in env and key not in owners and env[key] != value:
                    raise ValueError(f"local runtime: {key} is set by the runtime and by {spec.logical_id}")
                if key in owners and env[key] != value:
                    raise ValueError(
                        f"local runtime: {key} differs between {owners[key]} and {spec.logical_id}; "
                        "functions share one process here, so give them distinct names"
                    )
                env[key], owners[key] = value, owners.get(key, spec.logical_id)
        if self.config.admin_token:
            env["ADMIN_API_TOKEN"] = self.config.admin_token
        if self.config.allow_loopback_targets is not None:
            env["ALLOW_LOOPBACK_TARGETS"] = "true" if self.config.allow_loopback_targets else "false"
        env.update(self.config.extra_env)
        return env

    def _create_resources(self) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for args in self.template.tables.values():
            ttl = args.pop("_ttl", None)
            dynamodb.create_table(**args)
            if ttl:
                dynamodb.update_time_to_live(TableName=args["TableName"], TimeToLiveSpecification=ttl)
                args["_ttl"] = ttl
        secrets = boto3.client("secretsmanager", region_name=REGION)
        for name, value in {**self.template.secrets, **self.template.generated_secrets}.items():
            secrets.create_secret(Name=name, SecretString=value)
        sqs = boto3.client("sqs", region_name=REGION)
        for queue in self.template.queues.values():
            sqs.create_queue(QueueName=queue)
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        for machine in self.template.state_machines.values():
            definition = substitute(
                machine.definition_file.read_text(encoding="utf-8"), machine.substitutions
            )
            stepfunctions.create_state_machine(
                name=machine.logical_id,
                definition=definition,
                roleArn=f"arn:aws:iam::123456789012:role/{machine.logical_id}Role",
                type="STANDARD",
            )


def _call_with_own_log_keys(
    handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any], spec: FunctionSpec
) -> Any:
    """Call a handler with log keys of its own. Powertools' inject_lambda_context appends the function's
    name and request id for the whole process, and here several functions run at once on threads:
    this thread's keys, which win over the process's, name this invocation. The correlation id starts
    empty, not another invocation's; the handler sets it (orderflow's logger keeps it per thread)."""
    context = LocalContext(spec.logical_id, spec.timeout)
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**vars(build_lambda_context_model(context)), correlation_id=None)
    return handler(event, context)


def _load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def _service_models() -> Any:
    return botocore.loaders.create_loader()


def _forget_cached_clients() -> None:
    from orderflow.bigcommerce import connection
    from orderflow.fulfillment import providers
    from orderflow.store import clients, dynamo, tables
    from orderflow.store.settings import forget_kept_settings

    dynamo.reset()
    providers.reset()
    clients.reset()
    tables.reset()
    forget_kept_settings()  # read from the fresh embedded AWS's tables, not the last runtime's
    connection._client.cache_clear()
    try:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        parameters.base.DEFAULT_PROVIDERS.clear()
    except (ImportError, AttributeError):
        pass
