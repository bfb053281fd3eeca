"""Run as a separate process: print every row of every table of a chDB folder, each column cast to String.

Usage: python -m tests.support.chdb_dump CHDB_URL  -> one line per row: "database.table<TAB>row as text"
"""

from __future__ import annotations

import sys

from clickhouse_connect.driver.binding import quote_identifier

from tracker.clickhouse.connect import connect

SKIPPED_DATABASES = ("system", "information_schema", "INFORMATION_SCHEMA")


def main() -> None:
    client = connect(sys.argv[1])
    tables = client.query(
        "SELECT database, name FROM system.tables WHERE database NOT IN %(skip)s AND engine NOT LIKE '%%View%%' "
        "ORDER BY database, name", parameters={"skip": SKIPPED_DATABASES}).result_rows
    for database, table in tables:
        name = f"{quote_identifier(database)}.{quote_identifier(table)}"
        columns = [row[0] for row in client.query("SELECT name FROM system.columns WHERE database = %(d)s AND "
                                                  "table = %(t)s ORDER BY position",
                                                  parameters={"d": database, "t": table}).result_rows]
        cast = ", ".join(f"toString({quote_identifier(c)})" for c in columns)
        print(f"#table {database}.{table} ({len(columns)} columns)")
        for row in client.query(f"SELECT {cast} FROM {name}").result_rows:
            print(f"{database}.{table}\t" + "\t".join(row))


if __name__ == "__main__":
    main()
