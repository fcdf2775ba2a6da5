"""Flows as code: read flow files (YAML or JSON) and write their generated state machines."""

from __future__ import annotations

import json
from pathlib import Path

from orderflow.flows.asl import generate_asl, intake_asl, to_json
from orderflow.models.flow import Flow, parse_flow


def load_flow(path: str | Path) -> Flow:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = parse_yaml(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
    return parse_flow(data)


def parse_yaml(text: str) -> object:
    """YAML with 1.2 booleans: a condition's ``yes:`` and ``no:`` stay keys, not True and False."""
    import re

    import yaml  # only flows-as-code tooling reads YAML; the Lambdas take JSON

    class FlowLoader(yaml.SafeLoader):
        pass

    FlowLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    FlowLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return yaml.load(text, Loader=FlowLoader)


def asl_file_name(flow_file: str | Path) -> str:
    return f"{Path(flow_file).stem.replace('-', '_')}_flow.asl.json"


INTAKE_FILE = "order_intake.asl.json"


def generate_file(flow_file: str | Path, out_dir: str | Path) -> Path:
    target = Path(out_dir) / asl_file_name(flow_file)
    target.write_text(to_json(generate_asl(load_flow(flow_file))), encoding="utf-8")
    return target


def generate_intake(out_dir: str | Path) -> Path:
    target = Path(out_dir) / INTAKE_FILE
    target.write_text(to_json(intake_asl()), encoding="utf-8")
    return target
