"""Locust load model of an SMS campaign hitting the edge: recipients, link-preview bots and shoppers.

    locust -f loadtest/locustfile.py --headless -u 50 -r 25 -t 60s \\
        --host http://127.0.0.1:8080 --admin-host http://127.0.0.1:8081 --api-key KEY --links 5000

Before the first user starts, `--links N` per-recipient links are created through `POST /v1/links/batch`
(campaign = `--run-id`, so the loss check can find exactly this run's rows). Then three kinds of user share them:

- `Recipient`: a person tapping the link in their SMS on a phone, often more than once;
- `PreviewBot`: link-preview fetchers and security scanners (iMessage, WhatsApp, Telegram, Slack...), some
  sending HEAD; they reach a link right after it was sent, like the real ones;
- `Shopper`: taps, lands (the destination is not ours, so it is never fetched), loads `/t.js`, buys: fires
  `/px.gif` with the click id, and sometimes reloads the thank-you page, which fires the same pixel again.

Redirects are never followed. Every click id received in a 302's `Location` and every order id whose pixel got a
200 is written to `--record-dir` (one file per process, flushed when the process quits), with a fine-grained
latency histogram of the redirect, for `loadtest/run`'s SLO and loss checks. The file depends on Locust only, so
it can be pointed at any deployment; hosts that are not loopback need `--allow-remote`.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import ipaddress
import itertools
import json
import math
import os
import random
import re
import secrets
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

import gevent.event
import requests
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

REDIRECT = "/{code}"  # one stats name for every code, GET and HEAD alike
BATCH_LIMIT = 10_000  # POST /v1/links/batch takes at most this many recipients
LATENCY_BUCKET_MS = 0.1  # resolution of the redirect latency histogram (Locust's own rounds to 1 ms)
RUN_ID_RE = re.compile(r"[a-z0-9_]{1,48}")
POPULATION_TIMEOUT = 120.0  # a worker waits this long for the master's link population

PHONE_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.6422.165 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.179 Mobile Safari/537.36 SamsungBrowser/25.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36",  # some open the message on a desktop (Messages, WhatsApp Web)
)
BOT_AGENTS = (
    # iMessage's link preview
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "WhatsApp/2.23.20.0 A",
    "TelegramBot (like TwitterBot)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "python-requests/2.32.3",  # carriers' and e-mail gateways' URL scanners often look like this
)
# Sec-Purpose / X-Purpose headers some previewers and prefetchers send.
PREFETCH_HEADERS = ({"Sec-Purpose": "prefetch"}, {"X-Purpose": "preview"}, {"Purpose": "prefetch"})
TEMPLATES: tuple[dict[str, Any], ...] = (
    {"destination": "https://shop.example/sale", "message": "welcome",
     "utm": {"source": "klaviyo", "medium": "sms", "content": "hero"}},
    {"destination": "https://shop.example/p/sku-123?color=red#reviews", "message": "abandoned_cart",
     "utm": {"source": "attentive", "medium": "sms", "content": "cart_item"}, "tags": ["automation"]},
    {"destination": "https://shop.example/whatsapp-offer?lang=en", "message": "winback",
     "utm": {"source": "twilio", "medium": "whatsapp"}},
)
CURRENCIES = ("USD", "USD", "USD", "EUR")


@events.init_command_line_parser.add_listener
def add_arguments(parser: Any) -> None:
    parser.add_argument("--admin-host", default="http://127.0.0.1:8081", env_var="LOCUST_ADMIN_HOST",
                       help="admin API base URL, where the links are created")
    parser.add_argument("--api-key", default="", env_var="LOCUST_API_KEY", is_secret=True,
                       help="admin API bearer key (prefer the LOCUST_API_KEY variable: argv is visible in ps)")
    parser.add_argument("--links", type=int, default=1000, help="per-recipient links to create before the run")
    parser.add_argument("--run-id", default="", help="campaign name of this run's links and prefix of its order ids "
                       "([a-z0-9_], default: random)")
    parser.add_argument("--record-dir", default="", help="where each process writes the click ids and order ids it "
                       "received, and its redirect latency histogram (default: none)")
    parser.add_argument("--recipient-weight", type=int, default=70, help="weight of Recipient users")
    parser.add_argument("--bot-weight", type=int, default=15, help="weight of PreviewBot users")
    parser.add_argument("--shopper-weight", type=int, default=15, help="weight of Shopper users")
    parser.add_argument("--think-time", type=float, default=1.0,
                       help="upper bound of the random pause (s) between a user's steps; 0 is a closed loop")
    parser.add_argument("--pixel-secret", default="", env_var="LOCUST_PIXEL_SECRET", is_secret=True,
                       help="TRACKER_SECRET of the deployment, to sign pixels (sig=...); unsigned when empty")
    parser.add_argument("--allow-remote", action="store_true",
                       help="allow hosts that are not loopback addresses (you are about to load someone's server)")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Population:
    """The codes every user picks from; filled once, on the master (or the only process) and sent to workers."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self._ready = gevent.event.Event()

    def fill(self, codes: list[str]) -> None:
        self.codes = codes
        self._ready.set()

    def pick(self) -> str:
        if not self._ready.is_set() and not self._ready.wait(POPULATION_TIMEOUT):
            raise RuntimeError("no link population arrived from the master")
        return random.choice(self.codes)


