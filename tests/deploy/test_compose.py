"""deploy/compose.yaml against the configs it mounts: services, ports and paths agree."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


# `${env:NAME:-default}` in a collector config, as the collector resolves it when NAME
# is unset: compose sets none of them.
ENV_DEFAULT = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")


def load(path: Path) -> Any:
    return yaml.safe_load(ENV_DEFAULT.sub(r"\1", path.read_text()))


def compose() -> dict[str, Any]:
    document = load(DEPLOY / "compose.yaml")
    assert isinstance(document, dict)
    return document


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port, from "host:container" entries."""
    ports: dict[int, int] = {}
    for entry in service.get("ports") or ():
        host, container = str(entry).split("/")[0].rsplit(":", 2)[-2:]
        ports[int(container)] = int(host)
    return ports


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host source, resolved against deploy/ (or a volume name)."""
    found: dict[str, str] = {}
    for entry in service.get("volumes") or ():
        source, target = str(entry).split(":")[:2]
        found[target] = str((DEPLOY / source).resolve()) if source.startswith(".") else source
    return found


def mounted_config(service: dict[str, Any], container_path: str) -> Any:
    source = mounts(service)[container_path]
    assert Path(source).is_file(), f"{container_path} is mounted from missing {source}"
    return load(Path(source))


def endpoint_port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def test_services_and_their_mounted_files_exist() -> None:
    services = compose()["services"]
    assert {"otel-collector", "jaeger", "tempo", "grafana", "postgres"} <= set(services)
    volumes = set(compose().get("volumes") or {})
    for name, service in services.items():
        for target, source in mounts(service).items():
            if source.startswith("/"):
                assert Path(source).exists(), f"{name}: {target} mounted from missing {source}"
            else:
                assert source in volumes, f"{name}: undeclared volume {source}"
        for dependency in service.get("depends_on") or ():
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_collector_ports_and_config_agree_with_compose() -> None:
    collector = compose()["services"]["otel-collector"]
    command = " ".join(collector["command"])
    config_path = command.split("--config=", 1)[1].split()[0]
    config = mounted_config(collector, config_path)
    assert Path(mounts(collector)[config_path]) == ROOT / "otel-collector.yaml"
    ports = published(collector)
    for protocol in config["receivers"]["otlp"]["protocols"].values():
        container_port = endpoint_port(protocol["endpoint"])
        assert ports.get(container_port) == container_port, f"{container_port} not published"
    health = config["extensions"]["health_check"]["endpoint"]
    assert endpoint_port(health) in ports
    # The file exporter writes inside a directory mounted from the host.
    file_path = PurePosixPath(config["exporters"]["file/traces"]["path"])
    assert str(file_path.parent) in mounts(collector)


def test_collector_exports_to_ports_jaeger_and_tempo_listen_on() -> None:
    services = compose()["services"]
    collector = services["otel-collector"]
    config = mounted_config(collector, "/etc/otelcol-contrib/config.yaml")
    jaeger = mounted_config(services["jaeger"], "/etc/jaeger/config.yaml")
    tempo_command = " ".join(services["tempo"]["command"])
    tempo = mounted_config(services["tempo"], tempo_command.split("-config.file=", 1)[1])
    listening = {
        "jaeger": endpoint_port(jaeger["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]),
        "tempo": endpoint_port(
            tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
        ),
    }
    for name, exporter in config["exporters"].items():
        if not name.startswith("otlp/"):
            continue
        host, target_port = exporter["endpoint"].rsplit(":", 1)
        assert host in services, f"{name} sends to unknown service {host}"
        assert int(target_port) == listening[host], f"{name}: {host} does not listen there"
    assert {"jaeger", "tempo"} <= set(collector["depends_on"])


def test_uis_are_published_where_the_configs_serve_them() -> None:
    services = compose()["services"]
    jaeger = mounted_config(services["jaeger"], "/etc/jaeger/config.yaml")
    query_port = endpoint_port(jaeger["extensions"]["jaeger_query"]["http"]["endpoint"])
    assert published(services["jaeger"]).get(query_port) == 16686
    tempo = mounted_config(services["tempo"], "/etc/tempo.yaml")
    assert published(services["tempo"]).get(tempo["server"]["http_listen_port"]) == 3200
    assert published(services["grafana"]).get(3000) == 3000
    assert published(services["postgres"]).get(5432) == 5432


def test_grafana_data_sources_point_at_services_and_their_ports() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    provisioning = Path(mounts(grafana)["/etc/grafana/provisioning"])
    [datasources_file] = sorted((provisioning / "datasources").glob("*.yaml"))
    datasources = load(datasources_file)["datasources"]
    jaeger = mounted_config(services["jaeger"], "/etc/jaeger/config.yaml")
    tempo = mounted_config(services["tempo"], "/etc/tempo.yaml")
    serving = {
        "tempo": tempo["server"]["http_listen_port"],
        "jaeger": endpoint_port(jaeger["extensions"]["jaeger_query"]["http"]["endpoint"]),
        "postgres": 5432,
        # Prometheus's default listen port: compose passes no --web.listen-address.
        "prometheus": 9090,
    }
    postgres_env = services["postgres"]["environment"]
    for source in datasources:
        url = source["url"] if "//" in source["url"] else f"tcp://{source['url']}"
        parts = urlsplit(url)
        assert parts.hostname in services, f"{source['name']} points at unknown {parts.hostname}"
        assert parts.port == serving[parts.hostname]
        if parts.hostname == "postgres":
            assert source["jsonData"]["database"] == postgres_env["POSTGRES_DB"]
    init = mounts(services["postgres"])["/docker-entrypoint-initdb.d/10-dqx.sql"]
    reader = next(s for s in datasources if s["uid"] == "dqx-postgres")
    assert f"ROLE {reader['user']} LOGIN PASSWORD '{reader['secureJsonData']['password']}'" in (
        Path(init).read_text()
    )
