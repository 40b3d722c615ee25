"""The production stack: docker-compose.yml and the Dockerfile it builds.

No Docker engine is needed: ``docker-compose config -q`` validates the file
(docker-compose 1.29, Debian package ``docker-compose``; skipped when it is
missing, a failure when ``CI`` is set), and the YAML is read to check the
three services, their health checks, volumes and the hub's settings.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.config import ENV_KEYS, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SECRETS = {
    "HUB_ADMIN_TOKEN": "compose-test-token-0123456789",
    "HUB_RABBITMQ_PASSWORD": "rabbit-secret",
    "HUB_POSTGRES_PASSWORD": "postgres-secret",
}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:[?-])(?P<arg>[^}]*))?\}")


def docker_compose() -> str:
    """The docker-compose executable; skip (fail under ``CI``) when it is missing."""
    path = shutil.which("docker-compose")
    if path is None:
        reason = "docker-compose is not installed (apt-get install docker-compose)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set: it is required")
        pytest.skip(f"{reason}; set CI to make this a failure")
    return path


def run_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [docker_compose(), "-f", str(COMPOSE_FILE), "config", "-q"],
        env=clean | env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return _VARIABLE.sub(substitute, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, interpolated with :data:`SECRETS`."""
    environment = service["environment"]
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): interpolate(str(v), SECRETS) for k, v in environment.items()}


def health_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source, for short-syntax volumes."""
    result: dict[str, str] = {}
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        result[target] = source
    return result


# -- docker-compose itself --------------------------------------------------------


def test_docker_compose_config_validates() -> None:
    result = run_config(SECRETS)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_demands_the_admin_token() -> None:
    result = run_config({k: v for k, v in SECRETS.items() if k != "HUB_ADMIN_TOKEN"})
    assert result.returncode != 0
    assert "set HUB_ADMIN_TOKEN" in result.stderr


# -- the file's content -----------------------------------------------------------


def test_three_services_each_with_a_healthcheck(services: dict[str, Any]) -> None:
    assert sorted(services) == ["hub", "postgres", "rabbitmq"]
    assert "healthz" in health_command(services["hub"])
    assert "urllib" in health_command(services["hub"])
    assert health_command(services["rabbitmq"]).endswith("rabbitmq-diagnostics -q ping")
    assert "pg_isready" in health_command(services["postgres"])


def test_images_and_build(services: dict[str, Any]) -> None:
    assert services["hub"]["build"] in (".", {"context": "."})
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["postgres"]["image"] == "postgres:16"


def test_hub_waits_for_healthy_broker_and_database(services: dict[str, Any]) -> None:
    assert services["hub"]["depends_on"] == {
        "rabbitmq": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, Any]) -> None:
    named = set(compose["volumes"])
    expected = {"hub": "/var/lib/hub", "rabbitmq": "/var/lib/rabbitmq",
                "postgres": "/var/lib/postgresql/data"}
    for service, path in expected.items():
        assert mounts(services[service]).get(path) in named, f"{service}: {path}"


def test_hub_mounts_the_routes_it_is_told_to_read(services: dict[str, Any]) -> None:
    env = environment(services["hub"])
    assert mounts(services["hub"])[env["HUB_ROUTES_DIR"]] == "./routes"
    assert (ROOT / "routes").is_dir()
    assert env["HUB_DATA_DIR"] == "/var/lib/hub"


def test_hub_publishes_mllp_and_http(services: dict[str, Any]) -> None:
    assert {str(p) for p in services["hub"]["ports"]} == {"2575:2575", "8080:8080"}


def test_hub_environment_is_what_the_hub_reads(services: dict[str, Any]) -> None:
    raw = services["hub"]["environment"]
    assert raw["HUB_ADMIN_TOKEN"] == "${HUB_ADMIN_TOKEN:?set HUB_ADMIN_TOKEN}"
    env = environment(services["hub"])
    unknown = {k for k in env if k not in ENV_KEYS and "__" not in k}
    assert not unknown, f"unknown to hub.config: {unknown}"
    settings = load_settings(ROOT / "no-such-hub.yaml", environ=env)
    assert settings.broker_url == "amqp://hub:rabbit-secret@rabbitmq:5672/"
    assert settings.database_url == "postgresql+asyncpg://hub:postgres-secret@postgres:5432/hub"
    assert settings.admin_token == SECRETS["HUB_ADMIN_TOKEN"]
    assert (settings.mllp.host, settings.http.host) == ("0.0.0.0", "0.0.0.0")
    assert (settings.mllp.port, settings.http.port) == (2575, 8080)


def test_passwords_agree_between_services(services: dict[str, Any]) -> None:
    env = environment(services["hub"])
    rabbit = environment(services["rabbitmq"])
    postgres = environment(services["postgres"])
    assert f"//{rabbit['RABBITMQ_DEFAULT_USER']}:{rabbit['RABBITMQ_DEFAULT_PASS']}@" in (
        env["HUB_BROKER_URL"]
    )
    assert (
        f"//{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{postgres['POSTGRES_DB']}" in env["HUB_DATABASE_URL"]
    )


# -- the Dockerfile ---------------------------------------------------------------


def test_dockerfile_builds_a_non_root_hub_image() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^CMD \["hub", "run"\]\s*$', text, re.M)


def test_dockerfile_copies_files_that_exist() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    sources = [
        source
        for line in re.findall(r"^COPY (.+)$", text, re.M)
        for source in line.split()[:-1]
        if not source.startswith("--")
    ]
    assert sources
    assert [s for s in sources if not (ROOT / s).exists()] == []