class Recorder:
    """What this process saw, for the loss check: one file per kind, written as it comes, flushed at quit.

    Without `--record-dir` nothing is kept (a plain Locust run against someone's deployment).
    """

    def __init__(self) -> None:
        self._files: dict[str, TextIO] = {}
        self._latency: Counter[int] = Counter()
        self._latency_path: Path | None = None
        self._lock = threading.Lock()

    def open(self, directory: str, run_id: str) -> None:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        tag = f"{run_id}-{socket.gethostname()}-{os.getpid()}"
        self._files = {kind: open(folder / f"{kind}-{tag}.txt", "a", encoding="ascii")  # noqa: SIM115 - closed at quit
                       for kind in ("clicks", "orders")}
        self._latency_path = folder / f"latency-{tag}.json"
        atexit.register(self.close)

    def click(self, click_id: str) -> None:
        if "clicks" in self._files:
            self._files["clicks"].write(click_id + "\n")

    def order(self, order_id: str) -> None:
        if "orders" in self._files:
            self._files["orders"].write(order_id + "\n")

    def redirect_latency(self, milliseconds: float) -> None:
        self._latency[int(milliseconds / LATENCY_BUCKET_MS)] += 1

    def close(self) -> None:
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files = {}
            if self._latency_path is not None:
                self._latency_path.write_text(json.dumps({
                    "bucket_ms": LATENCY_BUCKET_MS,
                    "counts": {str(bucket): count for bucket, count in sorted(self._latency.items())},
                }))
                self._latency_path = None


POPULATION = Population()
RECORDER = Recorder()
SETTINGS: dict[str, Any] = {"think_time": 1.0, "pixel_secret": "", "order_prefix": ""}
ORDER_SEQUENCE = itertools.count(1)


def create_links(admin_host: str, api_key: str, count: int, run_id: str) -> list[str]:
    """`count` per-recipient links over the templates, through the batch API; returns their codes.

    Each batch gets one template, so a population of any size covers every template (query strings, fragments,
    channels) in roughly equal parts. Recipients are distinct possible +1 numbers.
    """
    codes: list[str] = []
    chunk = max(1, min(BATCH_LIMIT, math.ceil(count / len(TEMPLATES))))
    first_number = 2_000_000_000 + random.randrange(7_000_000_000 - count)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {api_key}"
        for index, start in enumerate(range(0, count, chunk)):
            size = min(chunk, count - start)
            template: dict[str, Any] = {**TEMPLATES[index % len(TEMPLATES)], "campaign": run_id}
            template["utm"] = {**template["utm"], "campaign": run_id}
            recipients = [f"+1{first_number + start + i}" for i in range(size)]
            reply = session.post(f"{admin_host.rstrip('/')}/v1/links/batch",
                                 json={"template": template, "recipients": recipients}, timeout=60)
            if reply.status_code != 201:
                raise RuntimeError(f"POST /v1/links/batch answered {reply.status_code}: {reply.text[:200]}")
            codes += [link["code"] for link in reply.json()["links"]]
    return codes


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # used as a library (tests, locust's own tooling): nothing to set up
        return
    run_id = options.run_id or f"lt_{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"
    if not RUN_ID_RE.fullmatch(run_id):
        raise SystemExit(f"--run-id: expected 1 to 48 of [a-z0-9_], got {run_id!r}")
    if not options.allow_remote:
        for url in (environment.host or "", options.admin_host):
            if url and not is_loopback(url):
                raise SystemExit(f"{url}: not a loopback address; add --allow-remote if you mean to load it")
    SETTINGS.update(think_time=max(0.0, options.think_time), pixel_secret=options.pixel_secret)
    Recipient.weight, PreviewBot.weight, Shopper.weight = (
        options.recipient_weight, options.bot_weight, options.shopper_weight)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # The master's run id and links; this worker starts recording when they arrive.
        def on_population(msg: Any, **_: Any) -> None:
            start_recording(environment, msg.data["run_id"])
            POPULATION.fill(msg.data["codes"])

        runner.register_message("tracker-population", on_population)
        return
    if not options.api_key:
        raise SystemExit("--api-key (or LOCUST_API_KEY) is required to create the link population")
    started = time.monotonic()
    codes = create_links(options.admin_host, options.api_key, options.links, run_id)
    print(f"run {run_id}: created {len(codes)} links in {time.monotonic() - started:.1f}s", flush=True)
    if isinstance(runner, MasterRunner):
        # Workers connect after this; each asks in its test_start and is sent the population.
        def send_population(msg: Any, **_: Any) -> None:
            runner.send_message("tracker-population", {"run_id": run_id, "codes": codes}, client_id=msg.node_id)

        runner.register_message("tracker-population-please", send_population)
        return
    start_recording(environment, run_id)
    POPULATION.fill(codes)


