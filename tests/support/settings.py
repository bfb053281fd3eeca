"""The settings every test starts from: a fixed secret and API key, a short base on a real-looking domain."""

from __future__ import annotations

import tempfile

from tracker.settings import Settings

SECRET = "test-secret-0123456789abcdef"
API_KEY = "test-api-key-0123456789"
# Every hook's secret: the edge routes a hook only while its secret is set.
HOOK_SECRETS = {
    "TRACKER_SHOPIFY_SECRET": "test-shopify-secret-0123456789",
    "TRACKER_WOOCOMMERCE_SECRET": "test-woocommerce-secret-0123456789",
}


def make_settings(redis_url: str = "", **env: str) -> Settings:
    base = {
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_SECRET": SECRET,
        "TRACKER_API_KEYS": API_KEY,
        "TRACKER_SHORT_BASE": "https://go.shop.example",
        "TRACKER_SPILL_DIR": tempfile.mkdtemp(prefix="tracker-spill-"),  # never the checkout's ./data
    }
    return Settings.from_env({**base, **env})
