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
