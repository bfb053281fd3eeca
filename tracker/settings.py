"""One frozen settings object, read from the environment once and validated at start.

Every variable and its default is in `VARIABLES`; nothing else in the code reads the
environment. A bad value raises `SettingsError` whose message names the variable, and the
CLI prints that one line and exits.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from ada_url import URL

from shortlinks.destination import is_ip_address, short_host

Durability = Literal["ack", "fast"]
PixelSigning = Literal["off", "optional", "required"]

# name -> (default, meaning). The README's configuration table is generated from the same words.
VARIABLES: dict[str, tuple[str, str]] = {
    "TRACKER_REDIS_URL": ("", "Redis / Valkey URL; redis+cluster://host:port for Redis Cluster. "
                          "Unset: `tracker dev` starts an embedded redis-server."),
    "TRACKER_CLICKHOUSE_URL": ("chdb://./data/clickhouse", "ClickHouse: chdb://PATH (embedded) or "
                               "http(s)://user:pass@host:8123/db"),
    "TRACKER_SECRET": ("", "salts short codes and keys every HMAC (recipient_ref, ip_ref, pixel sig)"),
    "TRACKER_API_KEYS": ("", "comma-separated bearer keys for the admin API"),
    "TRACKER_SHORT_BASE": ("http://127.0.0.1:8080", "public base of short URLs, e.g. https://go.shop.example; "
                           "its host is the default short domain"),
    "TRACKER_SHORT_DOMAINS": ("", "comma-separated extra short-link hosts (branded domains) the edge answers for; "
                              "a link belongs to one of them or to the host of TRACKER_SHORT_BASE"),
    "TRACKER_CLICK_PARAM": ("sclid", "query parameter and cookie name of the click id"),
    "TRACKER_COOKIE_DOMAIN": ("", "Domain= of the click cookie; empty: host-only cookie"),
    "TRACKER_ATTRIBUTION_WINDOW": ("7d", "default attribution window and cookie lifetime; "
                                   "TRACKER_ATTRIBUTION_WINDOW_<CHANNEL> per channel"),
    "TRACKER_ALLOWED_HOSTS": ("", "comma-separated destination host allow-list (a leading '.' allows "
                              "subdomains); empty allows any http/https host"),
    "TRACKER_DURABILITY": ("ack", "ack: 302 only after the click is in the Redis stream; fast: buffered"),
    "TRACKER_PIXEL_SIGNING": ("optional", "off | optional | required: the pixel's `sig` parameter"),
    "TRACKER_EVENT_STREAMS": ("1", "number of Redis streams the events are sharded over"),
    "TRACKER_RETENTION_DAYS": ("0", "ClickHouse TTL of events in days; 0 keeps them forever"),
    "TRACKER_ADMIN_URL": ("http://127.0.0.1:8081", "where the command-line clients (`tracker links`, "
                          "`tracker conversions`, `tracker report`) find the admin API"),
    "TRACKER_API_KEY": ("", "the bearer key the command-line clients send (one of TRACKER_API_KEYS)"),
    "TRACKER_SHOPIFY_SECRET": ("", "the secret Shopify signs order webhooks with (the app's client secret, or "
                               "the one Settings > Notifications > Webhooks shows); unset: /hooks/shopify is 404"),
    "TRACKER_WOOCOMMERCE_SECRET": ("", "the Secret of the WooCommerce webhooks (WooCommerce > Settings > Advanced > "
                                   "Webhooks); unset: /hooks/woocommerce is 404"),
    "TRACKER_VIEW_WINDOW": ("0", "view-through window: a purchase with no eligible click is credited to the "
                            "buyer's last delivered message within it; 0 turns it off; "
                            "TRACKER_VIEW_WINDOW_<CHANNEL> per channel (TRACKER_VIEW_WINDOW_SMS=24h)"),
    "TRACKER_TWILIO_AUTH_TOKEN": ("", "Twilio auth token: verifies POST /hooks/twilio (unset: the hook answers 404)"),
    "TRACKER_TELNYX_PUBLIC_KEY": ("", "Telnyx public key (base64, as the portal shows it): verifies POST "
                                  "/hooks/telnyx (unset: the hook answers 404)"),
    "TRACKER_START_TIMEOUT": ("15s", "how long a starting process retries a Redis or ClickHouse that does not "
                              "answer before it stops with one line naming it"),
    "TRACKER_SPILL_DIR": ("./data/spill", "folder of the edge's spill log: clicks answered while Redis is "
                          "unreachable, fsync'd here and replayed into the stream once it is back"),
    "TRACKER_SPILL_MAX_MB": ("1024", "size bound of each edge worker's spill log in MiB; past it, ack-mode taps "
                             "get a 503 (counted in tracker_events_refused_total)"),
}

_WINDOW_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CHANNEL_WINDOW_PREFIX = "TRACKER_ATTRIBUTION_WINDOW_"
_CHANNEL_VIEW_WINDOW_PREFIX = "TRACKER_VIEW_WINDOW_"


class SettingsError(ValueError):
    """A variable has a value we cannot use; the message names it."""


def parse_window(text: str) -> int:
    """'90s', '30m', '24h', '7d' -> seconds. Raises ValueError on anything else."""
    match = _WINDOW_RE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"expected a number and a unit s, m, h or d (like 7d), got {text!r}")
    return int(match.group(1)) * _WINDOW_UNITS[match.group(2)]


def parse_view_window(text: str) -> int:
    """As `parse_window`, and '0' (or '0h'...) turns view-through off: 0 seconds."""
    match = _WINDOW_RE.match(text)
    if text.strip() == "0" or (match and int(match.group(1)) == 0):
        return 0
    try:
        return parse_window(text)
    except ValueError:
        raise ValueError(f"expected 0 (off) or a number and a unit s, m, h or d (like 24h), got {text!r}") from None


def _per_channel(env: Mapping[str, str], prefix: str, parse: Callable[[str], int]) -> dict[str, int]:
    """`<prefix><CHANNEL>=value` variables -> {channel (lower-case): seconds}; the error names the variable."""
    windows: dict[str, int] = {}
    for name, value in env.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            try:
                windows[name[len(prefix):].lower()] = parse(value)
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from None
    return windows


def allowed_host(entry: str) -> str:
    """One entry of TRACKER_ALLOWED_HOSTS as destinations are compared with it: the host as the URL standard
    (ada-url, the parser of the destinations) writes it, lower-case, internationalised names in punycode, IP
    addresses normalised; a leading '.' also allows its subdomains. Raises ValueError saying what is wrong."""
    text = entry.strip()
    subdomains = text.startswith(".")
    host = text[1:] if subdomains else text
    hint = f"{text!r} is not a host name (write shop.example, or .shop.example to allow its subdomains too)"
    literal_ipv6 = host.startswith("[") and host.endswith("]")
    if not host or any(ch in host for ch in "/@?#\\*\t ") or (":" in host and not literal_ipv6):
        raise ValueError(hint)
    try:
        parsed = URL(f"http://{host}/").hostname
    except ValueError:
        raise ValueError(hint) from None
    if not parsed or (subdomains and is_ip_address(parsed)):
        raise ValueError(hint)
    return ("." if subdomains else "") + parsed


@dataclass(frozen=True)
class Settings:
    redis_url: str = ""
    clickhouse_url: str = "chdb://./data/clickhouse"
    secret: str = ""
    api_keys: tuple[str, ...] = ()
    short_base: str = "http://127.0.0.1:8080"
    click_param: str = "sclid"
    cookie_domain: str = ""
    attribution_window: int = 7 * 86400
    channel_windows: Mapping[str, int] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    durability: Durability = "ack"
    pixel_signing: PixelSigning = "optional"
    event_streams: int = 1
    retention_days: int = 0
    spill_dir: str = "./data/spill"
    spill_max_mb: int = 1024
    short_domains: tuple[str, ...] = ()
    admin_url: str = "http://127.0.0.1:8081"
    api_key: str = ""

    @property
    def default_domain(self) -> str:
        """The host of TRACKER_SHORT_BASE: the short domain of a link that names none."""
        return short_host(urlsplit(self.short_base).hostname or "")

    @property
    def domains(self) -> tuple[str, ...]:
        """Every short domain, the default first."""
        return (self.default_domain, *(d for d in self.short_domains if d != self.default_domain))

    def short_base_for(self, domain: str) -> str:
        """The short base of a domain: TRACKER_SHORT_BASE with the domain as its host (scheme, port, path kept)."""
        if not domain or domain == self.default_domain:
            return self.short_base
        base = urlsplit(self.short_base)
        port = f":{base.port}" if base.port else ""
        return f"{base.scheme}://{domain}{port}{base.path}"
    shopify_secret: str = ""
    woocommerce_secret: str = ""
    view_window: int = 0
    channel_view_windows: Mapping[str, int] = field(default_factory=dict)
    twilio_auth_token: str = ""
    telnyx_public_key: str = ""
    start_timeout: int = 15
    # The variables whose value came from the environment rather than VARIABLES' default: `tracker dev` moves
    # what is left at its default (ClickHouse, say) under its --data folder.
    explicit: frozenset[str] = frozenset()

    def window_for(self, channel: str) -> int:
        """Attribution window (seconds) of a channel: its own if configured, else the default."""
        return self.channel_windows.get(channel.lower(), self.attribution_window)

    def view_window_for(self, channel: str) -> int:
        """View-through window (seconds) of a channel: its own if configured, else the default; 0 is off."""
        return self.channel_view_windows.get(channel.lower(), self.view_window)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, VARIABLES[name][0]).strip()

        def fail(name: str, why: str) -> SettingsError:
            return SettingsError(f"{name}: {why}")

        redis_url = get("TRACKER_REDIS_URL")
        if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix", "redis+cluster"):
            expected = "redis://, rediss://, unix:// or redis+cluster://"
            raise fail("TRACKER_REDIS_URL", f"expected {expected}, got {redis_url!r}")

        clickhouse_url = get("TRACKER_CLICKHOUSE_URL")
        scheme = urlsplit(clickhouse_url).scheme
        if scheme not in ("chdb", "http", "https") or (scheme != "chdb" and not urlsplit(clickhouse_url).hostname):
            expected = "chdb://PATH or http(s)://host:port/db"
            raise fail("TRACKER_CLICKHOUSE_URL", f"expected {expected}, got {clickhouse_url!r}")

        secret = get("TRACKER_SECRET")
        if secret and len(secret) < 16:
            raise fail("TRACKER_SECRET", "must be at least 16 characters")

        api_keys = tuple(k.strip() for k in get("TRACKER_API_KEYS").split(",") if k.strip())
        if any(len(k) < 16 for k in api_keys):
            raise fail("TRACKER_API_KEYS", "every key must be at least 16 characters")

        short_base = get("TRACKER_SHORT_BASE").rstrip("/")
        base = urlsplit(short_base)
        if base.scheme not in ("http", "https") or not base.hostname or base.query or base.fragment:
            raise fail("TRACKER_SHORT_BASE", f"expected http(s)://host[:port][/path], got {short_base!r}")

        short_domains: list[str] = []
        for value in get("TRACKER_SHORT_DOMAINS").split(","):
            if value.strip():
                try:
                    short_domains.append(short_host(value))
                except ValueError as exc:
                    raise fail("TRACKER_SHORT_DOMAINS", str(exc)) from None

        admin_url = get("TRACKER_ADMIN_URL").rstrip("/")
        if urlsplit(admin_url).scheme not in ("http", "https") or not urlsplit(admin_url).hostname:
            raise fail("TRACKER_ADMIN_URL", f"expected http(s)://host:port, got {admin_url!r}")

        click_param = get("TRACKER_CLICK_PARAM")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", click_param):
            raise fail("TRACKER_CLICK_PARAM", "must be a letter then up to 31 letters, digits or '_'")

        cookie_domain = get("TRACKER_COOKIE_DOMAIN")
        if cookie_domain and not re.fullmatch(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", cookie_domain):
            raise fail("TRACKER_COOKIE_DOMAIN", f"not a domain name: {cookie_domain!r}")

        try:
            window = parse_window(get("TRACKER_ATTRIBUTION_WINDOW"))
        except ValueError as exc:
            raise fail("TRACKER_ATTRIBUTION_WINDOW", str(exc)) from None
        channel_windows = _per_channel(env, _CHANNEL_WINDOW_PREFIX, parse_window)

        try:
            view_window = parse_view_window(get("TRACKER_VIEW_WINDOW"))
        except ValueError as exc:
            raise fail("TRACKER_VIEW_WINDOW", str(exc)) from None
        channel_view_windows = _per_channel(env, _CHANNEL_VIEW_WINDOW_PREFIX, parse_view_window)

        telnyx_public_key = get("TRACKER_TELNYX_PUBLIC_KEY")
        if telnyx_public_key and not _is_ed25519_public_key(telnyx_public_key):
            raise fail("TRACKER_TELNYX_PUBLIC_KEY", "expected the base64 public key the Telnyx portal shows "
                       "(32 bytes of Ed25519 key)")

        try:
            allowed_hosts = tuple(allowed_host(h) for h in get("TRACKER_ALLOWED_HOSTS").split(",") if h.strip())
        except ValueError as exc:
            raise fail("TRACKER_ALLOWED_HOSTS", str(exc)) from None

        durability = get("TRACKER_DURABILITY").lower()
        if durability not in ("ack", "fast"):
            raise fail("TRACKER_DURABILITY", f"expected ack or fast, got {durability!r}")

        signing = get("TRACKER_PIXEL_SIGNING").lower()
        if signing not in ("off", "optional", "required"):
            raise fail("TRACKER_PIXEL_SIGNING", f"expected off, optional or required, got {signing!r}")

        streams = get("TRACKER_EVENT_STREAMS")
        if not streams.isdigit() or not 1 <= int(streams) <= 1024:
            raise fail("TRACKER_EVENT_STREAMS", f"expected a whole number from 1 to 1024, got {streams!r}")

        retention = get("TRACKER_RETENTION_DAYS")
        if not retention.isdigit():
            raise fail("TRACKER_RETENTION_DAYS", f"expected a whole number of days (0 = keep), got {retention!r}")

        # A store's secret is what stands between the public hook and our revenue figures: a guessable one is refused.
        hook_secrets = {name: get(name) for name in ("TRACKER_SHOPIFY_SECRET", "TRACKER_WOOCOMMERCE_SECRET")}
        for name, value in hook_secrets.items():
            if value and len(value) < 16:
                raise fail(name, "must be at least 16 characters (the platforms generate longer ones)")
        try:
            start_timeout = parse_window(get("TRACKER_START_TIMEOUT"))
        except ValueError as exc:
            raise fail("TRACKER_START_TIMEOUT", str(exc)) from None
        spill_dir = get("TRACKER_SPILL_DIR")
        if not spill_dir:
            raise fail("TRACKER_SPILL_DIR", "must name a folder")
        spill_max = get("TRACKER_SPILL_MAX_MB")
        if not spill_max.isdigit() or int(spill_max) < 1:
            raise fail("TRACKER_SPILL_MAX_MB", f"expected a whole number of MiB, at least 1, got {spill_max!r}")

        settings = cls(
            redis_url=redis_url,
            clickhouse_url=clickhouse_url,
            secret=secret,
            api_keys=api_keys,
            short_base=short_base,
            click_param=click_param,
            cookie_domain=cookie_domain,
            attribution_window=window,
            channel_windows=channel_windows,
            allowed_hosts=allowed_hosts,
            durability=durability,  # type: ignore[arg-type]
            pixel_signing=signing,  # type: ignore[arg-type]
            event_streams=int(streams),
            retention_days=int(retention),
            short_domains=tuple(dict.fromkeys(short_domains)),
            admin_url=admin_url,
            api_key=get("TRACKER_API_KEY"),
            shopify_secret=hook_secrets["TRACKER_SHOPIFY_SECRET"],
            woocommerce_secret=hook_secrets["TRACKER_WOOCOMMERCE_SECRET"],
            view_window=view_window,
            channel_view_windows=channel_view_windows,
            twilio_auth_token=get("TRACKER_TWILIO_AUTH_TOKEN"),
            telnyx_public_key=telnyx_public_key,
            start_timeout=start_timeout,
            explicit=frozenset(name for name in VARIABLES if env.get(name, "").strip()),
            spill_dir=spill_dir,
            spill_max_mb=int(spill_max),
        )
        if overrides:
            from dataclasses import replace

            settings = replace(settings, **overrides)  # type: ignore[arg-type]
        return settings

    def require(self, *names: str) -> None:
        """Fail with the variable's name when a process needs a value that is unset."""
        for name in names:
            attr = name.removeprefix("TRACKER_").lower()
            if not getattr(self, attr):
                raise SettingsError(f"{name}: required by this command but not set")


def _is_ed25519_public_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False
