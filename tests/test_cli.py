"""The command line as a user meets it: `--help`, `--version`, and every start-up failure as one line.

Each command runs as a real process. What a user can get wrong at start (a variable, a port another program
holds, a Redis or ClickHouse that does not answer) must end with one line on stderr naming the cause and a
non-zero exit: no traceback, no JSON log lines, no banner, no warning repeated forever.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import tracker_env
from tests.support.servers import wait_until
from tracker.cli import build_parser, package_version, shows_default
from tracker.dev.embedded_redis import EmbeddedRedis, free_port
from tracker.settings import VARIABLES

SERVER_COMMANDS = ("dev", "edge", "admin", "loader", "migrate")


def tracker(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracker.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def closed_port() -> int:
    """A loopback port nothing listens on (nothing of this test will open it)."""
    return free_port()


@contextlib.contextmanager
def listening(port: int) -> Iterator[None]:
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and not lines[0].startswith("{"), result.stderr
    return lines[0]


def ports(command: str) -> list[str]:
    """Free ports for every listener of `command`, so a test never meets another test's (or a user's) process."""
    if command == "dev":
        return ["--edge-port", str(free_port()), "--admin-port", str(free_port()), "--metrics-port",
                str(free_port()), "--data", "dev-data"]
    if command == "edge":
        return ["--port", str(free_port()), "--metrics-port", str(free_port())]
    if command in ("admin", "loader"):
        return ["--port", str(free_port())]
    return []


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return tracker_env(f"redis://127.0.0.1:{closed_port()}/0", TRACKER_START_TIMEOUT="1s",
                       TRACKER_CLICKHOUSE_URL=f"chdb://{tmp_path / 'clickhouse'}")


# --- help and version ----------------------------------------------------------------------------------------

def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, those added after this test was written included."""
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


@pytest.mark.parametrize("command", ["", *command_parsers()])
def test_every_command_has_version_and_its_help_shows_the_default_of_every_option(command, tmp_path):
    args = [command] if command else []
    version = tracker([*args, "--version"], tracker_env("redis://x"), tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"tracker {package_version()}"
    assert package_version() not in ("", "unknown")
    shown = tracker([*args, "--help"], tracker_env("redis://x"), tmp_path)
    assert shown.returncode == 0 and "--version" in shown.stdout
    text = " ".join(shown.stdout.split())
    parser = command_parsers()[command] if command else build_parser()
    for action in parser._actions:
        if action.option_strings and shows_default(action.default):
            assert f"(default: {action.default})" in text, (command, action.dest)


@pytest.mark.parametrize("command", SERVER_COMMANDS)
def test_the_help_of_a_server_command_lists_its_environment_variables_with_defaults(command, tmp_path):
    shown = " ".join(tracker([command, "--help"], tracker_env("redis://x"), tmp_path).stdout.split())
    assert "environment variables:" in shown
    expected = ["TRACKER_CLICKHOUSE_URL", "TRACKER_START_TIMEOUT"] if command == "migrate" else list(VARIABLES)
    for name in expected:
        if name in ("TRACKER_ADMIN_URL", "TRACKER_API_KEY"):
            continue
        default = VARIABLES[name][0] or "unset"
        assert f"{name} (default: {default})" in shown, name


def test_the_dev_help_shows_the_data_folder_and_the_metrics_port_defaults(tmp_path):
    shown = " ".join(tracker(["dev", "--help"], tracker_env("redis://x"), tmp_path).stdout.split())
    assert "(default: data)" in shown and "--metrics-port" in shown and "(default: 9108)" in shown


# --- one line, non-zero exit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", SERVER_COMMANDS)
@pytest.mark.parametrize("hosts", ["shop.example,https://evil.example", "*.shop.example", "shop.example:443"])
def test_a_bad_allowed_hosts_stops_every_command_with_one_line_naming_it(command, hosts, env, tmp_path):
    result = tracker([command, *ports(command)], {**env, "TRACKER_ALLOWED_HOSTS": hosts}, tmp_path)
    assert result.returncode == 2
    assert one_line(result).startswith("tracker: TRACKER_ALLOWED_HOSTS: ") and "is not a host name" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["dev", "edge", "admin", "loader"])
def test_an_unreachable_redis_stops_with_one_line_after_a_bounded_retry(command, env, tmp_path):
    port = closed_port()
    result = tracker([command, *ports(command)], {**env, "TRACKER_REDIS_URL": f"redis://:s3cr3t-pw@127.0.0.1:{port}/0"},
                     tmp_path)
    assert result.returncode == 1
    line = one_line(result)
    assert line == (f"tracker {command}: TRACKER_REDIS_URL: Redis at 127.0.0.1:{port} did not answer within 1 s "
                    f"(Connection refused); is it running? (TRACKER_START_TIMEOUT waits longer)")
    assert "s3cr3t-pw" not in result.stderr and result.stdout == ""  # no password, no banner


