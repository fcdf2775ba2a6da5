"""Validation problems, reported all at once, each naming its path (``steps[2].branches[0].name: ...``)."""

from __future__ import annotations


class Problems(ValueError):
    """A document that cannot be used; ``problems`` lists every mistake with its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def loc_path(loc: tuple[int | str, ...], union_tags: set[str]) -> str:
    """pydantic's error location as a path a merchant reads: ``steps[1].name``. A tagged union adds
    its tag after the list index (``steps, 1, 'action', 'name'``); that tag is dropped."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in union_tags and index > 0 and isinstance(loc[index - 1], int):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out
