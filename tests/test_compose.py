"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked:
it parses, every app command exists in the project, every participant it runs is defined,
every variable it sets is one the project (or the OpenTelemetry SDK) reads, and the secrets
come from the environment with no default, checked before anything starts; one service
builds the image the others run; every service has a restart policy and waits for what it
needs to be healthy; the operator login is made by a one-shot service, not by hand."""

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


IMAGE = "sagascope:local"
ONE_SHOTS = {"migrate", "createoperator"}


def app_services() -> dict[str, dict]:
    """The services that run the application's image."""
    return {name: s for name, s in compose()["services"].items() if s.get("image") == IMAGE}


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
        "createoperator",
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


def test_one_service_builds_the_image_the_others_run():
    services = compose()["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"]
    assert services["migrate"]["image"] == IMAGE
    assert services["migrate"]["pull_policy"] == "build"
    apps = app_services()
    assert {"web", "worker", "relay", "inventory", "payment", "shipping", "email"} <= set(apps)
    for name, service in apps.items():
        if name != "migrate":
            # A local image: looking for it in a registry would fail, or find someone else's.
            assert service["pull_policy"] == "never", name


def test_every_service_has_a_restart_policy():
    for name, service in compose()["services"].items():
        expected = "no" if name in ONE_SHOTS else "unless-stopped"
        assert service.get("restart") == expected, name


def test_everyone_waits_for_a_healthy_database_and_what_else_it_needs():
    services = compose()["services"]
    healthy = {"condition": "service_healthy"}
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    for name, service in app_services().items():
        assert service["depends_on"]["postgres"] == healthy, name
        if name not in ONE_SHOTS:
            assert service["depends_on"]["redis"] == healthy, name
    # shipping posts its replies to web's /api/replies, so it waits until web answers
    shipping = services["shipping"]
    reply_url = shipping["command"][shipping["command"].index("--reply-url") + 1]
    assert reply_url == "http://web:8000/api/replies"
    assert shipping["depends_on"]["web"] == healthy
    # Nothing else the web serves is needed to start; nothing waits on web by mistake.
    waiting_on_web = {n for n, s in services.items() if "web" in s.get("depends_on", {})}
    assert waiting_on_web == {"shipping"}


def test_the_operator_login_is_made_by_a_one_shot_service():
    service = compose()["services"]["createoperator"]
    assert commands_of(service) == [["python", "manage.py", "create_operator", "operator"]]
    assert service["restart"] == "no"
    password = service["environment"]["SAGASCOPE_OPERATOR_PASSWORD"]
    assert re.fullmatch(r"\$\{SAGASCOPE_OPERATOR_PASSWORD:\?[^}]+\}", password), password
    assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    readme = (ROOT / "README.md").read_text()
    assert "SAGASCOPE_OPERATOR_PASSWORD" in readme and "createsuperuser" not in readme
