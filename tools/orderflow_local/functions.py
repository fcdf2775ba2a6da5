"""Lambda functions outside the template that the local runtime serves by name: custom actions' targets.

On AWS a ``custom`` step invokes the merchant's Lambda (``<stack>-custom-*``); locally there is no such
function, so the runtime answers invokes of a registered name with a Python handler instead. Two ways
to register one:

- ``LOCAL_FUNCTIONS="my-stack-custom-fraud=my_actions:fraud_check,other=path/to/file.py:handler"``
  (``make serve``; or ``--function NAME=module:function`` to ``orderflow_cli serve``): a module on
  ``PYTHONPATH``, or a file, and the handler in it, called as Lambda calls it, ``handler(event, context)``;
- ``LocalRuntime.register_function(name, handler)`` in a test or a script.

:data:`EXAMPLES` are always served, so a flow can try a custom step at once.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


def approve(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Succeeds, naming the order: a custom step that always lets the order through."""
    return {"succeeded": True, "message": f"approved {event.get('order_key')} (local example)"}


def hold_for_review(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails with a reason taken from the step's params: a custom step that stops the order."""
    reason = (event.get("params") or {}).get("reason") or "held for manual review"
    return {"succeeded": False, "message": f"{reason} (local example)"}


EXAMPLES: dict[str, Handler] = {
    "orderflow-local-custom-approve": approve,
    "orderflow-local-custom-hold": hold_for_review,
}


class LocalFunctionError(ValueError):
    """A LOCAL_FUNCTIONS entry that cannot be served; the message names the entry."""


def parse_spec(spec: str) -> dict[str, str]:
    """``name=module:function`` entries, separated by commas or whitespace: name → ``module:function``."""
    found: dict[str, str] = {}
    for entry in spec.replace(",", " ").split():
        name, equals, where = entry.partition("=")
        if not equals or not name or ":" not in where:
            raise LocalFunctionError(
                f"LOCAL_FUNCTIONS: {entry!r} is not NAME=module:function (or NAME=path/to/file.py:function)"
            )
        found[name] = where
    return found


def load_handler(where: str) -> Handler:
    """The handler ``module:function`` (a module on PYTHONPATH, or a .py file) names."""
    module_name, _, attribute = where.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            spec = importlib.util.spec_from_file_location(f"orderflow_local_function_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except (ImportError, OSError) as exc:
        raise LocalFunctionError(f"LOCAL_FUNCTIONS: cannot import {module_name!r}: {exc}") from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise LocalFunctionError(f"LOCAL_FUNCTIONS: {module_name!r} has no function {attribute!r}")
    return handler
