"""uvicorn configured once for both apps: uvloop, httptools, no access log, proxy headers only from trusted proxies."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from typing import Any

import uvicorn

from tracker.json_logs import LOGGING_CONFIG
from tracker.metrics import serve_metrics


def uvicorn_options(forwarded_allow_ips: str = "127.0.0.1") -> dict[str, Any]:
    """The options every server of ours runs with, for uvicorn.Config and uvicorn.run alike."""
    return dict(
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        server_header=False,
        log_level="warning",
        log_config=LOGGING_CONFIG,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        timeout_graceful_shutdown=10,
    )


def uvicorn_config(
    app: Any, host: str, port: int, *, forwarded_allow_ips: str = "127.0.0.1", **extra: Any
) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, **uvicorn_options(forwarded_allow_ips), **extra)


class GracefulServer(uvicorn.Server):
    """A single-process server whose SIGTERM / SIGINT end in a clean exit 0 after draining.

    uvicorn re-raises the caught signal after its graceful shutdown, which makes the process
    die by that signal (exit -15) although nothing was lost; supervisors read that as a crash.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner (`tracker dev` runs several in one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve(app: str | Any, host: str, port: int, workers: int, forwarded_allow_ips: str,
          metrics: tuple[str, int] | None = None) -> None:
    """Run `app` until SIGINT / SIGTERM: an ASGI app or an app factory `module:function`, in this process, or
    (a factory) in `workers` processes. `metrics`: (host, port) of a /metrics of its own, summing the workers."""
    factory = isinstance(app, str)
    if workers == 1:
        config = uvicorn_config(app, host, port, forwarded_allow_ips=forwarded_allow_ips, factory=factory)
        if metrics is not None:
            serve_metrics(*metrics)
        GracefulServer(config).run()
        return
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Before any worker imports prometheus_client: /metrics then sums every worker.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tracker-metrics-")
    if metrics is not None:
        serve_metrics(*metrics)
    uvicorn.run(app, factory=factory, host=host, port=port, workers=workers, **uvicorn_options(forwarded_allow_ips))
