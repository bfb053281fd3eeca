"""Run by tests as a separate process to read a chDB folder that another process used (chDB locks its folder).

Usage: python -m tests.support.chdb_query CHDB_URL SQL  -> prints the rows as JSON
"""

from __future__ import annotations

import sys

import orjson

from tracker.clickhouse.connect import connect

if __name__ == "__main__":
    client = connect(sys.argv[1])
    print(orjson.dumps(client.query(sys.argv[2]).result_rows).decode())
