"""Logger, metrics and tracer shared by every function (Powertools): JSON logs, EMF metrics, X-Ray.

Logs carry the order key as correlation id and never customer PII: log keys, counts and statuses,
not order payloads. Logging cannot fail a request, and no log line, whoever writes it, carries an
e-mail address, phone number or street address.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import RESERVED_LOG_ATTRS, LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord as PowertoolsLogRecord


# -- structured keys and per-thread context ----------------------------------------------------------
def _record_attributes() -> frozenset[str]:
    record = logging.LogRecord("orderflow", logging.INFO, __file__, 0, "", None, None)
    # Logger.makeRecord refuses these two as well: formatters set them on the record.
    return frozenset(vars(record)) | {"message", "asctime"}


# Names a structured key cannot have: the standard library raises KeyError for a LogRecord attribute
# (the record's own ``created``, ``name``, ``module``…), and Powertools silently drops ``level``,
# ``location`` and ``timestamp`` from the JSON line.
RESERVED_LOG_KEYS: frozenset[str] = _record_attributes() | frozenset(RESERVED_LOG_ATTRS)


def log_keys(keys: Mapping[str, object] | None) -> dict[str, object]:
    """The structured keys of a log line, with any reserved name prefixed (``created`` becomes
    ``extra_created``): a line with a badly named key is still written and the request goes on.

    Every ``logger.<level>(…, extra=…)`` of :data:`logger` goes through here; a unit test keeps the
    package's own keys clear of reserved names, so this only catches keys made at run time.
    """
    safe: dict[str, object] = {}
    for key, value in (keys or {}).items():
        safe.setdefault(f"extra_{key}" if key in RESERVED_LOG_KEYS else key, value)
    return safe


class OrderflowLogger(Logger):
    """Powertools' Logger, safe to call with any structured keys, with its context kept per thread.

    On Lambda one invocation has its process to itself; in the local runtime several functions run
    at once on threads of one process. So the correlation id is a thread-safe key (Powertools keeps
    those in a context variable), and each line takes this thread's keys when it is logged rather
    than when, or on which thread, it is formatted.
    """

    def _keys(self, extra: Mapping[str, object] | None, kwargs: Mapping[str, object]) -> dict[str, object]:
        return log_keys({**self.thread_safe_get_current_keys(), **(extra or {}), **kwargs})

    def set_correlation_id(self, value: str | None) -> None:
        # inject_lambda_context calls this too (API functions: the request id), so it must be per thread.
        self.thread_safe_append_keys(correlation_id=value)

    def get_correlation_id(self) -> str | None:
        keys = self.thread_safe_get_current_keys()
        if "correlation_id" in keys:
            value = keys["correlation_id"]
            return None if value is None else str(value)
        return super().get_correlation_id()


def _with_safe_keys(level: str) -> Callable[..., None]:
    """``OrderflowLogger.<level>``: Powertools' method, its structured keys through ``_keys``. It adds
    one frame between the caller and the standard library: ``stacklevel + 1`` keeps the line's
    location on the caller."""
    powertools_method = getattr(Logger, level)

    def method(
        self: OrderflowLogger,
        msg: object,
        *args: object,
        exc_info: Any = level == "exception",
        stack_info: bool = False,
        stacklevel: int = 2,
        extra: Mapping[str, object] | None = None,
        **kwargs: object,
    ) -> None:
        powertools_method(
            self,
            msg,
            *args,
            exc_info=exc_info or None,
            stack_info=stack_info,
            stacklevel=stacklevel + 1,
            extra=self._keys(extra, kwargs),
        )

    method.__name__ = level
    return method


for _level in ("debug", "info", "warning", "error", "critical", "exception"):
    setattr(OrderflowLogger, _level, _with_safe_keys(_level))


# -- no customer data in any log line ----------------------------------------------------------------
# Our own lines log keys and counts, but libraries log what they send: at DEBUG, urllib3 writes each
# request line with its query string (customer look-ups by ``email:in=``), botocore whole request and
# response bodies. Masking happens where every record is made (the record factory), not in a handler
# filter: a filter on a logger misses its children's records and one on a handler misses handlers
# added later (Lambda's, pytest's). Our JSON lines are masked once more as a whole (their keys and
# exception text). E-mail addresses are found by their form; phones and streets by their usual shapes:
# a long bare number (epoch seconds) is masked too, and an address in an unusual form can get by.

# Raw or URL-encoded (``jane%40example.com``, ``jane%2Bx%40…``).
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# International (+…), ten or more digits in a row, North American (555-123-4567, (555) 123 4567,
# 555-0199) or with a trunk 0 (020 7946 0958). Not: dates, times, ids inside words or ARNs, a status
# and a length ("200 1234").
_PHONE = re.compile(
    r"(?<![\w%+.:/-])(?:"
    r"(?:\+|%2B)\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    r"|\d{10,15}"
    r"|\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}-\d{4}"
    r"|0\d{2,4}(?:[ .-]\d{3,4}){2}"
    r")(?![\w%])"
)
_STREET_SUFFIX = (
    r"Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|"
    r"Crescent|Close|Square|Sq|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Row|Gardens|Hill|Walk"
)
_GAP = r"(?:\s+|\+|%20)"
# A house number, up to three words, a street kind: "77 Quillfeather Lane", "1 Main St".
_STREET = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?(?:{_GAP}[A-Za-z][\w'.-]*){{0,3}}?{_GAP}(?:{_STREET_SUFFIX})\b\.?"
)


def redact(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers and street addresses masked."""
    text = _EMAIL.sub("<email>", text)
    text = _STREET.sub("<street>", text)
    return _PHONE.sub("<phone>", text)


_TRACEBACKS = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Mask customer data in a record's message (its ``msg`` with its ``args``) and in the traceback
    a plain formatter writes for it. A record with nothing to mask keeps its ``msg`` and ``args`` (a
    dict message stays a dict)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format is reported by the handler, as it would be without us
        message = None
    if message is not None and (masked := redact(message)) != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        # A plain formatter writes exc_text when it is set; an exception's text can quote a URL.
        record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, BaseException):
        return redact(str(value))
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON line with customer data masked in each of its strings: the keys, the
    exception and its stack trace, which the record's own masking does not reach."""

    def serialize(self, log: PowertoolsLogRecord) -> str:
        return super().serialize(cast(PowertoolsLogRecord, _redacted(log)))


def _masking_factory(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redact_record(record)
        return record

    factory._masks_pii = True  # type: ignore[attr-defined]
    return factory


if not getattr(logging.getLogRecordFactory(), "_masks_pii", False):
    logging.setLogRecordFactory(_masking_factory(logging.getLogRecordFactory()))


# -- the shared instances ----------------------------------------------------------------------------
logger = OrderflowLogger(service="orderflow", logger_formatter=RedactingFormatter())
metrics = Metrics(namespace="OrderFlow", service="orderflow")
# Off outside Lambda and wherever POWERTOOLS_TRACE_DISABLED is set (the local runtime, tests); on AWS
# it follows the stack's Tracing parameter. Traces carry the order key as an annotation, so an
# operator finds one order's path across API Gateway, the functions and Step Functions.
tracer = Tracer(service="orderflow")


def trace_order(order_key: str) -> None:
    """Annotate the current trace with the order it is about (searchable in X-Ray)."""
    tracer.put_annotation(key="order_key", value=order_key)
