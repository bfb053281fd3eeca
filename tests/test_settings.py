import subprocess
import sys

import pytest

from tracker.settings import Settings, SettingsError, parse_window


def test_defaults_match_the_spec():
    settings = Settings.from_env({})
    assert settings.clickhouse_url == "chdb://./data/clickhouse"
    assert settings.click_param == "sclid"
    assert settings.cookie_domain == ""
    assert settings.attribution_window == 7 * 86400
    assert settings.durability == "ack"
    assert settings.allowed_hosts == ()


def test_per_channel_windows_override_the_default():
    settings = Settings.from_env({"TRACKER_ATTRIBUTION_WINDOW": "3d", "TRACKER_ATTRIBUTION_WINDOW_SMS": "1d",
                                  "TRACKER_ATTRIBUTION_WINDOW_WHATSAPP": "36h"})
    assert settings.window_for("sms") == 86400
    assert settings.window_for("SMS") == 86400
    assert settings.window_for("whatsapp") == 36 * 3600
    assert settings.window_for("email") == 3 * 86400


def test_view_through_is_off_by_default_and_on_per_channel_or_for_all():
    assert Settings.from_env({}).view_window == 0
    settings = Settings.from_env({"TRACKER_VIEW_WINDOW_SMS": "24h", "TRACKER_VIEW_WINDOW_EMAIL": "0"})
    assert (settings.view_window_for("SMS"), settings.view_window_for("email"), settings.view_window_for("push")) == (
        86400, 0, 0)
    everywhere = Settings.from_env({"TRACKER_VIEW_WINDOW": "12h", "TRACKER_VIEW_WINDOW_WHATSAPP": "0h"})
    assert (everywhere.view_window_for("sms"), everywhere.view_window_for("whatsapp")) == (43200, 0)


def test_the_provider_secrets_are_read_and_the_telnyx_key_checked():
    key = "MCowBQYDK2VwAyEA" + "A" * 28  # 44 characters of base64, 33 bytes: not a raw key
    assert Settings.from_env({}).twilio_auth_token == ""
    settings = Settings.from_env({"TRACKER_TWILIO_AUTH_TOKEN": " tok ",
                                  "TRACKER_TELNYX_PUBLIC_KEY": "A" * 43 + "="})
    assert (settings.twilio_auth_token, settings.telnyx_public_key) == ("tok", "A" * 43 + "=")
    with pytest.raises(SettingsError, match="^TRACKER_TELNYX_PUBLIC_KEY: "):
        Settings.from_env({"TRACKER_TELNYX_PUBLIC_KEY": key})


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800)])
def test_windows_parse_with_units(text, seconds):
    assert parse_window(text) == seconds


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACKER_DURABILITY", "sometimes"),
        ("TRACKER_PIXEL_SIGNING", "maybe"),
        ("TRACKER_ATTRIBUTION_WINDOW", "7 weeks"),
        ("TRACKER_ATTRIBUTION_WINDOW_SMS", "0d"),
        ("TRACKER_REDIS_URL", "http://localhost:6379"),
        ("TRACKER_CLICKHOUSE_URL", "mysql://x"),
        ("TRACKER_SECRET", "short"),
        ("TRACKER_API_KEYS", "abc"),
        ("TRACKER_SHORT_BASE", "go.shop.example"),
        ("TRACKER_CLICK_PARAM", "s clid"),
        ("TRACKER_COOKIE_DOMAIN", "bad domain;"),
        ("TRACKER_EVENT_STREAMS", "0"),
        ("TRACKER_RETENTION_DAYS", "-1"),
        ("TRACKER_SHORT_DOMAINS", "https://go.brand.example"),
        ("TRACKER_SHORT_DOMAINS", "go.brand.example:8080"),
        ("TRACKER_SHORT_DOMAINS", "go.brand.example/x"),
        ("TRACKER_SHORT_DOMAINS", "bad host"),
        ("TRACKER_ADMIN_URL", "127.0.0.1:8081"),
        ("TRACKER_VIEW_WINDOW", "a day"),
        ("TRACKER_VIEW_WINDOW_SMS", "-1h"),
        ("TRACKER_TELNYX_PUBLIC_KEY", "not base64!"),
        ("TRACKER_TELNYX_PUBLIC_KEY", "c2hvcnQ="),  # base64, but 5 bytes
    ],
)
def test_a_bad_value_names_its_variable(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert str(error.value).startswith(f"{name}: ")
    assert "\n" not in str(error.value)


def test_the_cli_stops_at_start_with_one_line_naming_the_variable():
    result = subprocess.run([sys.executable, "-m", "tracker.cli", "edge"], capture_output=True, text=True,
                            env={"TRACKER_DURABILITY": "sometimes", "PATH": ""}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["tracker: TRACKER_DURABILITY: expected ack or fast, got 'sometimes'"]


def test_required_variables_are_named_when_missing():
    with pytest.raises(SettingsError, match="^TRACKER_REDIS_URL: required"):
        Settings.from_env({}).require("TRACKER_REDIS_URL")


def test_short_domains_are_lower_case_punycode_and_the_default_comes_first():
    settings = Settings.from_env({
        "TRACKER_SHORT_BASE": "https://Go.Shop.example",
        "TRACKER_SHORT_DOMAINS": " Go.Brand.example, faß.example,,go.shop.example, go.brand.example",
    })
    assert settings.default_domain == "go.shop.example"
    assert settings.short_domains == ("go.brand.example", "xn--fa-hia.example", "go.shop.example")
    assert settings.domains == ("go.shop.example", "go.brand.example", "xn--fa-hia.example")


def test_a_short_url_of_another_domain_keeps_the_short_base_scheme_and_port():
    settings = Settings.from_env({"TRACKER_SHORT_BASE": "https://go.shop.example",
                                  "TRACKER_SHORT_DOMAINS": "b.example"})
    assert settings.short_base_for("go.shop.example") == "https://go.shop.example"
    assert settings.short_base_for("b.example") == "https://b.example"
    local = Settings.from_env({"TRACKER_SHORT_BASE": "http://127.0.0.1:8080", "TRACKER_SHORT_DOMAINS": "localhost"})
    assert local.default_domain == "127.0.0.1"
    assert local.short_base_for("localhost") == "http://localhost:8080"


def test_the_command_line_clients_read_the_admin_url_and_key():
    assert (Settings.from_env({}).admin_url, Settings.from_env({}).api_key) == ("http://127.0.0.1:8081", "")
    settings = Settings.from_env({"TRACKER_ADMIN_URL": "https://admin.internal:9000/", "TRACKER_API_KEY": "k" * 20})
    assert (settings.admin_url, settings.api_key) == ("https://admin.internal:9000", "k" * 20)
