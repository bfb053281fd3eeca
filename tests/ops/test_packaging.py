"""The Dockerfile, .dockerignore, ops/compose.yaml and ops/env.example, checked without Docker.

Image builds and `docker compose config` need a Docker engine and the network, so they are not run here; these
tests hold the properties the runbook relies on. The image's healthcheck is real code: it is run against a
local HTTP server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.settings import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DOCKERIGNORE = (ROOT / ".dockerignore").read_text()
ENV_EXAMPLE = (ROOT / "ops" / "env.example").read_text()
TRACKER_SERVICES = ("migrate", "edge", "admin", "loader")
SECRET_NAMES = ("TRACKER_SECRET", "TRACKER_API_KEYS", "REDIS_PASSWORD", "CLICKHOUSE_PASSWORD")


def _stages() -> list[list[str]]:
    """Dockerfile instructions (continuation lines joined, comments dropped), grouped by FROM."""
    stages: list[list[str]] = []
    for instruction in re.sub(r"\\\n", " ", DOCKERFILE).splitlines():
        instruction = instruction.strip()
        if not instruction or instruction.startswith("#"):
            continue
        if instruction.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _final(keyword: str) -> list[str]:
    return [i for i in _stages()[-1] if i.split()[0].upper() == keyword]


def _healthcheck_code() -> str:
    (healthcheck,) = _final("HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3:])
    assert command[:2] == ["python", "-c"]
    return str(command[2])


# --- Dockerfile --------------------------------------------------------------------------------------------


def test_the_image_is_built_in_stages_and_runs_on_slim_python() -> None:
    stages = _stages()
    assert len(stages) >= 2
    assert re.search(r"\bAS builder\b", stages[0][0])
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    assert stages[-1][0].startswith("FROM ${PYTHON_IMAGE}")
    assert any("--from=builder" in i for i in _final("COPY"))


def test_the_image_runs_as_a_non_root_user() -> None:
    users = _final("USER")
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split()[1].split(":")[0]
    assert user not in ("root", "0")


def test_the_runtime_stage_has_no_build_tools_or_secrets() -> None:
    runtime = "\n".join(_stages()[-1])
    for tool in ("build-essential", "gcc", "apt-get install", "pip install", "pip wheel"):
        assert tool not in runtime, tool
    for name in SECRET_NAMES:
        assert not re.search(rf"^(ENV|ARG)\b.*\b{name}\b", DOCKERFILE, re.MULTILINE), name
        assert f"{name}=" not in DOCKERFILE, name


def test_the_image_runs_tracker_unbuffered_without_writing_bytecode() -> None:
    env = " ".join(_final("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert _final("ENTRYPOINT") == ['ENTRYPOINT ["tracker"]']


def test_the_image_carries_the_schema_files_inside_the_package() -> None:
    # tracker/clickhouse/migrate.py reads them from tracker/clickhouse/schema/: `COPY tracker` brings them.
    copies = " ".join(_final("COPY"))
    assert "COPY tracker ./tracker" in copies
    assert "ops/clickhouse" not in DOCKERFILE
    assert "PYTHONPATH=/app" in " ".join(_final("ENV"))
    assert _final("WORKDIR") == ["WORKDIR /app"]


def test_the_cluster_schema_is_also_at_ops_clickhouse_cluster_where_operators_look_for_it() -> None:
    # The contract names ops/clickhouse/cluster/; the package carries the files `tracker migrate --cluster` reads.
    # One folder under two names, so the two can never disagree.
    ops_folder = ROOT / "ops" / "clickhouse" / "cluster"
    package_folder = ROOT / "tracker" / "clickhouse" / "schema" / "cluster"
    assert ops_folder.resolve() == package_folder.resolve()
    statements = " ".join(path.read_text() for path in sorted(ops_folder.glob("*.sql")))
    assert "ReplicatedMergeTree" in statements and "Distributed(" in statements


def test_every_data_file_of_the_package_is_declared_package_data() -> None:
    # A wheel carries only the data files pyproject names: a schema file or template left out would make an
    # installed `tracker migrate` or dashboard fail, although everything works from a checkout.
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tracker"]
    package = ROOT / "tracker"
    data = {p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    declared = {p for pattern in globs for p in package.glob(pattern)}
    assert data and data <= declared, sorted(str(p.relative_to(package)) for p in data - declared)
    assert (package / "clickhouse" / "schema" / "0001_events.sql") in declared


def test_the_tracker_launcher_guards_main_for_spawned_workers() -> None:
    # Without the guard, `edge --workers N` fails: multiprocessing's spawn re-imports the main script.
    assert "'if __name__ == \"__main__\":' '    sys.exit(main())'" in DOCKERFILE


def test_every_copied_path_is_in_the_build_context() -> None:
    allowed = {line[1:].rstrip("/") for line in DOCKERIGNORE.splitlines() if line.startswith("!")}
    for stage in _stages():
        for copy in (i for i in stage if i.startswith("COPY ") and "--from=" not in i):
            source = copy.split()[1].rstrip("/")
            assert source in allowed, copy


# --- the healthcheck, run for real ------------------------------------------------------------------------


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def healthz_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def process_running() -> Iterator[Any]:
    """Starts a stand-in for PID 1 with the given arguments; returns its pid."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> int:
        process = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()", *argv])
        started.append(process)
        return process.pid

    yield start
    for process in started:
        process.kill()
        process.wait()


