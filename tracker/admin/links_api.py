"""`/v1/links`: create one, create a batch for many recipients, read, patch."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.codes import is_well_formed
from shortlinks.link import InvalidLink, Link, LinkDraft, LinkRules
from shortlinks.link_store import LinkStore
from shortlinks.recipient import InvalidRecipient, RecipientKeyer
from tracker.http_json import ApiError, json_response, read_json
from tracker.settings import Settings

MAX_LINK_BODY = 64 * 1024
MAX_BATCH_BODY = 4 * 1024 * 1024
MAX_BATCH = 10_000


class LinksApi:
    def __init__(self, settings: Settings, store: LinkStore) -> None:
        self._store = store
        self._keyer = RecipientKeyer(settings.secret)
        self._rules = LinkRules(allowed_hosts=settings.allowed_hosts, click_param=settings.click_param)
        self._base = settings.short_base

    def routes(self) -> list[Route]:
        return [
            Route("/v1/links", self.create, methods=["POST"]),
            Route("/v1/links/batch", self.create_batch, methods=["POST"]),
            Route("/v1/links/{code}", self.read, methods=["GET"]),
            Route("/v1/links/{code}", self.patch, methods=["PATCH"]),
        ]

    async def create(self, request: Request) -> Response:
        body = await read_json(request, MAX_LINK_BODY)
        now = datetime.now(UTC)
        try:
            draft = LinkDraft.from_json(body, self._rules, self._keyer.ref, now)
        except InvalidLink as exc:
            raise ApiError(422, str(exc)) from None
        link = await self._store.create(draft, now)
        return json_response(link.to_api(self._base), 201)

    async def create_batch(self, request: Request) -> Response:
        body = await read_json(request, MAX_BATCH_BODY)
        if not isinstance(body, dict) or set(body) - {"template", "recipients"}:
            raise ApiError(422, "body: expected {\"template\": {...}, \"recipients\": [...]}")
        recipients = body.get("recipients")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_BATCH:
            raise ApiError(422, f"recipients: expected a list of 1 to {MAX_BATCH} phone numbers or e-mails")
        now = datetime.now(UTC)
        try:
            template = LinkDraft.from_json(body.get("template"), self._rules, now=now, allow_recipient=False)
        except InvalidLink as exc:
            raise ApiError(422, f"template.{exc}") from None
        refs = []
        for index, recipient in enumerate(recipients):
            try:
                refs.append(self._keyer.ref(recipient))
            except InvalidRecipient as exc:
                raise ApiError(422, f"recipients[{index}]: {exc}") from None
        links = await self._store.create_many([template.for_recipient(ref) for ref in refs], now)
        return json_response(
            {"links": [{"recipient_ref": ln.recipient_ref, "code": ln.code, "short_url": f"{self._base}/{ln.code}"}
                       for ln in links]},
            201,
        )

    async def read(self, request: Request) -> Response:
        link = await self._load(request.path_params["code"])
        return json_response(link.to_api(self._base))

    async def patch(self, request: Request) -> Response:
        link = await self._load(request.path_params["code"])
        body = await read_json(request, MAX_LINK_BODY)
        try:
            changed = link.patched(body, self._rules)
        except InvalidLink as exc:
            raise ApiError(422, str(exc)) from None
        await self._store.save_change(changed)
        return json_response(changed.to_api(self._base))

    async def _load(self, code: str) -> Link:
        link = await self._store.get(code) if is_well_formed(code) else None
        if link is None:
            raise ApiError(404, f"no link with code {code[:40]!r}")
        return link