@pytest.mark.parametrize("command", ["dev", "admin", "loader", "migrate"])
def test_an_unreachable_clickhouse_stops_with_one_line_after_a_bounded_retry(command, env, tmp_path, redis_url):
    port = closed_port()
    environment = {**env, "TRACKER_REDIS_URL": redis_url,
                   "TRACKER_CLICKHOUSE_URL": f"http://default:s3cr3t-pw@127.0.0.1:{port}/tracker"}
    if command == "dev":
        del environment["TRACKER_REDIS_URL"]  # the embedded one, stopped again on the way out
    result = tracker([command, *ports(command)], environment, tmp_path)
    assert result.returncode == 1
    assert one_line(result) == (f"tracker {command}: TRACKER_CLICKHOUSE_URL: ClickHouse at 127.0.0.1:{port} did not "
                                f"answer within 1 s (Connection refused; TRACKER_START_TIMEOUT waits longer)")
    assert "s3cr3t-pw" not in result.stderr and result.stdout == ""


def test_a_chdb_folder_another_process_holds_is_named_in_one_line(env, tmp_path):
    folder = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from tracker.clickhouse.connect import connect; "
                               f"c = connect('chdb://{folder}'); print('open', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = tracker(["migrate"], {**env, "TRACKER_CLICKHOUSE_URL": f"chdb://{folder}"}, tmp_path)
    finally:
        holder.communicate("", timeout=60)
    assert result.returncode == 1
    assert one_line(result) == (f"tracker migrate: TRACKER_CLICKHOUSE_URL: the chDB folder {folder} could not be "
                                f"opened within 1 s (another process holds it: chDB opens a folder in one process "
                                f"only, so stop the other one (a running `tracker dev`?) or use another folder; "
                                f"TRACKER_START_TIMEOUT waits longer)")


@pytest.mark.parametrize(("command", "option"), [
    ("dev", "--edge-port"), ("dev", "--admin-port"), ("dev", "--metrics-port"),
    ("edge", "--port"), ("edge", "--metrics-port"), ("admin", "--port"), ("loader", "--port"),
])
def test_a_port_in_use_stops_with_one_line_naming_the_option(command, option, env, tmp_path, redis_url):
    args = ports(command)
    taken = int(args[args.index(option) + 1])
    with listening(taken):
        result = tracker([command, *args], {**env, "TRACKER_REDIS_URL": redis_url}, tmp_path)
    assert result.returncode == 1
    assert one_line(result) == (f"tracker {command}: {option} {taken}: 127.0.0.1:{taken} is already in use; stop "
                                f"what holds it or choose another port with {option}")
    assert result.stdout == ""


def test_a_redis_that_comes_up_during_the_retry_is_waited_for(tmp_path):
    """The retry is real: an edge started before its Redis serves once Redis is up."""
    redis = EmbeddedRedis(tmp_path / "late-redis")
    edge_port, metrics_port = free_port(), free_port()
    env = tracker_env(redis.url, TRACKER_START_TIMEOUT="60s")
    log = (tmp_path / "edge.log").open("w")
    edge = subprocess.Popen([sys.executable, "-m", "tracker.cli", "edge", "--port", str(edge_port),
                             "--metrics-port", str(metrics_port)], env=env, cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        redis.start()

        def healthy() -> bool:
            assert edge.poll() is None, (tmp_path / "edge.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{edge_port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, interval=0.1, message="the edge to start once Redis is up")
    finally:
        edge.terminate()
        edge.wait(30)
        log.close()
        redis.stop()
    assert edge.returncode == 0


@pytest.mark.parametrize(("password", "why"), [("wrong", "wrong user name or password"),
                                               (None, "it asks for a password and the URL has none")])
def test_refused_redis_credentials_stop_at_once_with_one_line(password, why, env, tmp_path):
    redis = EmbeddedRedis(tmp_path / "redis").start()
    try:
        url = redis.url.replace(redis.password, password) if password else f"redis://127.0.0.1:{redis.port}/0"
        result = tracker(["edge", *ports("edge")], {**env, "TRACKER_REDIS_URL": url, "TRACKER_START_TIMEOUT": "60s"},
                         tmp_path)
    finally:
        redis.stop()
    assert result.returncode == 1
    assert one_line(result) == f"tracker edge: TRACKER_REDIS_URL: Redis at 127.0.0.1:{redis.port} refused the " \
                               f"connection: {why}"
    assert redis.password not in result.stderr
