"""The browser tests share one headless Chromium per module (tests.support.browser)."""

from tests.support.browser import browser  # noqa: F401 - a fixture
