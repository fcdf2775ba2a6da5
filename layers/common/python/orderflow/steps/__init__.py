"""Running a flow step in a Lambda task: its policies, its step result, which errors to retry."""
