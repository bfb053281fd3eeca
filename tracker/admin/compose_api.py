"""`POST /v1/messages/compose`: an SMS text in, one text per recipient out, every URL a tracked link.

Each http(s) URL written in the text becomes, for each recipient, a short link of its own
(the template's campaign, UTM and labels; the recipient's ref), and each message comes back
with what it costs to send: GSM-7 or UCS-2, characters, segments. The warnings name the
characters that force UCS-2 and what GSM-7 would write instead: one curly apostrophe turns a
one-segment text into a three-segment one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.link import InvalidLink, LinkDraft
from shortlinks.link_store import LinkStore
from shortlinks.recipient import RecipientKeyer
from shortlinks.sms_encoding import measure, ucs2_warnings
from shortlinks.text_urls import find_urls, replace_urls
from tracker.admin.links_api import MAX_BATCH, MAX_BATCH_BODY, link_rules, recipient_refs
from tracker.http_json import ApiError, json_response, read_json
from tracker.settings import Settings

MAX_TEXT = 1600  # characters; providers refuse longer texts (10+ segments)
MAX_URLS = 10


class ComposeApi:
    def __init__(self, settings: Settings, store: LinkStore) -> None:
        self._settings = settings
        self._store = store
        self._keyer = RecipientKeyer(settings.secret)
        self._rules = link_rules(settings)

    def routes(self) -> list[Route]:
        return [Route("/v1/messages/compose", self.compose, methods=["POST"])]

    async def compose(self, request: Request) -> Response:
        body = await read_json(request, MAX_BATCH_BODY)
        if not isinstance(body, dict) or set(body) - {"text", "template", "recipients"}:
            raise ApiError(422, 'body: expected {"text": "...", "template": {...}, "recipients": [...]}')
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(422, "text: expected the message text")
        if len(text) > MAX_TEXT:
            raise ApiError(422, f"text: at most {MAX_TEXT} characters")
        template = body.get("template") or {}
        if not isinstance(template, dict):
            raise ApiError(422, "template: expected a JSON object of link fields")
        if "destination" in template:
            raise ApiError(422, "template.destination: the destinations are the URLs written in text")
        spans = find_urls(text)
        urls = list(dict.fromkeys(span.url for span in spans))
        if len(urls) > MAX_URLS:
            raise ApiError(422, f"text: at most {MAX_URLS} different URLs")
        now = datetime.now(UTC)
        drafts = {url: self._draft(template, url, now) for url in urls}
        refs = recipient_refs(self._keyer, body.get("recipients"), MAX_BATCH)
        links = await self._store.create_many(
            [drafts[url].for_recipient(ref) for ref in refs for url in urls], now)
        messages: list[dict[str, Any]] = []
        for n, ref in enumerate(refs):
            mine = {url: links[n * len(urls) + i] for i, url in enumerate(urls)}
            composed = replace_urls(text, spans, [self._short_url(mine[s.url].domain, mine[s.url].code)
                                                  for s in spans])
            cost = measure(composed)
            messages.append({
                "recipient_ref": ref,
                "text": composed,
                "codes": [mine[url].code for url in urls],
                "encoding": cost.encoding,
                "segments": cost.segments,
                "characters": cost.characters,
            })
        shown = messages[0]["text"] if messages else text
        return json_response({"messages": messages, "warnings": [w.to_api() for w in ucs2_warnings(shown)]}, 201)

    def _draft(self, template: dict[str, Any], url: str, now: datetime) -> LinkDraft:
        try:
            return LinkDraft.from_json({**template, "destination": url}, self._rules, now=now, allow_recipient=False)
        except InvalidLink as exc:
            field = str(exc)
            if field.startswith("destination:"):
                raise ApiError(422, f"text: the URL {url[:80]!r}: {field}") from None
            raise ApiError(422, f"template.{field}") from None

    def _short_url(self, domain: str, code: str) -> str:
        return f"{self._settings.short_base_for(domain)}/{code}"