def start_recording(environment: Environment, run_id: str) -> None:
    """Per process: order ids unique across processes and machines, and the record files, when asked for."""
    # The run, a hash of the host name, the pid (this runs after Locust forked its --processes), a sequence number.
    host_tag = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    SETTINGS["order_prefix"] = f"{run_id}-{host_tag}-{os.getpid()}-"
    options = environment.parsed_options
    if options is not None and options.record_dir:
        RECORDER.open(options.record_dir, run_id)
    environment.events.request.add_listener(on_request)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message("tracker-population-please", None)


@events.quitting.add_listener
def on_quitting(environment: Environment, **_: Any) -> None:
    RECORDER.close()


def on_request(name: str, response_time: float, exception: Exception | None, **_: Any) -> None:
    if name == REDIRECT and exception is None:
        RECORDER.redirect_latency(response_time)


def think() -> float:
    return random.uniform(0, SETTINGS["think_time"])


class EdgeUser(FastHttpUser):
    """What every simulated client does on the edge: tap without following, fire the pixel."""

    abstract = True
    wait_time = staticmethod(think)  # type: ignore[assignment]
    max_redirects = 0

    def tap(self, code: str, agent: str, method: str = "GET", extra: dict[str, str] | None = None) -> str | None:
        """Request `/{code}`; the click id of the 302, recorded, or None (a failure, already reported)."""
        headers = {"User-Agent": agent, **(extra or {})}
        with self.client.request(method, f"/{code}", name=REDIRECT, headers=headers, allow_redirects=False,
                                 catch_response=True) as reply:
            if reply.status_code != 302:
                reply.failure(f"status {reply.status_code}")
                return None
            location = reply.headers.get("location") or ""
            click_ids = parse_qs(urlsplit(location).query).get("sclid") or []
            if len(click_ids) != 1:
                reply.failure("302 without one sclid in its Location")
                return None
            RECORDER.click(click_ids[0])
            return click_ids[0]

    def fire_pixel(self, order_id: str, value: str, currency: str, click_id: str) -> bool:
        params = {"order_id": order_id, "value": value, "currency": currency, "type": "purchase", "sclid": click_id}
        if SETTINGS["pixel_secret"]:
            message = f"{order_id}|{value}|{currency}|purchase".encode()
            params["sig"] = hmac.new(SETTINGS["pixel_secret"].encode(), message, hashlib.sha256).hexdigest()
        with self.client.get(f"/px.gif?{urlencode(params)}", name="/px.gif", catch_response=True) as reply:
            if reply.status_code != 200:
                reply.failure(f"status {reply.status_code} {reply.headers.get('x-tracker-error', '')}")
                return False
            RECORDER.order(order_id)
            return True


class Recipient(EdgeUser):
    """A person who got the SMS: taps their link on a phone, and a third of them tap it again later."""

    weight = 70

    @task
    def read_message(self) -> None:
        code = POPULATION.pick()
        agent = random.choice(PHONE_AGENTS)
        taps = 1 if random.random() < 0.65 else random.randint(2, 4)
        for tap in range(taps):
            if tap:
                self.wait()
            self.tap(code, agent)


class PreviewBot(EdgeUser):
    """Link expanders and scanners: one fetch per message, some HEAD first, some flagged as prefetch."""

    weight = 15

    @task
    def expand(self) -> None:
        code = POPULATION.pick()
        agent = random.choice(BOT_AGENTS)
        extra = random.choice(PREFETCH_HEADERS) if random.random() < 0.2 else None
        if random.random() < 0.3:
            self.tap(code, agent, "HEAD", extra)
        self.tap(code, agent, "GET", extra)


class Shopper(EdgeUser):
    """Taps, lands, loads the snippet, buys; a quarter reload the thank-you page, firing the same pixel again."""

    weight = 15

    @task
    def buy(self) -> None:
        click_id = self.tap(POPULATION.pick(), random.choice(PHONE_AGENTS))
        if click_id is None:
            return
        self.wait()
        self.client.get("/t.js", name="/t.js")
        self.wait()
        order_id = f"{SETTINGS['order_prefix']}{next(ORDER_SEQUENCE)}"
        value = f"{random.randint(500, 25_000) / 100:.2f}"
        currency = random.choice(CURRENCIES)
        if self.fire_pixel(order_id, value, currency, click_id) and random.random() < 0.25:
            self.wait()
            self.fire_pixel(order_id, value, currency, click_id)
