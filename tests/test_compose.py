"""compose.yaml describes the same stack the tests run on. Validated by `docker compose config` when the
Compose plugin is present, and always by a structural check (no engine exists on our machines)."""

import shutil
import subprocess

import yaml

from tests.services import ROOT

COMPOSE = ROOT / "compose.yaml"
ES_NODES = ("es01", "es02", "es03")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_the_stack_with_health_checks():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", *ES_NODES, "web", "worker", "worker-bulk", "beat"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], name
    for name in ES_NODES:
        assert services[name]["image"].split(":")[-1].startswith("8."), "same major as the test server"
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
        for node in ES_NODES:
            assert services[name]["depends_on"][node]["condition"] == "service_healthy", (name, node)
    assert (ROOT / "Dockerfile").exists()
    _docker_compose_config_if_available()


def test_compose_elasticsearch_is_one_three_node_cluster_the_app_lists_whole():
    """The same topology `scripts/services.sh cluster up` runs: three nodes, one cluster, every node
    seeding from the other two, all three bootstrapping the first master election, one replica."""
    services = _compose()["services"]
    envs = {name: services[name]["environment"] for name in ES_NODES}
    assert {env["cluster.name"] for env in envs.values()} == {"datacollection"}
    for name, env in envs.items():
        assert env["node.name"] == name
        assert "discovery.type" not in env, "single-node discovery would make three clusters"
        assert set(env["discovery.seed_hosts"].split(",")) == set(ES_NODES) - {name}
        assert set(env["cluster.initial_master_nodes"].split(",")) == set(ES_NODES)
    data_volumes = {services[name]["volumes"][0].split(":")[0] for name in ES_NODES}
    assert len(data_volumes) == len(ES_NODES), "each node needs its own data volume"
    for name in ("web", "worker", "worker-bulk", "beat"):
        env = services[name]["environment"]
        urls = env["ELASTICSEARCH_URL"].split(",")
        assert [url.split("//")[1].split(":")[0] for url in urls] == list(ES_NODES), name
        assert env["ELASTICSEARCH_REPLICAS"] == "1", name


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
