"""Settings: YAML plus HUB_* overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_settings
from hub.errors import ConfigError

REPO = Path(__file__).parents[2]


def test_defaults_without_a_file(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "absent.yaml", {})
    assert (s.mllp.port, s.http.port, s.dicom.port) == (2575, 8080, 11112)
    assert s.data_dir == Path("var")
    assert s.broker_url == "embedded"
    assert s.effective_database_url == "sqlite+aiosqlite:///var/hub.db"


def test_the_shipped_hub_yaml_is_valid() -> None:
    s = load_settings(REPO / "hub.yaml", {})
    assert set(s.destinations) == {"adt-archive", "documents-archive", "srri", "identity-updates",
                                   "repository", "acknowledgements"}
    assert s.components == ["identity", "repository"], "MSSanté is off until configured"


def test_the_shipped_hub_yaml_is_the_packaged_one() -> None:
    """The package ships the checkout's hub.yaml and routes (links in the source tree)."""
    from hub.config import SHIPPED_CONFIG, SHIPPED_ROUTES

    assert SHIPPED_CONFIG.read_bytes() == (REPO / "hub.yaml").read_bytes()
    shipped = {p.name: p.read_bytes() for p in SHIPPED_ROUTES.iterdir()}
    assert shipped == {p.name: p.read_bytes() for p in (REPO / "routes").iterdir()}


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("HUB_DATA_DIR", "/srv/hub", lambda s: str(s.data_dir)),
        ("HUB_MLLP_PORT", "3575", lambda s: str(s.mllp.port)),
        ("HUB_HTTP_PORT", "9090", lambda s: str(s.http.port)),
        ("HUB_DICOM_PORT", "104", lambda s: str(s.dicom.port)),
        ("HUB_BROKER_URL", "amqp://u:p@h:5672/", lambda s: s.broker_url),
        ("HUB_DATABASE_URL", "postgresql+asyncpg://h/db", lambda s: s.effective_database_url),
        ("HUB_ADMIN_TOKEN", "x" * 20, lambda s: s.admin_token),
        ("HUB_ROUTES_DIR", "/etc/routes", lambda s: str(s.routes_dir)),
        ("HUB_MLLP__IDLE_TIMEOUT_S", "12.5", lambda s: str(s.mllp.idle_timeout_s)),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("HUB_") else "",
)
def test_environment_overrides_the_file(tmp_path: Path, variable: str, value: str,
                                        read: object) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("mllp: {port: 1111}\nhttp: {port: 2222}\n")
    s = load_settings(config, {variable: value})
    assert read(s) == value  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "env", "key", "problem"),
    [
        ("mllp: {port: abc}\n", {}, "mllp.port", "valid integer"),
        ("mllp: {port: 70000}\n", {}, "mllp.port", "less than or equal to 65535"),
        ("mllp: {prot: 1}\n", {}, "mllp.prot", "Extra inputs are not permitted"),
        ("", {"HUB_MLLP_PORT": "x"}, "mllp.port", "got 'x'"),
        ("destinations: {a: {type: ftp}}\n", {}, "destinations.a", "type"),
        ("destinations: {a: {type: mllp, host: h}}\n", {}, "destinations.a.mllp.port",
         "Field required"),
        ("admin_token: short\n", {}, "admin_token", "at least 16 characters"),
        ("sources: [{name: a}, {name: a}]\n", {}, "sources", "used twice"),
    ],
    ids=["port-text", "port-range", "unknown-key", "env-port", "unknown-type",
         "missing-port", "short-token", "duplicate-source"],
)
def test_errors_name_the_key_and_the_problem(tmp_path: Path, text: str, env: dict[str, str],
                                             key: str, problem: str) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env)
    message = str(caught.value)
    assert key in message
    assert problem in message


def test_yaml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("mllp: [port\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(config, {})
