"""Logging cannot fail a request: structured keys never take a LogRecord attribute's name, each thread's
log context is its own, and no record, whoever logs it, carries an e-mail, phone or street address."""

from __future__ import annotations

import ast
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from orderflow.connector.sync import Counts, PageResult, ReconcileReport
from orderflow.mapping.csv_files import ParsedInventory
from orderflow.observability import RESERVED_LOG_KEYS, log_keys, logger, redact

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *(ROOT / "layers" / "common" / "python" / "orderflow").rglob("*.py"),
    *(ROOT / "functions").glob("*/app.py"),
]
LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
# Keyword arguments of a log call that are not structured keys (Powertools makes the others keys).
OPTIONS = {"exc_info", "stack_info", "stacklevel", "extra"}


def _record_attributes() -> set[str]:
    """What the standard library refuses as an ``extra`` key: a LogRecord's own attributes, and the
    two that formatters add."""
    return set(vars(logging.LogRecord("probe", logging.INFO, __file__, 1, "m", None, None))) | {
        "message",
        "asctime",
    }


@pytest.fixture
def lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines the package's logger writes (at DEBUG) while the test runs."""
    handler = cast(logging.StreamHandler, logger.registered_handler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        logger.setLevel(level)
        handler.setStream(previous)
        logger.thread_safe_clear_keys()


# -- reserved names ---------------------------------------------------------------------------------
def test_the_reserved_names_are_the_log_records_own_and_each_one_crashes_a_plain_logger() -> None:
    names = _record_attributes()

    assert {"name", "msg", "args", "module", "created", "message", "asctime", "lineno"} <= names
    assert names <= RESERVED_LOG_KEYS
    plain = logging.Logger("probe")
    for name in sorted(names):
        with pytest.raises(KeyError, match="Attempt to overwrite"):
            plain.makeRecord("probe", logging.INFO, __file__, 1, "m", (), None, extra={name: 1})


def _structured_keys(path: Path) -> Iterator[tuple[int, str]]:
    """(line, key) of every literal structured key given to a log call in ``path``: the string keys of
    any dict literal in ``extra=`` (spread or merged ones included), and keyword arguments."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        if node.func.attr not in LEVELS or not (isinstance(owner, ast.Name) and "log" in owner.id.lower()):
            continue
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg not in OPTIONS:
                yield node.lineno, keyword.arg
            if keyword.arg != "extra":
                continue
            for part in ast.walk(keyword.value):
                if isinstance(part, ast.Dict):
                    for key in part.keys:
                        if isinstance(key, ast.Constant) and isinstance(key.value, str):
                            yield node.lineno, key.value
                elif (
                    isinstance(part, ast.Call) and isinstance(part.func, ast.Name) and part.func.id == "dict"
                ):
                    for inner in part.keywords:
                        if inner.arg is not None:
                            yield node.lineno, inner.arg


def test_no_log_call_in_the_package_uses_a_reserved_key() -> None:
    found = [(path.relative_to(ROOT), line, key) for path in SOURCES for line, key in _structured_keys(path)]

    # The scan sees the package's keys (the mapping import's among them)...
    assert len(found) > 30
    assert any(str(path).endswith("api/mappings.py") and key == "created_count" for path, _, key in found)
    # ...and none is a name a log record already has
    assert [f"{path}:{line}: {key!r}" for path, line, key in found if key in RESERVED_LOG_KEYS] == []


def test_the_reports_logged_as_keys_have_no_reserved_names() -> None:
    # These are logged with ``**report`` (keys the scan above cannot see): a field named like a
    # LogRecord attribute would be renamed in the line, so keep their fields clear of those names.
    made = [
        PageResult(page=1, first_id=None, last_id=None, counts=Counts()).to_dict(),
        ReconcileReport(
            since="", checkpoint_before=None, checkpoint=None, complete=True, attempt=""
        ).to_dict(),
        ParsedInventory().to_body(dry_run=False),
    ]

    assert [key for keys in made for key in keys if key in RESERVED_LOG_KEYS] == []


def test_a_reserved_key_made_at_run_time_is_renamed_not_raised(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given keys a report made at run time, one per reserved name (as `**report.to_dict()` could)
    keys = {name: f"value of {name}" for name in sorted(RESERVED_LOG_KEYS)}

    # When they are logged, as extra and as keyword arguments, at every level
    logger.debug("probe debug", extra=keys)
    logger.info("probe info", extra={**keys, "kind": "products"})
    logger.warning("probe warning", created=3)
    logger.error("probe error", extra={"message": "not the message"})
    logger.critical("probe critical", extra={"name": "x"})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("probe exception", extra={"exc_info": "x"})

    # Then every line is written, with its own message and the keys under another name
    written = lines()
    assert [w["message"] for w in written] == [
        "probe debug",
        "probe info",
        "probe warning",
        "probe error",
        "probe critical",
        "probe exception",
    ]
    for name, value in keys.items():
        assert written[1][f"extra_{name}"] == value
    assert written[1]["kind"] == "products"
    assert written[2]["extra_created"] == 3
    assert written[3]["extra_message"] == "not the message"
    assert written[5]["exception_name"] == "ValueError"


def test_log_keys_keeps_ordinary_keys_and_prefixes_reserved_ones() -> None:
    assert log_keys({"order_key": "k", "created": 1, "extra_created": 2}) == {
        "order_key": "k",
        "extra_created": 1,
    }
    assert log_keys(None) == {}


def test_a_line_names_the_code_that_logged_it(lines: Callable[[], list[dict[str, Any]]]) -> None:
    logger.info("where am I")
    logger.warning("and here", extra={"kind": "x"})

    assert {w["location"].split(":")[0] for w in lines()} == {"test_a_line_names_the_code_that_logged_it"}


# -- per-thread context ------------------------------------------------------------------------------
def test_each_thread_logs_its_own_correlation_id_and_keys(lines: Callable[[], list[dict[str, Any]]]) -> None:
    both_set = threading.Barrier(2, timeout=10)
    seen: dict[str, str | None] = {}

    def work(order_key: str) -> None:
        logger.set_correlation_id(order_key)
        logger.thread_safe_append_keys(order_key=order_key)
        both_set.wait()  # both threads have set their keys before either logs
        logger.info("working")
        seen[order_key] = logger.get_correlation_id()

    threads = [threading.Thread(target=work, args=(key,)) for key in ("BC-s-1", "BC-s-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted((w["order_key"], w["correlation_id"]) for w in lines()) == [
        ("BC-s-1", "BC-s-1"),
        ("BC-s-2", "BC-s-2"),
    ]
    assert seen == {"BC-s-1": "BC-s-1", "BC-s-2": "BC-s-2"}


def test_a_record_formatted_later_on_another_thread_keeps_the_keys_it_was_logged_with() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    def work() -> None:
        logger.set_correlation_id("BC-s-9")
        logger.info("logged on a worker thread")

    keep, level = Keep(), logger.log_level
    logger.addHandler(keep)
    logger.setLevel("INFO")
    try:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    finally:
        logger.removeHandler(keep)
        logger.setLevel(level)

    (record,) = [r for r in records if r.getMessage() == "logged on a worker thread"]
    assert json.loads(logger.registered_formatter.format(record))["correlation_id"] == "BC-s-9"


# -- no customer data --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("jane.doe+x@example.co.uk", "<email>"),
        ("/v3/customers?email%3Ain=Ana.Lima%40Example.com&page=1", "/v3/customers?email%3Ain=<email>&page=1"),
        ("/v3/customers?email:in=a%2Bb%40example.org", "/v3/customers?email:in=<email>"),
        ("phone +1 512 555 0199", "phone <phone>"),
        ('{"phone": {"S": "5551234567"}}', '{"phone": {"S": "<phone>"}}'),
        ("(555) 123-4567, 555-0199, 020 7946 0958", "<phone>, <phone>, <phone>"),
        ("77 Quillfeather Lane", "<street>"),
        ("ship to 1 Main St, Austin", "ship to <street>, Austin"),
        ("555 East Street", "<street>"),
    ],
)
def test_customer_data_is_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        '127.0.0.1:50123 "GET /stores/test-store/v2/orders/100 HTTP/1.1" 200 1234',
        "2024-01-15 10:20:19,650 order 1000123 took 0.25 s",
        "arn:aws:states:us-east-1:123456789012:execution:OrderIntake:BC-test-store-100-intake-0123456789abcdef",
        "52fdfc07-2182-154f-163f-5f0f9a621d72",
        "imported 3 rows in 2 pages; 5 Accu Scale lines",
        "BigCommerce GET /v3/customers: attempt 1 of 3 failed, waiting 0.250 s",
    ],
)
def test_what_is_not_customer_data_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_a_library_records_are_masked_whatever_handler_writes_them() -> None:
    # Given urllib3's own logger, at DEBUG, with a handler added after the package was imported
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    library = logging.getLogger("urllib3.connectionpool")
    keep, level = Keep(), library.level
    library.addHandler(keep)
    library.setLevel(logging.DEBUG)
    try:
        # When it logs a request line the way it does, the URL as an argument
        library.debug(
            '%s://%s:%s "%s %s %s" %s %s',
            "http",
            "127.0.0.1",
            50123,
            "GET",
            "/stores/s/v3/customers?email%3Ain=priya.k%40example.org&page=1",
            "HTTP/1.1",
            200,
            88,
        )
        library.debug("plain %s and %d", "words", 7)
    finally:
        library.removeHandler(keep)
        library.setLevel(level)

    # Then the e-mail is masked, and a record with nothing to mask keeps its arguments
    masked, plain = records
    assert masked.getMessage() == (
        'http://127.0.0.1:50123 "GET /stores/s/v3/customers?email%3Ain=<email>&page=1 HTTP/1.1" 200 88'
    )
    assert (plain.msg, plain.args) == ("plain %s and %d", ("words", 7))


def test_a_structured_message_with_nothing_to_mask_stays_structured(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    logger.info({"event": "counts", "created": 2})

    assert lines()[-1]["message"] == {"event": "counts", "created": 2}


def test_a_json_line_masks_customer_data_in_its_keys_and_its_exception(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given a key and an exception that quote a customer (as a refused request's error text can)
    try:
        raise ValueError("no customer for /v3/customers?email:in=priya.k%40example.org")
    except ValueError:
        logger.exception("look-up failed", extra={"note": "call +1 512 555 0199 at 77 Quillfeather Lane"})

    # Then the line is written with all of it masked
    (line,) = lines()
    assert line["note"] == "call <phone> at <street>"
    assert "<email>" in line["exception"] and "priya" not in line["exception"]
    assert line["stack_trace"]["value"] == "no customer for /v3/customers?email:in=<email>"
    assert "priya" not in json.dumps(line)


def test_a_library_traceback_is_masked_for_a_plain_formatter() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    library = logging.getLogger("urllib3.connectionpool")
    keep = Keep()
    library.addHandler(keep)
    try:
        try:
            raise ConnectionError("GET /v3/customers?email%3Ain=priya.k%40example.org failed")
        except ConnectionError:
            library.warning("Retrying", exc_info=True)
    finally:
        library.removeHandler(keep)

    text = logging.Formatter().format(records[0])
    assert "<email>" in text and "priya" not in text
