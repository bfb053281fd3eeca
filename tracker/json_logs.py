"""Structured logs: one JSON object per line, one line per error, nothing personal.

Nothing in the product logs a raw IP, phone number or e-mail (the edge only ever holds their
HMAC refs past the request), and tracebacks are folded into the same line so log shippers
never split an error across records.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "tracker.json_logs.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "uvicorn": {"level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING", "propagate": False},
    },
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
            entry["trace"] = " | ".join(
                line.strip() for line in traceback.format_exception(*record.exc_info)[-6:] if line.strip()
            )
        return orjson.dumps(entry).decode()


def configure_logging() -> None:
    import logging.config

    logging.config.dictConfig(LOGGING_CONFIG)
