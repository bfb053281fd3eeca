"""Delivery receipts on the edge: `POST /hooks/twilio` and `POST /hooks/telnyx`.

Each hook reads the raw body once (bounded), checks the provider's signature over exactly those bytes, and
only then parses it into `Message`s and records them once per (message_id, status). The order of the checks
is the order of the answers: 413 too large, 401 not signed by the provider (or not fresh), 400 signed but
not shaped like a receipt, 503 while Redis cannot take it (the provider retries), else 200. (Twilio signs
the parsed form parameters, so a body that is no form at all is a 400 before its signature can be checked;
one without the signature header is a 401 first.) Nothing is recorded before the signature holds, and a
request refused at any step records nothing.

A hook whose secret is unset answers the edge's plain 404, as if the path did not exist.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import orjson
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.recipient import RecipientKeyer
from tracker.edge import twilio
from tracker.edge.host_domain import HostDomains
from tracker.edge.telnyx import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureRefused, TelnyxVerifier, parse_public_key
from tracker.events.recorder import MessageRecorder
from tracker.message import InvalidMessage, Message
from tracker.metrics import MESSAGES
from tracker.settings import Settings

TWILIO_PATH = "/hooks/twilio"
TELNYX_PATH = "/hooks/telnyx"
MAX_TWILIO_BODY = 64 * 1024  # a status callback is a few hundred bytes
MAX_TELNYX_BODY = 256 * 1024  # the payload repeats the text (up to 1600 characters) and media URLs
_TWILIO_READ = ("MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "To", "ErrorCode")


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused past `max_bytes` while reading, so a lying Content-Length cannot get past it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BodyTooLarge
    return bytes(body)


def receipt_routes(settings: Settings, recorder: MessageRecorder) -> list[Route]:
    """Both hooks; one whose secret is unset answers the edge's plain 404, as a path that does not exist."""
    keyer = RecipientKeyer(settings.secret)
    twilio_hook = not_configured
    if settings.twilio_auth_token:
        bases = {domain: settings.short_base_for(domain) for domain in settings.domains}
        twilio_hook = TwilioReceipts(settings.twilio_auth_token, bases, keyer, recorder).serve
    telnyx_hook = not_configured
    if settings.telnyx_public_key:
        verifier = TelnyxVerifier(parse_public_key(settings.telnyx_public_key))
        telnyx_hook = TelnyxReceipts(verifier, keyer, recorder).serve
    return [Route(TWILIO_PATH, twilio_hook, methods=["POST"]), Route(TELNYX_PATH, telnyx_hook, methods=["POST"])]


async def not_configured(request: Request) -> Response:
    # The app's 404 handler renders the same page as a missing short code.
    raise HTTPException(404)


_RESULTS = {401: "unauthorized", 503: "unavailable"}


def refused(provider: str, status: int, reason: str) -> Response:
    """A refusal: its reason in `X-Tracker-Error` and in the body, counted by kind."""
    MESSAGES.labels(provider, _RESULTS.get(status, "rejected")).inc()
    return Response(orjson.dumps({"error": reason}), status, media_type="application/json",
                    headers={"x-tracker-error": reason, "cache-control": "no-store"})


async def record(provider: str, recorder: MessageRecorder, messages: Sequence[Message]) -> Response:
    """Record the receipt's messages once each; 200 with what became of them (a receipt that tells nothing
    we keep, such as `queued`, is `ignored`: acknowledged, so the provider does not send it again)."""
    accepted = duplicates = 0
    if messages:
        try:
            flags = await recorder.record_messages([(m.identity, orjson.dumps(m.to_event())) for m in messages])
        except (RedisError, OSError):
            return refused(provider, 503, "unavailable")
        accepted = sum(flags)
        duplicates = len(flags) - accepted
        MESSAGES.labels(provider, "accepted").inc(accepted)
        MESSAGES.labels(provider, "duplicate").inc(duplicates)
    else:
        MESSAGES.labels(provider, "ignored").inc()
    content = {"accepted": accepted, "duplicates": duplicates, "ignored": 0 if messages else 1}
    return Response(orjson.dumps(content), 200, media_type="application/json", headers={"cache-control": "no-store"})


class TwilioReceipts:
    """Twilio Messaging status callbacks, signed with the account's auth token over the public URL."""

    def __init__(self, auth_token: str, short_bases: Mapping[str, str], keyer: RecipientKeyer,
                 recorder: MessageRecorder) -> None:
        """`short_bases`: the public base of each short domain, the default domain's (TRACKER_SHORT_BASE) first."""
        self._token = auth_token
        self._domains = HostDomains(list(short_bases))
        self._urls = {domain: base.rstrip("/") + TWILIO_PATH for domain, base in short_bases.items()}
        self._keyer = keyer
        self._recorder = recorder

    def public_urls(self, request: Request) -> list[str]:
        """The URLs Twilio may have signed: TRACKER_SHORT_BASE + path + query, and, for a request on another of
        our short domains, the same URL on that domain (a status callback configured on a branded host). The
        request's own scheme and host are never used as such: behind a proxy they are not what Twilio called."""
        domain = self._domains.of(request.scope)
        urls = [self._urls[self._domains.default]]
        if domain != self._domains.default:
            urls.append(self._urls[domain])
        query = request.scope.get("query_string", b"").decode("latin-1")
        return [f"{url}?{query}" for url in urls] if query else urls

    async def serve(self, request: Request) -> Response:
        try:
            body = await read_body(request, MAX_TWILIO_BODY)
        except BodyTooLarge:
            return refused("twilio", 413, "body_too_large")
        header = request.headers.get(twilio.SIGNATURE_HEADER)
        if not header:
            return refused("twilio", 401, "missing_signature")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return refused("twilio", 400, "not_a_form")
        try:
            params = twilio.parse_form(body)
        except twilio.MalformedForm:
            return refused("twilio", 400, "not_a_form")
        valid = False
        for url in self.public_urls(request):  # no early exit: each candidate costs the same, whichever matches
            valid |= twilio.is_valid(self._token, url, params, header)
        if not valid:
            return refused("twilio", 401, "bad_signature")
        names = [name for name, _ in params]
        if any(names.count(name) > 1 for name in _TWILIO_READ):
            return refused("twilio", 400, "repeated_parameter")
        try:
            message = Message.from_twilio(dict(params), self._keyer, int(time.time() * 1000))
        except InvalidMessage as exc:
            return refused("twilio", 400, exc.reason)
        return await record("twilio", self._recorder, [message] if message else [])


class TelnyxReceipts:
    """Telnyx message webhooks, signed with Ed25519 over `timestamp|body` and fresh within 300 s."""

    def __init__(self, verifier: TelnyxVerifier, keyer: RecipientKeyer, recorder: MessageRecorder) -> None:
        self._verifier = verifier
        self._keyer = keyer
        self._recorder = recorder

    async def serve(self, request: Request) -> Response:
        try:
            body = await read_body(request, MAX_TELNYX_BODY)
        except BodyTooLarge:
            return refused("telnyx", 413, "body_too_large")
        now = time.time()
        try:
            self._verifier.verify(request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER),
                                  body, now)
        except SignatureRefused as exc:
            return refused("telnyx", 401, exc.reason)
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return refused("telnyx", 400, "not_json")
        try:
            messages = Message.from_telnyx(event, self._keyer, int(now * 1000))
        except InvalidMessage as exc:
            return refused("telnyx", 400, exc.reason)
        return await record("telnyx", self._recorder, messages)
