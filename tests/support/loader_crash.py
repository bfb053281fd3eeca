"""Run by tests as a separate process: a loader that is SIGKILLed right after its first insert, before XACK.

The kill comes from inside the insert seam so the timing is exact; the code under test is the real loader.
Usage: python -m tests.support.loader_crash REDIS_URL CHDB_URL CONSUMER
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from shortlinks.redis_connection import connect_redis
from tracker.clickhouse.connect import connect
from tracker.events.streams import stream_names
from tracker.loader.stream_loader import Loader, clickhouse_inserter


def main() -> None:
    redis_url, clickhouse_url, consumer = sys.argv[1:4]
    insert = clickhouse_inserter(connect(clickhouse_url))

    def insert_then_die(table: str, rows: list[list[Any]], columns: Sequence[tuple[str, str]], token: str) -> None:
        insert(table, rows, columns, token)
        os.kill(os.getpid(), signal.SIGKILL)

    loader = Loader(connect_redis(redis_url), insert_then_die, stream_names(1), consumer, batch_size=3000)
    asyncio.run(loader.run())


if __name__ == "__main__":
    main()
