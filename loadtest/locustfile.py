"""Locust load model of an SMS campaign hitting the edge: recipients, link-preview bots and shoppers.

    locust -f loadtest/locustfile.py --headless -u 50 -r 25 -t 60s \\
        --host http://127.0.0.1:8080 --admin-host http://127.0.0.1:8081 --api-key KEY --links 5000

Before the first user starts, `--links N` per-recipient links are created through `POST /v1/links/batch`
(campaign = `--run-id`, so the loss check can find exactly this run's rows). Then three kinds of user share them:

- `Recipient`: a person tapping the link in their SMS on a phone, often more than once;
- `PreviewBot`: link-preview fetchers and security scanners (iMessage, WhatsApp, Telegram, Slack...), some
  sending HEAD; they reach a link right after it was sent, like the real ones;
- `Shopper`: taps, lands (the destination is not ours, so it is never fetched), loads `/t.js`, buys: fires
  `/px.gif` with the click id, and sometimes reloads the thank-you page, which fires the same pixel again;
- `Provider`: the SMS providers' delivery receipts. Every link is one text, registered through
  `POST /v1/messages` with the link's code (as the SMS platform does when it sends); a provider posts the text's
  `sent` and then its outcome (mostly `delivered`, some `undelivered` or `failed`), signed as Twilio
  (`/hooks/twilio`, even texts) or Telnyx (`/hooks/telnyx`, odd texts) sign them, and now and then delivers a
  receipt twice, as providers do on a timeout. Two receipts per text against a tap for one text in a few is the
  ratio of a real campaign; the weights set how many texts get receipts while the others tap.

Redirects are never followed. Every click id received in a 302's `Location`, every order id whose pixel got a
200 and every message event the tracker acknowledged (source:status:message_id) is written to `--record-dir`
(one file per process, flushed when the process quits), with a fine-grained latency histogram of the redirect,
for `loadtest/run`'s SLO and loss checks. The file depends on Locust only, so it can be pointed at any
deployment; hosts that are not loopback need `--allow-remote`.
"""

from __future__ import annotations

import atexit
import base64
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

# Imported after Locust (which monkey-patches the standard library first); only the Telnyx signature needs it.
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
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
# Telnyx's names of our statuses.
TELNYX_STATUS = {"sent": "sent", "delivered": "delivered", "undelivered": "delivery_failed",
                 "failed": "sending_failed"}
REDELIVERY = 0.05  # a provider that got no answer in time sends the same receipt again


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
    parser.add_argument("--provider-weight", type=int, default=20,
                        help="weight of Provider users (delivery receipts); 0 without the providers' secrets")
    parser.add_argument("--twilio-token", default="", env_var="LOCUST_TWILIO_TOKEN", is_secret=True,
                        help="TRACKER_TWILIO_AUTH_TOKEN of the deployment, to sign Twilio status callbacks")
    parser.add_argument("--telnyx-key", default="", env_var="LOCUST_TELNYX_PRIVATE_KEY", is_secret=True,
                        help="base64 Ed25519 private key whose public half is the deployment's "
                             "TRACKER_TELNYX_PUBLIC_KEY, to sign Telnyx webhooks")
    parser.add_argument("--public-base", default="", help="the deployment's TRACKER_SHORT_BASE, which Twilio's "
                        "signature covers (default: --host)")
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
    """The links every user picks from, one text each (its recipient's phone, its message id); filled once, on
    the master (or the only process) and sent to workers."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self.phones: list[str] = []
        self.run_id = ""
        self._ready = gevent.event.Event()

    def fill(self, run_id: str, codes: list[str], phones: list[str]) -> None:
        self.run_id, self.codes, self.phones = run_id, codes, phones
        self._ready.set()

    def pick_index(self) -> int:
        if not self._ready.is_set() and not self._ready.wait(POPULATION_TIMEOUT):
            raise RuntimeError("no link population arrived from the master")
        return random.randrange(len(self.codes))

    def pick(self) -> str:
        return self.codes[self.pick_index()]

    def message_id(self, index: int) -> str:
        return message_id(self.run_id, index)


def message_id(run_id: str, index: int) -> str:
    """The text of link `index`: the run id first, so the loss check finds exactly this run's messages."""
    return f"{run_id}-{index}"


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
                       for kind in ("clicks", "orders", "messages")}
        self._latency_path = folder / f"latency-{tag}.json"
        atexit.register(self.close)

    def click(self, click_id: str) -> None:
        if "clicks" in self._files:
            self._files["clicks"].write(click_id + "\n")

    def order(self, order_id: str) -> None:
        if "orders" in self._files:
            self._files["orders"].write(order_id + "\n")

    def message(self, identity: str) -> None:
        if "messages" in self._files:
            self._files["messages"].write(identity + "\n")

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
SETTINGS: dict[str, Any] = {"think_time": 1.0, "pixel_secret": "", "order_prefix": "", "twilio_token": "",
                            "telnyx_key": None, "twilio_url": ""}
ORDER_SEQUENCE = itertools.count(1)


def create_links(admin_host: str, api_key: str, count: int, run_id: str) -> tuple[list[str], list[str]]:
    """`count` per-recipient links over the templates, through the batch API; returns their codes and phones.

    Each batch gets one template, so a population of any size covers every template (query strings, fragments,
    channels) in roughly equal parts. Recipients are distinct possible +1 numbers.
    """
    codes: list[str] = []
    phones: list[str] = []
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
            phones += recipients
    return codes, phones


