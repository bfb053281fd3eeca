from decimal import Decimal

import pytest

from tracker.stores.payload import (
    Unused,
    attribute,
    click_id_in_url,
    decode_json,
    identifier,
    money,
    timestamp_ms,
)


def test_order_ids_above_2_to_the_53_are_read_exactly() -> None:
    assert decode_json(b'{"id":820982911946154508}') == {"id": 820982911946154508}
    assert identifier(decode_json(b'{"id":820982911946154509}')["id"]) == "820982911946154509"  # type: ignore[index]


def test_integers_beyond_64_bits_are_read_exactly_too() -> None:
    # orjson would turn this one into a float; the body is read again, exactly.
    payload = decode_json(b'{"id":18446744073709551617,"subtotal":199.0}')
    assert payload == {"id": 18446744073709551617, "subtotal": Decimal("199.0")}


@pytest.mark.parametrize("body", [b"", b"{", b"webhook_id=1", b"NaN", b'{"a":Infinity}', b"[" * 5000, b"\xff"])
def test_what_is_not_json_is_unused_not_an_error(body: bytes) -> None:
    with pytest.raises(Unused) as caught:
        decode_json(body)
    assert caught.value.reason == "not_json"


def test_identifiers_accept_integers_and_digit_strings_only() -> None:
    assert identifier(727) == "727"
    assert identifier(" 727 ") == "727"
    for bad in (True, -1, 1.5, Decimal("1.5"), "12a", "", None, {}, 10**40):
        assert identifier(bad) == ""


def test_money_is_exact_from_strings_and_numbers() -> None:
    assert money("403.00") == Decimal("403.00")
    assert money(199.0) == Decimal("199.0")
    assert money(0.1) == Decimal("0.1")
    assert money(Decimal("19.99")) == Decimal("19.99")
    assert money(12) == Decimal(12)
    for bad in (None, True, "1,5", "", "1e3", float("nan"), float("inf"), Decimal("NaN"), [], "x" * 300):
        assert money(bad) is None


def test_timestamps_with_offsets_and_naive_gmt() -> None:
    assert timestamp_ms("2021-12-31T19:00:00-05:00") == 1640995200000
    assert timestamp_ms("2022-01-01T00:00:00") == 1640995200000
    assert timestamp_ms("2022-01-01T00:00:00Z") == 1640995200000
    for bad in (None, "", "yesterday", 1640995200, "2022-13-01T00:00:00"):
        assert timestamp_ms(bad) is None


def test_click_id_from_a_landing_url_absolute_or_relative() -> None:
    assert click_id_in_url("/products/x?utm_source=sms&sclid=Ab_9-z", "sclid") == "Ab_9-z"
    assert click_id_in_url("https://shop.example/?sclid=abc#top", "sclid") == "abc"
    assert click_id_in_url("/?sclid=bad id!", "sclid") == ""
    assert click_id_in_url("http://[::1/?sclid=abc", "sclid") == ""
    assert click_id_in_url(None, "sclid") == ""


def test_attribute_lists_are_read_defensively() -> None:
    pairs = [{"name": "gift", "value": "no"}, "junk", {"name": "sclid", "value": "abc"}]
    assert attribute(pairs, ("sclid",)) == "abc"
    assert attribute({"name": "sclid"}, ("sclid",)) is None
    assert attribute([{"key": "_sclid", "value": "x"}], ("sclid", "_sclid"), key="key") == "x"


def test_money_of_absurd_magnitude_is_refused_so_sums_cannot_overflow() -> None:
    for bad in (Decimal("1e999999999"), Decimal("1e-50"), 10**30, "1" * 70, Decimal("Infinity")):
        assert money(bad) is None
    assert money(Decimal("0E-999999")) == 0


def test_deep_nesting_with_a_float_is_read_or_unused_never_a_crash() -> None:
    body = b"[1.5," + b"[" * 1000 + b"]" * 1000 + b"]"
    try:
        decoded = decode_json(body)
    except Unused as exc:
        assert exc.reason == "not_json"
    else:
        assert isinstance(decoded, list) and decoded[0] == Decimal("1.5")
