"""`tracker report`: the campaign report (or the bots report) as a table, CSV or JSON."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from tracker.client.admin_api import AdminApi
from tracker.client.output import print_table, write_json

# The columns a table shows after the group keys; CSV and JSON carry every metric.
TABLE_METRICS = ("clicks", "human_clicks", "bot_clicks", "unique_clickers", "orders", "revenue", "net_revenue",
                 "conversion_rate", "revenue_per_click")
BOT_COLUMNS = ("bot_reason", "clicks", "links", "share", "last_seen")
BOT_PARAMETERS = ("from", "to", "exclude_tags")


def report(api: AdminApi, params: Mapping[str, str], output: str, bots: bool = False) -> None:
    path = "/v1/reports/bots" if bots else "/v1/reports/campaigns"
    query = {k: v for k, v in params.items() if v and (not bots or k in BOT_PARAMETERS)}
    if output == "csv":
        sys.stdout.write(api.get_bytes(path, {**query, "format": "csv"}).decode())
        return
    answer = api.get_json(path, query)
    if output == "json":
        write_json(answer)
        return
    if bots:
        title = f"bot clicks {answer['from'][:10]} .. {answer['to'][:10]}"
        print_table(answer["rows"], BOT_COLUMNS, title=title)
        return
    keys = answer["group_by"]
    shown = [*keys, *(m for m in TABLE_METRICS if any(m in row for row in answer["rows"]) or not answer["rows"])]
    title = ", ".join(filter(None, (f"{answer['from'][:10]} .. {answer['to'][:10]}", answer["model"],
                                    answer.get("currency")))) + f" ({len(answer['rows'])} rows)"
    print_table(answer["rows"], shown, title=title)
    print(answer["formula"])
