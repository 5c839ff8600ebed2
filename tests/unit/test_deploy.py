"""The files in deploy/ agree with the code: metric names, connection routing, ports and env vars.

No Docker engine runs in CI, so these read the files as data: a renamed metric, a service pointed at
the wrong database endpoint or an undocumented variable fails here instead of in someone's deployment.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from prometheus_client import REGISTRY, generate_latest

yaml = pytest.importorskip("yaml")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def _interpolated(value: str) -> str:
    """`${VAR:-default}` → default (or a placeholder), as compose would render it with the example env."""
    env = _env_example()
    return _INTERPOLATION.sub(lambda m: env.get(m.group(1)) or "x", value)


def _exposed_metric_names() -> set[str]:
    """Every sample name walletsync's metrics can expose, from the TYPE lines of a real scrape."""
    import walletsync.api.app
    import walletsync.cache
    import walletsync.market.sync
    import walletsync.providers.metrics  # noqa: F401 - registering the metrics is the point

    names: set[str] = set()
    for line in generate_latest(REGISTRY).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


def test_dashboard_queries_only_metrics_walletsync_exposes() -> None:
    """Every walletsync_* name in the Grafana dashboard is one the code registers."""
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "walletsync.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"walletsync_[a-z_]+", target["expr"])
    }
    assert len(used) >= 12
    assert used - _exposed_metric_names() == set()


def test_api_and_workers_go_through_pgbouncer_and_migrations_do_not() -> None:
    """Queries via PgBouncer with WALLETSYNC_DATABASE_PGBOUNCER=true; session work and migrations straight to PostgreSQL."""
    services = _compose()["services"]
    for name in ("api", "worker"):
        env = {k: _interpolated(str(v)) for k, v in services[name]["environment"].items()}
        assert urlparse(env["DATABASE_URL"]).hostname == "pgbouncer", name
        assert env["WALLETSYNC_DATABASE_PGBOUNCER"] == "true", name
        assert urlparse(env["DATABASE_DIRECT_URL"]).hostname == "postgres", name
        assert env["WALLETSYNC_AUTO_MIGRATE"] == "false", name
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    migrate = {k: _interpolated(str(v)) for k, v in services["migrate"]["environment"].items()}
    assert urlparse(migrate["DATABASE_URL"]).hostname == "postgres"
    assert migrate["WALLETSYNC_DATABASE_PGBOUNCER"] == "false"
    assert services["migrate"]["command"] == ["migrate", "up"]


def test_every_dependency_waits_on_a_health_check() -> None:
    """depends_on always has a condition, and a service_healthy target always defines a healthcheck."""
    services = _compose()["services"]
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in ("service_healthy", "service_completed_successfully"), (name, target)
            if rule["condition"] == "service_healthy" and target != "api":  # api: the image's HEALTHCHECK
                assert "test" in services[target]["healthcheck"], target
    assert "HEALTHCHECK" in (DEPLOY / "Dockerfile").read_text()


def test_prometheus_scrapes_the_ports_the_services_listen_on() -> None:
    """The worker's --metrics-port and the API port are the ones Prometheus discovers by DNS."""
    services = _compose()["services"]
    worker_cmd = services["worker"]["command"]
    worker_port = int(worker_cmd[worker_cmd.index("--metrics-port") + 1])
    api_cmd = services["api"]["command"]
    api_port = int(api_cmd[api_cmd.index("--port") + 1])
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    ports = {
        sd["names"][0]: sd["port"] for job in config["scrape_configs"] for sd in job.get("dns_sd_configs", [])
    }
    assert ports == {"api": api_port, "worker": worker_port}


def test_env_example_covers_every_interpolated_variable() -> None:
    """Each ${VAR} in docker-compose.yml has a line in deploy/.env.example, and no real-looking secret."""
    text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(_INTERPOLATION.findall(text))
    env = _env_example()
    assert used - set(env) == set()
    for key, value in env.items():
        if key.endswith(("PASSWORD", "_KEY", "PROJECT_ID")):
            assert value in ("",) or value.startswith("change-me"), key


def test_env_example_walletsync_settings_exist() -> None:
    """Every walletsync variable in deploy/.env.example is a real setting (no typos that silently do nothing)."""
    from walletsync.config import Settings

    aliases = {
        str(choice)
        for field in Settings.model_fields.values()
        if field.validation_alias is not None
        for choice in getattr(field.validation_alias, "choices", [field.validation_alias])
    }
    infra = {k for k in _env_example() if k.startswith(("POSTGRES_", "REDIS_PASSWORD", "GRAFANA_"))}
    infra |= {"WALLETSYNC_API_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT"}
    assert set(_env_example()) - infra - aliases == set()
