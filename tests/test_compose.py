"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
it parses, every app command exists in the project, every participant it runs is defined,
every variable it sets is one the project (or the OpenTelemetry SDK) reads, and the secrets
come from the environment with no default, checked before anything starts."""

from __future__ import annotations

import importlib
import re
import shlex
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


def commands_of(service: dict) -> list[list[str]]:
    """The commands a service runs: its command, or each one of an `sh -c "a && b"`."""
    command = service["command"]
    if command[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in command[2].split("&&")]
    return [command]


def test_every_app_command_exists_in_the_project():
    commands = get_commands()
    for name, service in app_services().items():
        for command in commands_of(service):
            check_command(name, command, commands)


def check_command(name: str, command: list[str], commands: dict[str, str]) -> None:
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
    for path in [*ROOT.joinpath("sagas").rglob("*.py"), ROOT / "config" / "settings.py"]:
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


# What the application signs with: each must come from the environment, never a default.
SECRETS = ("SAGASCOPE_PARTICIPANT_SECRETS", "SECRET_KEY")


def test_secrets_are_required_from_the_environment_with_no_default():
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in SECRETS:
        # `${NAME:?message}`: compose refuses to start, with the message, if it is unset or empty.
        value = compose()["x-env"][variable]
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", value), (variable, value)
        assert "token_urlsafe" in value, f"{variable}: the message should say how to make one"
        for service in app_services().values():
            assert service["environment"][variable] == value  # no service overrides it
    # No default for anything secret-like, in any form compose takes (`:-`, `-`, `:=`, `=`).
    defaults = re.findall(r"\$\{(\w*(?:SECRET|TOKEN|KEY)\w*)(?::?[-=])", text)
    assert defaults == [], defaults


def test_the_stack_checks_its_secrets_before_it_migrates_or_starts():
    services = compose()["services"]
    assert commands_of(services["migrate"]) == [
        ["python", "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        ["python", "manage.py", "migrate", "--noinput"],
    ]
    # Every app service waits for migrate to succeed, so a refused check starts nothing.
    for name, service in app_services().items():
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }, name
