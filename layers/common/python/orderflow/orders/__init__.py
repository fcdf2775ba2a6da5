"""Orders: the intake state machine's steps (import, route), the events that start flows and
the executions they start, validation, status moves and push-back, the hold a failed path ends in."""
