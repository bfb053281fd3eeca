"""Open a clickhouse-connect client from `TRACKER_CLICKHOUSE_URL`.

Two kinds of URL, one client type, so the loader and the reports never care which one they talk to:

- `chdb://PATH`: chDB, a real ClickHouse engine inside this process, data under PATH (relative to the
  current directory, created if missing). chDB runs ONE engine path per process: any number of clients
  may share that path, but opening a different path while a client is open raises ProgrammingError, and
  another process cannot open a path this one holds (the engine locks it).
- `http(s)://user:pass@host:port/db`: a ClickHouse server; port 8123 (http) or 8443 (https) by default.

The URL is parsed by the pure `parse_url`, so a typo is reported before any connection is attempted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError

from tracker.settings import Settings, SettingsError
from tracker.startup import StartupError, Unreachable, retry, seconds, short_reason

Interface = Literal["chdb", "http", "https"]

_DEFAULT_PORTS: dict[str, int] = {"http": 8123, "https": 8443}
_CHDB_PREFIX = "chdb://"


class ClickHouseUrlError(ValueError):
    """TRACKER_CLICKHOUSE_URL cannot be used; the one-line message names the variable and the accepted forms."""


@dataclass(frozen=True)
class ClickHouseTarget:
    """Where a URL points. `path` is set for chdb only, host/port/credentials for http(s) only."""

    interface: Interface
    path: str = ""
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = field(default="", repr=False)  # kept out of logs and tracebacks
    database: str | None = None


def _error(problem: str) -> ClickHouseUrlError:
    # The message never echoes the URL itself: it may carry a password.
    return ClickHouseUrlError(
        f"TRACKER_CLICKHOUSE_URL: {problem}; expected chdb://PATH or http(s)://user:pass@host:port/db"
    )


def parse_url(url: str) -> ClickHouseTarget:
    """Parse a chdb:// or http(s):// URL without connecting; a chdb path comes back absolute (cwd-relative)."""
    url = url.strip()
    if url.startswith("chdb:"):
        # chdb://./data/clickhouse and chdb:///abs/path: everything after the scheme is the path.
        location = url[len(_CHDB_PREFIX) :] if url.startswith(_CHDB_PREFIX) else ""
        if not location:
            raise _error("chdb needs a directory path, like chdb://./data/clickhouse")
        return ClickHouseTarget(interface="chdb", path=str(Path(location).expanduser().absolute()))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a port that is not a number, an unbalanced [ in the host, ...
        raise _error(f"malformed URL ({exc})") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise _error(f"unsupported scheme {parts.scheme!r}" if parts.scheme else "no scheme")
    if not parts.hostname:
        raise _error("no host")
    if parts.query or parts.fragment:
        raise _error("query strings and fragments are not supported")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > 1:
        raise _error("the path must be a single database name")
    return ClickHouseTarget(
        interface=cast(Interface, parts.scheme),  # checked against _DEFAULT_PORTS above
        host=parts.hostname,
        port=port or _DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password or ""),
        database=unquote(segments[0]) if segments else None,
    )


def connect(url: str, database: str | None = None) -> Client:
    """A client for `url`. With `database`, that database is created if missing and used instead of the URL's.

    Creating it is what lets `tracker migrate` (and the tests, one database each) start from an empty server.
    For chdb, remember: one engine path per process (see the module docstring).
    """
    target = parse_url(url)
    if target.interface == "chdb":
        Path(target.path).mkdir(parents=True, exist_ok=True)
        client = clickhouse_connect.get_client(interface="chdb", path=target.path)
    else:
        client = clickhouse_connect.get_client(
            interface=target.interface,
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            database=None if database else target.database,
            # A session per client would make concurrent queries on it fail ("session is locked"), so a client
            # could not be shared by threads; nothing relies on session state (the database goes with each query).
            autogenerate_session_id=False,
        )
    if database:
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
        client.database = database
    return client


def connect_settings(settings: Settings) -> Client:
    """The client of TRACKER_CLICKHOUSE_URL for a process starting up: a URL it cannot use is a `SettingsError`,
    a ClickHouse that does not answer within TRACKER_START_TIMEOUT (or refuses us) a `StartupError`; the command
    line prints either as one line naming the variable."""
    try:
        target = parse_url(settings.clickhouse_url)
    except ClickHouseUrlError as exc:
        raise SettingsError(str(exc)) from None
    where = f"the chDB folder {target.path}" if target.interface == "chdb" else f"ClickHouse at {target.host}:" \
        f"{target.port}"

    def attempt() -> Client:
        try:
            with _driver_quiet():
                return connect(settings.clickhouse_url)
        except OperationalError as exc:  # nothing answered (refused, timed out, name not resolved)
            raise Unreachable(short_reason(exc)) from None
        except ProgrammingError as exc:
            if target.interface == "chdb":  # the engine refused the folder: another process holds it
                raise Unreachable("another process holds it: chDB opens a folder in one process only, "
                                  "so stop the other one (a running `tracker dev`?) or use another folder") from None
            raise StartupError(f"TRACKER_CLICKHOUSE_URL: {where} refused us: {short_reason(exc)}") from None
        except (DatabaseError, OSError) as exc:  # it answered, with an error waiting will not mend (credentials)
            raise StartupError(f"TRACKER_CLICKHOUSE_URL: {where} refused us: {_first_line(exc)}") from None

    verb = "could not be opened" if target.interface == "chdb" else "did not answer"
    return retry(attempt, settings.start_timeout,
                 lambda why: f"TRACKER_CLICKHOUSE_URL: {where} {verb} within {seconds(settings.start_timeout)} "
                             f"({why}; TRACKER_START_TIMEOUT waits longer)")


@contextlib.contextmanager
def _driver_quiet() -> Iterator[None]:
    """clickhouse-connect (and urllib3 below it) log every failed request and chDB prints why it cannot open a
    folder; while starting, the one line we print says it all."""
    loggers = [logging.getLogger(name) for name in ("clickhouse_connect", "urllib3")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    # chDB's engine writes its own refusal ("Cannot lock file ...") straight to file descriptor 2.
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    """ClickHouse's own explanation, shortened: 'Code: 516. DB::Exception: default: Authentication failed ...'."""
    text = str(exc)
    found = text.find("Code: ")
    return (text[found:] if found >= 0 else text).splitlines()[0][:200] if text else type(exc).__name__


async def answers(client: Client) -> bool:
    """Whether ClickHouse answers a ping now, asked off the event loop: the readiness check of admin and loader."""
    try:
        return bool(await asyncio.to_thread(client.ping))
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
