"""Domain errors. The API layer maps each to one HTTP status and the contract's error shape."""

from __future__ import annotations


class DomainError(Exception):
    """An error a merchant or an operator can act on; carries the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.problems = problems or []

    def to_body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message, "field": self.field}
        if self.problems:
            error["problems"] = self.problems
        return {"error": error}


class InvalidInput(DomainError):
    status = 400
    code = "invalid_input"

    @classmethod
    def listing(cls, problems: list[str]) -> InvalidInput:
        """Every problem of a document, each with its path; the first one's path is the field."""
        return cls("; ".join(problems), field=problems[0].split(":", 1)[0], problems=problems)


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ConfigurationError(RuntimeError):
    """The deployment is missing something (an environment variable, a secret): our fault, not the
    caller's, so it answers 500 and BigCommerce retries once it is fixed."""


class TransientStepError(Exception):
    """A step hit a problem that may pass (store unreachable, throttling): Step Functions retries it.

    The generated ASL retries on this error name, so the class name is part of the contract.
    """


class StepFailed(Exception):
    """A step failed (a business failure, a critical execution policy) and no Condition follows it:
    the generated Catch ends the path and puts the order on hold (see flows/asl.py).

    The generated ASL catches this error name, so the class name is part of the contract.
    """


class ResumeElsewhere(Exception):
    """A resubmit resumes the execution at a later step: the machine's first step hands over, untouched,
    and the generated Catch goes to the resume point (see flows/asl.py). The class name is part of
    the ASL contract."""


class StoreNotAnswering(Exception):
    """The intake's import found the store not answering and says, as JSON, how long to wait: the
    generated Catch waits that long and imports again. The class name is part of the ASL contract."""


class ProviderUnavailable(Exception):
    """A fulfillment or invoice provider could not be reached (or kept failing) within the step's own
    attempts: the generated ASL retries the step on the stack's long schedule (retries.RetrySchedule)
    rather than holding the order after a minute. The class name is part of the ASL contract.
    """
