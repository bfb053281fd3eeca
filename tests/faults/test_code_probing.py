"""100,000 random codes, well-formed and malformed: every miss looks exactly like every other miss."""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_raw import Connection, Reply, get, median_ms, percentile
from tests.support.processes import TrackerProcess, create_link, tracker_env
from tests.support.servers import serve_in_thread
from tracker.admin.app import Admin
from tracker.settings import Settings

PROBES = 100_000
CONNECTIONS = 16
ALPHABET = string.ascii_letters + string.digits
ODD = ".~!$&'()*+,;=:@"  # '-' and '_' are vanity-code characters


def random_codes(rng: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """(kind, path segment): half well-formed codes that do not exist, half malformed in assorted ways."""
    for n in range(count):
        if n % 2 == 0:
            yield "well-formed", "".join(rng.choices(ALPHABET, k=rng.randint(6, 12)))
            continue
        shape = rng.randrange(6)
        if shape == 0:  # too short or too long (codes are 3 to 64 characters: generated 6-12, vanity 3-64)
            yield "malformed", "".join(rng.choices(ALPHABET, k=rng.choice([rng.randint(1, 2), rng.randint(65, 90)])))
        elif shape == 1:  # right length, one character outside the alphabet
            code = rng.choices(ALPHABET, k=rng.randint(6, 12))
            code[rng.randrange(len(code))] = rng.choice(ODD)
            yield "malformed", "".join(code)
        elif shape == 2:  # percent-encoded bytes, any of them
            yield "malformed", "".join(f"%{rng.randrange(256):02X}" for _ in range(rng.randint(1, 12)))
        elif shape == 3:  # unicode
            text = "".join(chr(rng.choice([rng.randint(0xA0, 0x2FF), rng.randint(0x400, 0x4FF), 0xFF0F, 0x2044]))
                           for _ in range(rng.randint(3, 10)))
            yield "malformed", "".join(f"%{b:02X}" for b in text.encode())
        elif shape == 4:  # an encoded slash: the decoded path has two segments
            yield "malformed", "".join(rng.choices(ALPHABET, k=4)) + "%2F" + "".join(rng.choices(ALPHABET, k=4))
        else:  # dots and query strings
            yield "malformed", rng.choice([".", "..", "%2e%2e", "a..b"]) + "".join(rng.choices(ALPHABET, k=3))


@pytest.mark.slow
def test_100000_probed_codes_get_the_same_404_as_a_normal_miss(
    redis_url: str, settings: Settings, tmp_path: Path
) -> None:
    with serve_in_thread(Admin(settings).app) as admin_url:
        real = {create_link(admin_url, {"destination": "https://shop.example/"})["code"] for _ in range(20)}
    probes = [(kind, code) for kind, code in random_codes(random.Random(8), PROBES) if code not in real]
    results: list[tuple[str, Reply]] = []
    with TrackerProcess(["edge"], tracker_env(redis_url), tmp_path, "edge") as edge:

        async def scenario() -> tuple[Reply, float]:
            connection = Connection(edge.port)
            normal = await connection.request(get("/zzzzzzzz"))
            connection.close()
            queue = iter(probes)

            async def worker() -> None:
                connection = Connection(edge.port)
                try:
                    for kind, code in queue:  # the shared iterator hands each probe to one connection
                        results.append((kind, await connection.request(get(f"/{code}"))))
                finally:
                    connection.close()

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            return normal, time.monotonic() - started

        normal, seconds = asyncio.run(scenario())
    def unordered(reply: Reply) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, body = reply.shape()
        return status, sorted(headers), body

    different = Counter((kind, reply.shape()[:2]) for kind, reply in results if unordered(reply) != unordered(normal))
    reordered = sum(1 for _, reply in results if reply.shape() != normal.shape())
    times = {kind: [r.seconds for k, r in results if k == kind] for kind in ("well-formed", "malformed")}
    print(f"\n[code probing] {len(results)} probes in {seconds:.1f}s ({len(results) / seconds:.0f}/s) on "
          f"{CONNECTIONS} connections; statuses {dict(Counter(r.status for _, r in results))}; differing from a "
          f"normal miss: {sum(different.values())} {dict(list(different.items())[:3])} (same headers in another order: "
          f"{reordered}: the paths with an encoded '/', answered by Starlette); client-side latency median "
          f"well-formed {median_ms(times['well-formed']):.3f} ms, malformed {median_ms(times['malformed']):.3f} ms "
          f"(p99 {percentile(times['well-formed'], 99) * 1000:.3f} / {percentile(times['malformed'], 99) * 1000:.3f})")
    assert normal.status == 404 and len(results) == len(probes) >= PROBES - 5
    assert sum(different.values()) == 0