def _check(code: str, pid: int, **env: str) -> int:
    code = code.replace("/proc/1/", f"/proc/{pid}/")
    environ = {"PATH": "/usr/bin:/bin", **env}
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, timeout=10).returncode


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_healthcheck_asks_healthz_on_the_port_it_is_given(healthz_port: int, process_running: Any) -> None:
    pid = process_running("edge", "--workers", "4")
    assert _check(_healthcheck_code(), pid, HEALTHCHECK_PORT=str(healthz_port)) == 0
    assert _check(_healthcheck_code(), pid, HEALTHCHECK_PORT=str(_closed_port())) == 1


def test_healthcheck_finds_the_port_from_the_command(healthz_port: int, process_running: Any) -> None:
    code = _healthcheck_code()
    assert "'edge': '8080'" in code and "'admin': '8081'" in code and "'loader': '8082'" in code
    # The command comes first in argv: a loader named "edge" is still a loader.
    pid = process_running("loader", "--name", "edge")
    assert _check(code.replace("'loader': '8082'", f"'loader': '{healthz_port}'"), pid) == 0
    assert _check(code.replace("'edge': '8080'", f"'edge': '{healthz_port}'").replace(
        "'loader': '8082'", f"'loader': '{_closed_port()}'"), pid) == 1


def test_healthcheck_passes_for_processes_without_http(process_running: Any) -> None:
    assert _check(_healthcheck_code(), process_running("migrate")) == 0
    assert _check(_healthcheck_code(), process_running("loader", "--port", "0"), HEALTHCHECK_PORT="0") == 0


def test_healthcheck_ignores_http_proxies(healthz_port: int, process_running: Any) -> None:
    pid = process_running("admin")
    proxy = f"http://127.0.0.1:{_closed_port()}"
    assert _check(_healthcheck_code(), pid, HEALTHCHECK_PORT=str(healthz_port), http_proxy=proxy) == 0


# --- .dockerignore ----------------------------------------------------------------------------------------


def test_the_build_context_is_an_allow_list_without_local_state() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    included = [line for line in lines if line.startswith("!")]
    for private in (".venv", "data", ".git", "ops/.env", ".env", "tests", "loadtest"):
        assert not any(line[1:].rstrip("/") == private for line in included), private
        assert private in lines or private == ".env", private


# --- compose and env.example ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "ops" / "compose.yaml").read_text())
    assert isinstance(document, dict)
    return document


def test_compose_runs_every_process(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "clickhouse", *TRACKER_SERVICES}
    for name in TRACKER_SERVICES:
        assert services[name]["command"][0] == name
        assert services[name].get("env_file") == ".env"
        assert services[name].get("healthcheck", {}).get("disable") is not True  # the image's HEALTHCHECK
    edge = " ".join(services["edge"]["command"])
    assert "--workers" in edge and "--host 0.0.0.0" in edge and "--forwarded-allow-ips=" in edge
    assert any(str(p).endswith(":8080") for p in services["edge"]["ports"])
    assert any(str(p).endswith(":8081") for p in services["admin"]["ports"])
    assert services["migrate"]["restart"] == "no"


def test_compose_stores_redis_with_aof_and_checks_health(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(str(part) for part in redis["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert redis["healthcheck"]["test"]
    assert any(str(v).endswith(":/data") for v in redis["volumes"])


def test_compose_checks_clickhouse_on_ping_and_keeps_its_data(compose: dict[str, Any]) -> None:
    clickhouse = compose["services"]["clickhouse"]
    assert clickhouse["image"].startswith("clickhouse/clickhouse-server")
    assert "/ping" in " ".join(clickhouse["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/clickhouse") for v in clickhouse["volumes"])


def test_compose_starts_in_health_order(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def condition(service: str, dependency: str) -> str:
        return str(services[service]["depends_on"][dependency]["condition"])

    assert condition("migrate", "clickhouse") == "service_healthy"
    assert condition("edge", "redis") == "service_healthy"
    for name in ("admin", "loader"):
        assert condition(name, "redis") == "service_healthy"
        assert condition(name, "clickhouse") == "service_healthy"
        assert condition(name, "migrate") == "service_completed_successfully"


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of the parsed document; list items come with the key of their list."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def test_compose_holds_no_secret_values(compose: dict[str, Any]) -> None:
    strings: list[str] = []
    for key, value in _walk(compose):
        if key in SECRET_NAMES or key == "REDISCLI_AUTH":
            assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", str(value)), f"{key} must come from .env, not {value!r}"
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, list):
            strings += [str(item) for item in value]
    for text in strings:
        for credentials in re.findall(r"://(.*)@[\w.-]+(?::\d+)?(?:/|$)", text):
            assert "${" in credentials, f"credentials in {text!r} must come from .env"
    command = [str(part) for part in compose["services"]["redis"]["command"]]
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD")


def test_env_example_documents_every_setting_with_placeholders_only() -> None:
    assigned = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, re.MULTILINE))
    for name in VARIABLES:
        assert name in ENV_EXAMPLE, f"{name} is not described in ops/env.example"
    for name in assigned:
        if name.startswith("TRACKER_"):
            assert name in VARIABLES, f"ops/env.example sets {name}, which tracker/settings.py does not read"
    for name in SECRET_NAMES:
        assert assigned[name] == "CHANGE_ME", name