def register_messages(admin_host: str, api_key: str, run_id: str, codes: list[str]) -> list[str]:
    """Each link's text, `sent`, through `POST /v1/messages` with its code; returns the acknowledged events
    (source:status:message_id) for the loss check."""
    acknowledged: list[str] = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {api_key}"
        for start in range(0, len(codes), BATCH_LIMIT):
            items = [{"message_id": message_id(run_id, i), "status": "sent", "code": codes[i],
                      "provider": "twilio" if i % 2 == 0 else "telnyx"}
                     for i in range(start, min(len(codes), start + BATCH_LIMIT))]
            reply = session.post(f"{admin_host.rstrip('/')}/v1/messages", json=items, timeout=60)
            if reply.status_code != 202:
                raise RuntimeError(f"POST /v1/messages answered {reply.status_code}: {reply.text[:200]}")
            acknowledged += [f"api:sent:{item['message_id']}" for item in items]
    return acknowledged


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
    telnyx_key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(options.telnyx_key)) \
        if options.telnyx_key else None
    SETTINGS.update(think_time=max(0.0, options.think_time), pixel_secret=options.pixel_secret,
                    twilio_token=options.twilio_token, telnyx_key=telnyx_key,
                    twilio_url=(options.public_base or environment.host or "").rstrip("/") + "/hooks/twilio")
    providers_known = bool(options.twilio_token and options.telnyx_key)
    Recipient.weight, PreviewBot.weight, Shopper.weight, Provider.weight = (
        options.recipient_weight, options.bot_weight, options.shopper_weight,
        options.provider_weight if providers_known else 0)
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # The master's run id and links; this worker starts recording when they arrive.
        def on_population(msg: Any, **_: Any) -> None:
            start_recording(environment, msg.data["run_id"])
            POPULATION.fill(msg.data["run_id"], msg.data["codes"], msg.data["phones"])

        runner.register_message("tracker-population", on_population)
        return
    if not options.api_key:
        raise SystemExit("--api-key (or LOCUST_API_KEY) is required to create the link population")
    started = time.monotonic()
    codes, phones = create_links(options.admin_host, options.api_key, options.links, run_id)
    registered = register_messages(options.admin_host, options.api_key, run_id, codes) if providers_known else []
    print(f"run {run_id}: created {len(codes)} links and registered {len(registered)} texts in "
          f"{time.monotonic() - started:.1f}s", flush=True)
    if options.record_dir:
        folder = Path(options.record_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"messages-{run_id}-registered.txt").write_text("".join(f"{line}\n" for line in registered))
    if isinstance(runner, MasterRunner):
        # Workers connect after this; each asks in its test_start and is sent the population.
        def send_population(msg: Any, **_: Any) -> None:
            runner.send_message("tracker-population", {"run_id": run_id, "codes": codes, "phones": phones},
                                client_id=msg.node_id)

        runner.register_message("tracker-population-please", send_population)
        return
    start_recording(environment, run_id)
    POPULATION.fill(run_id, codes, phones)


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


class Provider(EdgeUser):
    """An SMS provider reporting on one text: `sent`, then its outcome, now and then twice; Twilio for even texts,
    Telnyx for odd ones, each signed as that provider signs."""

    weight = 20

    @task
    def report(self) -> None:
        index = POPULATION.pick_index()
        text, phone = POPULATION.message_id(index), POPULATION.phones[index]
        # One outcome per text, whoever reports it and however often: a real text is delivered or not.
        draw = random.Random(text).random()
        outcome = "delivered" if draw < 0.94 else "undelivered" if draw < 0.98 else "failed"
        statuses = ["sent", outcome] + ([outcome] if random.random() < REDELIVERY else [])
        for step, status in enumerate(statuses):
            if step:
                self.wait()
            if index % 2 == 0:
                self.twilio(text, phone, status)
            else:
                self.telnyx(text, phone, status)

    def twilio(self, text: str, phone: str, status: str) -> None:
        params = {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "From": "+15017122661",
                  "MessageSid": text, "MessageStatus": status, "SmsSid": text, "SmsStatus": status, "To": phone}
        if status in ("undelivered", "failed"):
            params["ErrorCode"] = "30003"
        data = SETTINGS["twilio_url"] + "".join(name + params[name] for name in sorted(params))
        signature = base64.b64encode(hmac.new(SETTINGS["twilio_token"].encode(), data.encode(), hashlib.sha1)
                                     .digest()).decode()
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
        self.post_receipt("/hooks/twilio", urlencode(params).encode(), headers, f"twilio:{status}:{text}")

    def telnyx(self, text: str, phone: str, status: str) -> None:
        event_type = "message.sent" if status == "sent" else "message.finalized"
        errors = [] if status in ("sent", "delivered") else [{"code": "40300", "title": "Message delivery failed"}]
        body = json.dumps({"data": {"event_type": event_type, "id": secrets.token_hex(16),
                                    "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                                    "payload": {"id": text, "direction": "outbound", "type": "SMS", "errors": errors,
                                                "to": [{"phone_number": phone, "status": TELNYX_STATUS[status]}]},
                                    "record_type": "event"},
                           "meta": {"attempt": 1}}).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(SETTINGS["telnyx_key"].sign(stamp.encode() + b"|" + body)).decode()
        headers = {"telnyx-signature-ed25519": signature, "telnyx-timestamp": stamp,
                   "Content-Type": "application/json"}
        self.post_receipt("/hooks/telnyx", body, headers, f"telnyx:{status}:{text}")

    def post_receipt(self, path: str, body: bytes, headers: dict[str, str], identity: str) -> None:
        with self.client.post(path, data=body, headers=headers, name=path, catch_response=True) as reply:
            if reply.status_code != 200:
                reply.failure(f"status {reply.status_code} {reply.headers.get('x-tracker-error', '')}")
                return
            answer = reply.json()
            if answer["accepted"] + answer["duplicates"] != 1:
                reply.failure(f"receipt not recorded: {answer}")
                return
            RECORDER.message(identity)
