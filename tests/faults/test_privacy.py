"""Privacy audit: raw addresses, phone numbers, e-mails and referring URLs go in; none is found anywhere after.

A real run (edge, admin and loader as processes, a dedicated redis-server, a chDB folder) is driven with
distinctive values: client addresses through X-Forwarded-For (trusted from 127.0.0.1 only) and the raw
127.0.0.1, phones and e-mails as link and conversion recipients, a Referer whose user name, port, path and query
name the reader. Then every ClickHouse table (every column
as text), every Redis key and value (SCAN, all types) and every process's log output are searched for
those values and their obvious normalisations.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.http_raw import Connection, Reply, get
from tests.support.processes import STREAM, TrackerProcess, tracker_env
from tests.support.servers import wait_until
from tests.support.settings import API_KEY
from tracker.dev.embedded_redis import EmbeddedRedis

IPV4 = "203.0.113.77"
IPV6 = "2001:db8::77"
PHONE, PHONE_E164 = "+44 20 7946 0958", "+442079460958"
PHONE2, PHONE2_E164 = "+1 (212) 555-0187", "+12125550187"
EMAIL = "Jane.Doe+Promo@Example.COM"
EMAIL2 = "JOHN.Roe@Example.org"
# A web-mail page that links to a short link: its path and query name the reader (SPEC section 6 keeps the host).
REFERER = ("https://Alice.Smith:Hunter2pw@Mail.Example:8443/inbox/thread-zq81x?to=alice.smith@example.net"
           "&phone=%2B447700900123#msg-qq7")
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1 PrivacyAudit/7.7",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
    "Safari/537.36 PrivacyAudit/7.7",
]
# What must not be found, with the obvious normalisations; searched case-insensitively.
SECRETS = {
    "IPv4": [IPV4], "IPv6": [IPV6, "2001:0db8:0000:0000:0000:0000:0000:0077", "2001:db8:0:0:0:0:0:77"],
    "loopback client": ["127.0.0.1"],
    "phone": [PHONE, PHONE_E164, PHONE_E164[1:], "2079460958", "7946 0958", PHONE2, PHONE2_E164, "2125550187"],
    "e-mail": [EMAIL, EMAIL2, "jane.doe", "john.roe"],
    "referer": ["/inbox", "thread-zq81x", "alice.smith", "hunter2pw", "%2B447700900123", "447700900123",
                "mail.example:8443", "msg-qq7"],
}


def redis_dump(client: Any) -> list[bytes]:
    """Every key name and every value in every key, whatever its type."""
    found: list[bytes] = []
    for key in client.scan_iter(count=1000):
        found.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            found.append(client.get(key) or b"")
        elif kind == "hash":
            found += [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == "list":
            found += client.lrange(key, 0, -1)
        elif kind == "set":
            found += list(client.smembers(key))
        elif kind == "zset":
            found += client.zrange(key, 0, -1)
        elif kind == "stream":
            for entry_id, fields in client.xrange(key):
                found += [entry_id, *(b for pair in fields.items() for b in pair)]
            for group in client.xinfo_groups(key):
                found.append(group["name"])
                found += [c["name"] for c in client.xinfo_consumers(key, group["name"])]
    return found


def leaks(blob: str) -> dict[str, list[str]]:
    lowered = blob.lower()
    return {kind: hits for kind, values in SECRETS.items() if (hits := [v for v in values if v.lower() in lowered])}


@pytest.mark.slow
def test_no_raw_address_phone_or_email_is_kept_in_clickhouse_redis_or_logs(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis").start()
    chdb_url = f"chdb://{tmp_path / 'clickhouse'}"
    env = tracker_env(server.url, TRACKER_CLICKHOUSE_URL=chdb_url)
    migrate = subprocess.run([sys.executable, "-m", "tracker.cli", "migrate"], env=env, cwd=tmp_path, timeout=120,
                             capture_output=True, check=True)
    logs = [migrate.stdout.decode(), migrate.stderr.decode()]
    # chDB locks a folder to one process: the admin (which serves reports) gets a folder of its own.
    admin = TrackerProcess(["admin"], {**env, "TRACKER_CLICKHOUSE_URL": f"chdb://{tmp_path / 'admin-ch'}"}, tmp_path,
                           "admin")
    edge = TrackerProcess(["edge"], env, tmp_path, "edge")
    loader = TrackerProcess(["loader", "--name", "audit"], env, tmp_path, "loader")
    answers: dict[str, Any] = {}
    try:
        with admin, edge, loader, httpx.Client(base_url=admin.url, headers={"Authorization": f"Bearer {API_KEY}"},
                                               timeout=30) as api:
            codes = [api.post("/v1/links", json={"destination": "https://shop.example/p", "recipient": r,
                                                 "utm": {"source": "audit", "medium": "sms"}}).json()["code"]
                     for r in (PHONE, EMAIL)]
            batch = api.post("/v1/links/batch", json={"template": {"destination": "https://shop.example/b"},
                                                      "recipients": [PHONE2, EMAIL2]})
            codes += [link["code"] for link in batch.json()["links"]]
            # Refusals must not echo what was sent either.
            answers["refused"] = [api.post("/v1/links", json={"destination": "https://shop.example/", "recipient": r})
                                  for r in ("020 7946 0958", EMAIL.replace(".COM", ""), f"{EMAIL} {PHONE}")]
            answers["refused"].append(api.post("/v1/conversions", json={
                "order_id": "a-9", "value": 1, "currency": "EUR", "recipient": "020 7946 0958"}))

            async def click() -> list[Reply]:
                connection = Connection(edge.port)
                replies = []
                try:
                    for n, code in enumerate(codes * 3):
                        headers = {"User-Agent": USER_AGENTS[n % 2], "Referer": REFERER}
                        if n % 3 < 2:
                            headers["X-Forwarded-For"] = (IPV4, IPV6)[n % 3]
                        # The recipient in the query string of a tap must not be recorded either.
                        query = f"?to={PHONE_E164}&email={EMAIL}" if n < len(codes) else ""
                        replies.append(await connection.request(get(f"/{code}{query}", headers)))
                    # A miss naming the e-mail, and a request uvicorn refuses (and logs) carrying the address.
                    await connection.request(get(f"/{EMAIL}", {"X-Forwarded-For": IPV4}))
                    broken = Connection(edge.port)
                    await broken.request(f"GET /{EMAIL} HTTP/1.1\r\nX-Forwarded-For: {IPV4}\r\nbad header\r\n\r\n"
                                         .encode())
                    broken.close()
                finally:
                    connection.close()
                return replies

            clicks = asyncio.run(click())
            assert [r.status for r in clicks] == [302] * len(clicks)
            click_ids = [r.click_id for r in clicks]
            conversions = [{"order_id": "a-1", "value": "20", "currency": "EUR", "recipient": PHONE},
                           {"order_id": "a-2", "value": "30", "currency": "EUR", "recipient": EMAIL.lower()},
                           {"order_id": "a-3", "value": "40", "currency": "EUR", "recipient": PHONE2_E164,
                            "click_id": click_ids[0]}]
            assert api.post("/v1/conversions", json=conversions).json() == {
                "accepted": 3, "duplicates": 0, "conflicts": []}
            pixel = httpx.get(f"{edge.url}/px.gif", params={"order_id": "a-4", "value": "5", "currency": "EUR",
                                                            "sclid": click_ids[1]},
                              headers={"X-Forwarded-For": IPV4, "User-Agent": USER_AGENTS[0]})
            assert pixel.status_code == 200
            probe = redis.Redis.from_url(server.url)

            def all_loaded() -> bool:
                group = probe.xinfo_groups(STREAM)[0]
                return group["pending"] == 0 and group["last-delivered-id"] == probe.xinfo_stream(STREAM)[
                    "last-generated-id"]

            wait_until(all_loaded, timeout=60, interval=0.05, message="the loader to load every event")
            for process in (edge, admin, loader):
                process.terminate()
        redis_values = redis_dump(probe)
        probe.close()
    finally:
        server.stop()
    dump = subprocess.run([sys.executable, "-m", "tests.support.chdb_dump", chdb_url], env=env, cwd=tmp_path,
                          timeout=120, capture_output=True, check=True).stdout.decode()
    logs += [p.log() for p in (admin, edge, loader)] + [(tmp_path / "redis" / "redis.log").read_text(errors="replace")]
    clicks_rows = [line for line in dump.splitlines() if line.startswith("default.clicks\t")]
    conversion_rows = [line for line in dump.splitlines() if line.startswith("default.conversions\t")]
    redis_blob = b"\n".join(redis_values).decode("utf-8", "replace")
    aof = b"".join(path.read_bytes() for path in (tmp_path / "redis").glob("appendonly*")).decode("utf-8", "replace")
    found = {"clickhouse": leaks(dump), "redis": leaks(redis_blob), "redis AOF": leaks(aof),
             "logs": leaks("\n".join(logs)), "api replies": leaks("\n".join(r.text for r in answers["refused"]))}
    print(f"\n[privacy] {len(clicks_rows)} click rows, {len(conversion_rows)} conversion rows, "
          f"{len(dump.splitlines())} ClickHouse lines, {len(redis_values)} Redis names and values, "
          f"{sum(len(x) for x in logs)} bytes of logs, refusals {[r.status_code for r in answers['refused']]}; "
          f"raw user agent in ClickHouse: {'PrivacyAudit' in dump}, in Redis: {'PrivacyAudit' in redis_blob}, "
          f"in the AOF ({len(aof)} bytes, history of deleted stream entries): {'PrivacyAudit' in aof}; "
          f"found: {found}")
    # The dump really holds the run: every click, its refs and enrichment, every conversion.
    assert len(clicks_rows) == len(click_ids) and all(cid in dump for cid in click_ids)
    assert len(conversion_rows) == 4 and "shop.example" in dump
    assert all("\thttps://mail.example\t" in row for row in clicks_rows)  # the referer's scheme and host are kept
    assert [r.status_code for r in answers["refused"]] == [422, 422, 422, 422]
    assert found == {"clickhouse": {}, "redis": {}, "redis AOF": {}, "logs": {}, "api replies": {}}
    assert "PrivacyAudit" not in dump and "PrivacyAudit" not in redis_blob
