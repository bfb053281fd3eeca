"""What a process checks before it serves: its ports are free, Redis and ClickHouse answer.

Every failure here is something a user causes at start (a port another program holds, a dependency not up
yet or not there at all), so each becomes a `StartupError` whose message is one line naming the cause; the
command line prints it and exits non-zero, never a traceback. A dependency that does not answer is retried
until `TRACKER_START_TIMEOUT` (it may be starting next to us, as in a compose file); a refusal that cannot
get better by waiting (wrong password, a port in use) fails at once.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError, RedisError, ResponseError

from shortlinks.redis_connection import ping_redis

T = TypeVar("T")

# "[Errno 111] Connection refused" (OSError, urllib3) and "Error 111 connecting to h:p. Connection refused." (redis-py)
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)|Error -?\d+ connecting to \S+\. ([^.]+)")


class StartupError(Exception):
    """A process cannot start; the message is one line naming the cause (and the option or variable to change)."""


class Unreachable(Exception):
    """A dependency did not answer this time; `retry` tries again until the deadline."""


def port_free(host: str, port: int, option: str) -> None:
    """Fail now, before anything starts, when `host:port` cannot be listened on (SO_REUSEADDR, as uvicorn binds)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "is already in use" if exc.errno == 98 else f"cannot be listened on ({exc.strerror or exc})"
            raise StartupError(f"{option} {port}: {host}:{port} {why}; stop what holds it or choose another "
                               f"port with {option}") from None


def retry(attempt: Callable[[], T], timeout: float, failure: Callable[[str], str]) -> T:
    """`attempt()` until it stops raising `Unreachable` or `timeout` seconds have passed (backing off from
    0.1 s to 1 s between attempts); then a StartupError with `failure(reason of the last attempt)`."""
    deadline = time.monotonic() + timeout
    pause = 0.1
    while True:
        try:
            return attempt()
        except Unreachable as exc:
            if time.monotonic() + pause > deadline:
                raise StartupError(failure(str(exc))) from None
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def short_reason(exc: BaseException) -> str:
    """The cause of a connection failure in a few words: 'Connection refused', 'timed out', ..."""
    text = str(exc)
    match = _ERRNO_REASON.search(text)
    if match:
        return (match.group(1) or match.group(2)).strip().rstrip(".")
    if isinstance(exc, TimeoutError) or "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    if "refused" in text.lower():
        return "connection refused"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:160]


def seconds(value: float) -> str:
    return f"{value:g} s"


def redis_location(url: str) -> str:
    """host:port (or the socket path) of a Redis URL, without its credentials: safe to print."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"{parts.hostname or '?'}:{port}"


def credentials_refused(url: str) -> str:
    given = urlsplit(url).password is not None
    why = "wrong user name or password" if given else "it asks for a password and the URL has none"
    return f"TRACKER_REDIS_URL: Redis at {redis_location(url)} refused the connection: {why}"


def wait_for_redis(url: str, timeout: float) -> None:
    """Until Redis answers a PING, for at most `timeout` seconds; wrong credentials fail at once."""

    def attempt() -> None:
        try:
            ping_redis(url, timeout=min(2.0, max(timeout, 0.2)))
        except (AuthenticationError, AuthenticationWrongNumberOfArgsError):
            raise StartupError(credentials_refused(url)) from None
        except ResponseError as exc:
            if str(exc).startswith(("NOAUTH", "WRONGPASS")):
                raise StartupError(credentials_refused(url)) from None
            raise StartupError(f"TRACKER_REDIS_URL: Redis at {redis_location(url)} answered an error: "
                               f"{short_reason(exc)}") from None
        except (RedisError, OSError) as exc:
            raise Unreachable(short_reason(exc)) from None

    retry(attempt, timeout, lambda why: f"TRACKER_REDIS_URL: Redis at {redis_location(url)} did not answer within "
                                        f"{seconds(timeout)} ({why}); is it running? (TRACKER_START_TIMEOUT waits "
                                        f"longer)")
