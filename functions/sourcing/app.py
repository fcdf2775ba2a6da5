"""Placeholder until this function lands."""


def handler(event: dict, context: object) -> dict:
    raise NotImplementedError("not built yet")
