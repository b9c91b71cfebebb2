"""compose.yaml describes the same stack the tests run on. Validated by `docker compose config` when the
Compose plugin is present, and always by a structural check (no engine exists on our machines)."""

import shutil
import subprocess

import yaml

from tests.services import ROOT

COMPOSE = ROOT / "compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_the_stack_with_health_checks():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "elasticsearch", "web", "worker", "worker-bulk", "beat"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], name
    assert services["elasticsearch"]["image"].split(":")[-1].startswith("8."), "same major as the test server"
    assert "celery" in services["worker"]["command"]
    assert "--queues=interactive" in services["worker"]["command"]
    assert "--queues=bulk" in services["worker-bulk"]["command"]
    assert "uvicorn" in " ".join(services["web"]["command"])


def test_compose_references_are_consistent():
    compose = _compose()
    services, volumes = compose["services"], compose.get("volumes", {})
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name} mounts undeclared volume {source}"
    for name in ("web", "worker", "worker-bulk", "beat"):
        env = services[name]["environment"]
        for key in ("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "SECRET_KEY"):
            assert key in env, f"{name} lacks {key}"
        assert services[name]["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    assert (ROOT / "Dockerfile").exists()
    _docker_compose_config_if_available()


def _docker_compose_config_if_available() -> None:
    """`docker compose config -q` where the Compose plugin exists (none here: no engine, and the client
    ships without the plugin); the structural checks above are the validation everywhere."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        return
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        env={"SECRET_KEY": "x", "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
