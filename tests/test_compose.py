"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
it parses, every app command exists in the project, every participant it runs is defined,
and every variable it sets is one the project (or the OpenTelemetry SDK) reads."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml
from django.core.management import get_commands

from sagas.participant import participants

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services() -> dict[str, dict]:
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def test_it_parses_and_has_the_stack():
    services = compose()["services"]
    assert {
        "postgres",
        "redis",
        "jaeger",
        "web",
        "worker",
        "relay",
        "migrate",
        "inventory",
        "payment",
        "shipping",
        "email",
    } <= set(services)
    assert (ROOT / "Dockerfile").exists()
    assert {"4317:4317", "4318:4318", "16686:16686"} <= set(services["jaeger"]["ports"])


def test_every_app_command_exists_in_the_project():
    commands = get_commands()
    for name, service in app_services().items():
        command = service["command"]
        if command[:2] == ["python", "manage.py"]:
            assert command[2] in commands, f"{name}: no management command {command[2]!r}"
            if command[2] == "run_participant":
                assert participants.get(command[3]), f"{name}: unknown participant"
        elif command[0] == "daphne":
            module, attr = command[-1].split(":")
            assert hasattr(importlib.import_module(module), attr), name
        else:
            raise AssertionError(f"{name}: unexpected command {command}")


def read_variables() -> set[str]:
    names: set[str] = set()
    for path in [*ROOT.joinpath("sagas").rglob("*.py"), ROOT / "dashboard" / "settings.py"]:
        source = path.read_text()
        names |= set(re.findall(r'environ(?:\.get)?\(\s*"([A-Z_]+)"', source))
        names |= set(re.findall(r'env_(?:bool|list)\("([A-Z_]+)"', source))
        names |= set(re.findall(r'environ\["([A-Z_]+)"\]', source))
        if 'f"SAGASCOPE_FAULTS_{' in source:
            names |= {f"SAGASCOPE_FAULTS_{p.upper()}" for p in participants.names()}
    return names


def test_every_variable_set_is_one_the_project_reads():
    read = read_variables()
    for name, service in app_services().items():
        for variable in service.get("environment", {}):
            if variable.startswith("OTEL_"):
                continue  # read by the OpenTelemetry SDK's standard configuration
            assert variable in read, f"{name} sets {variable}, which nothing reads"
