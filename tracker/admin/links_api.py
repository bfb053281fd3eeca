"""`/v1/links`: create (generated or vanity code, on any short domain), batch, list, read, patch, delete, QR."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shortlinks.codes import is_well_formed
from shortlinks.destination import short_host
from shortlinks.link import InvalidLink, Link, LinkDraft, LinkRules
from shortlinks.link_store import CodeRefused, CodeTaken, InvalidCursor, LinkFilter, LinkStore
from shortlinks.qr import MEDIA_TYPES as QR_FORMATS
from shortlinks.qr import qr_code
from shortlinks.recipient import InvalidRecipient, RecipientKeyer
from shortlinks.utm import InvalidUtm, normalise_utm_value
from tracker.http_json import ApiError, bounded_list, json_response, read_json
from tracker.settings import Settings

MAX_LINK_BODY = 64 * 1024
MAX_BATCH_BODY = 4 * 1024 * 1024
MAX_BATCH = 10_000
MAX_PAGE = 1000
DEFAULT_PAGE = 100
LIST_PARAMETERS = ("campaign", "message", "tag", "q", "domain", "limit", "cursor")


def link_rules(settings: Settings) -> LinkRules:
    return LinkRules(allowed_hosts=settings.allowed_hosts, click_param=settings.click_param, domains=settings.domains)


def recipient_refs(keyer: RecipientKeyer, recipients: object, most: int) -> list[str]:
    """The refs of a `recipients` list (1 to `most` phones or e-mails); 422 naming the first bad one."""
    refs = []
    items = bounded_list(recipients, most, "recipients", f"a list of 1 to {most} phone numbers or e-mails")
    for index, recipient in enumerate(items):
        try:
            refs.append(keyer.ref(recipient))
        except InvalidRecipient as exc:
            raise ApiError(422, f"recipients[{index}]: {exc}") from None
    return refs


class LinksApi:
    def __init__(self, settings: Settings, store: LinkStore) -> None:
        self._settings = settings
        self._store = store
        self._keyer = RecipientKeyer(settings.secret)
        self._rules = link_rules(settings)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/links", self.create, methods=["POST"]),
            Route("/v1/links", self.list, methods=["GET"]),
            Route("/v1/links/batch", self.create_batch, methods=["POST"]),
            Route("/v1/links/{code}", self.read, methods=["GET"]),
            Route("/v1/links/{code}", self.patch, methods=["PATCH"]),
            Route("/v1/links/{code}", self.delete, methods=["DELETE"]),
            Route("/v1/links/{code}/qr", self.qr, methods=["GET"]),
        ]

    def to_api(self, link: Link) -> dict[str, Any]:
        return link.to_api(self._settings.short_base_for(link.domain))

    async def create(self, request: Request) -> Response:
        body = await read_json(request, MAX_LINK_BODY)
        now = datetime.now(UTC)
        try:
            draft = LinkDraft.from_json(body, self._rules, self._keyer.ref, now)
            link = await self._store.create(draft, now)
        except (InvalidLink, CodeRefused) as exc:
            raise ApiError(422, str(exc)) from None
        except CodeTaken as exc:
            raise ApiError(409, str(exc)) from None
        return json_response(self.to_api(link), 201)

    async def create_batch(self, request: Request) -> Response:
        body = await read_json(request, MAX_BATCH_BODY)
        if not isinstance(body, dict) or set(body) - {"template", "recipients"}:
            raise ApiError(422, "body: expected {\"template\": {...}, \"recipients\": [...]}")
        now = datetime.now(UTC)
        try:
            template = LinkDraft.from_json(body.get("template"), self._rules, now=now, allow_recipient=False)
        except InvalidLink as exc:
            raise ApiError(422, f"template.{exc}") from None
        refs = recipient_refs(self._keyer, body.get("recipients"), MAX_BATCH)
        links = await self._store.create_many([template.for_recipient(ref) for ref in refs], now)
        base = self._settings.short_base_for(template.domain)
        return json_response(
            {"links": [{"recipient_ref": ln.recipient_ref, "code": ln.code, "short_url": f"{base}/{ln.code}"}
                       for ln in links]},
            201,
        )

    async def list(self, request: Request) -> Response:
        params = request.query_params
        unknown = set(params) - set(LIST_PARAMETERS)
        if unknown:
            raise ApiError(400, f"{sorted(unknown)[0][:40]}: unknown parameter (known: {', '.join(LIST_PARAMETERS)})")
        limit_text = params.get("limit", str(DEFAULT_PAGE))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
            raise ApiError(400, f"limit: expected a whole number from 1 to {MAX_PAGE}")
        where = LinkFilter(
            campaign=_label_param(params, "campaign"),
            message=params.get("message", "").strip(),
            tag=_label_param(params, "tag"),
            domain=self._domain_param(params, unknown_status=400) or "",
            q=params.get("q", "").strip()[:200],
        )
        try:
            links, cursor = await self._store.page(where, int(limit_text), params.get("cursor", ""))
        except InvalidCursor as exc:
            raise ApiError(400, str(exc)) from None
        return json_response({"links": [self.to_api(link) for link in links], "next_cursor": cursor})

    async def read(self, request: Request) -> Response:
        return json_response(self.to_api(await self._load(request)))

    async def patch(self, request: Request) -> Response:
        link = await self._load(request)
        body = await read_json(request, MAX_LINK_BODY)
        try:
            changed = link.patched(body, self._rules)
        except InvalidLink as exc:
            raise ApiError(422, str(exc)) from None
        await self._store.save_change(changed)
        return json_response(self.to_api(changed))

    async def delete(self, request: Request) -> Response:
        await self._store.delete(await self._load(request))
        return Response(status_code=204)

    async def qr(self, request: Request) -> Response:
        link = await self._load(request)
        kind = request.query_params.get("format", "svg")
        if kind not in QR_FORMATS:
            raise ApiError(400, f"format: expected svg or png, got {kind[:20]!r}")
        return Response(qr_code(self.to_api(link)["short_url"], kind), media_type=QR_FORMATS[kind],
                        headers={"cache-control": "private, max-age=3600"})

    async def _load(self, request: Request) -> Link:
        code = request.path_params["code"]
        domain = self._domain_param(request.query_params)
        link = None
        if is_well_formed(code):
            link = await self._store.find(code, (domain,) if domain else self._settings.domains)
        if link is None:
            raise ApiError(404, f"no link with code {code[:64]!r}" + (f" on {domain}" if domain else ""))
        return link

    def _domain_param(self, params: Any, unknown_status: int = 404) -> str | None:
        if "domain" not in params:
            return None
        try:
            domain = short_host(params["domain"])
        except ValueError as exc:
            raise ApiError(400, f"domain: {exc}") from None
        if domain not in self._settings.domains:
            raise ApiError(unknown_status, f"domain: {domain!r} is not one of the short domains")
        return domain


def _label_param(params: Any, name: str) -> str:
    value = params.get(name, "")
    try:
        return normalise_utm_value(value) if value.strip() else ""
    except InvalidUtm as exc:
        raise ApiError(400, f"{name}: {exc}") from None
