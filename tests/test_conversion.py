"""Unit tests of `tracker.conversion`: validation at the API and pixel doors, signing, and the stream event."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import orjson
import pytest

from shortlinks.recipient import RecipientKeyer
from tracker.conversion import (
    CONVERSION_TYPES,
    MAX_PIXEL_PARAMS,
    SOURCES,
    Conversion,
    InvalidConversion,
    conversion_fingerprint,
    conversion_identity,
    pixel_signature,
)
from tracker.stores.payload import StoreConversion

SECRET = "test-secret"
KEYER = RecipientKeyer(SECRET)
NOW_MS = 1_750_000_000_000  # 2025-06-15T15:06:40Z
PHONE = "+44 20 7946 0958"
EMAIL = "Jane.Doe@Example.com"


def api(**fields: object) -> Conversion:
    return Conversion.from_api(fields, KEYER, NOW_MS)


def api_reason(obj: object) -> InvalidConversion:
    with pytest.raises(InvalidConversion) as info:
        Conversion.from_api(obj, KEYER, NOW_MS)
    return info.value


def pixel(params: dict[str, str], cookie: str = "", signing: str = "off") -> Conversion:
    return Conversion.from_pixel(params, cookie, click_param="sclid", secret=SECRET, signing=signing, now_ms=NOW_MS)


def pixel_reason(params: dict[str, str], cookie: str = "", signing: str = "off") -> InvalidConversion:
    with pytest.raises(InvalidConversion) as info:
        pixel(params, cookie, signing)
    return info.value


def signed(**params: str) -> dict[str, str]:
    sig = pixel_signature(SECRET, params.get("order_id", ""), params.get("value", ""), params.get("currency", ""),
                          params.get("type", ""))
    return {**params, "sig": sig}


# --- admin API ---------------------------------------------------------------------------------------------------


def test_api_accepts_a_full_object_and_marks_it_verified() -> None:
    conversion = api(order_id="A-1001", type="purchase", value="19.99", currency="EUR", click_id="abc_DEF-123",
                     recipient=PHONE, occurred_at="2025-06-15T12:00:00Z")
    assert conversion.order_id == "A-1001"
    assert conversion.type == "purchase"
    assert conversion.value == Decimal("19.99")
    assert conversion.currency == "EUR"
    assert conversion.click_id == "abc_DEF-123"
    assert conversion.recipient_ref == KEYER.ref(PHONE)
    assert conversion.ts_ms == 1_749_988_800_000
    assert (conversion.source, conversion.verified) == ("api", True)


def test_api_string_value_is_kept_exactly() -> None:
    assert str(api(order_id="1", value="0.1", currency="USD").value) == "0.1"


def test_api_int_value_is_accepted() -> None:
    assert api(order_id="1", value=42, currency="USD").value == Decimal(42)


def test_api_float_value_never_carries_binary_noise() -> None:
    conversion = api(order_id="1", value=19.99, currency="USD")
    assert conversion.value == Decimal("19.99")
    assert str(conversion.value) == "19.99"
    assert api(order_id="1", value=0.1, currency="USD").value == Decimal("0.1")


def test_api_trailing_zeros_beyond_four_places_are_accepted() -> None:
    assert api(order_id="1", value="19.990000", currency="USD").value == Decimal("19.99")


def test_api_integer_order_id_becomes_a_string() -> None:
    assert api(order_id=1001, value="5", currency="USD").order_id == "1001"


def test_api_order_id_is_trimmed_so_duplicates_match() -> None:
    assert api(order_id="  1001 ", value="5", currency="USD").order_id == "1001"


def test_api_type_defaults_to_purchase() -> None:
    assert api(order_id="1", value="5", currency="USD").type == "purchase"


@pytest.mark.parametrize("type_", ["add_to_cart", "checkout", "signup", "lead"])
def test_api_value_defaults_to_zero_without_currency_for_non_sales(type_: str) -> None:
    conversion = api(order_id="1", type=type_)
    assert (conversion.value, conversion.currency) == (Decimal(0), "")


def test_api_null_and_empty_optionals_count_as_absent() -> None:
    conversion = api(order_id="1", type="lead", value=None, currency="", click_id=None, recipient="", occurred_at=None)
    assert (conversion.value, conversion.currency, conversion.click_id, conversion.recipient_ref) == (0, "", "", "")
    assert conversion.ts_ms == NOW_MS


@pytest.mark.parametrize("currency", ["usd", "Usd", " USD "])
def test_api_currency_is_case_insensitive_and_stored_upper_case(currency: str) -> None:
    assert api(order_id="1", value="5", currency=currency).currency == "USD"


def test_api_zero_value_may_still_name_a_currency() -> None:
    assert api(order_id="1", type="signup", value=0, currency="gbp").currency == "GBP"


def test_api_refund_value_is_the_positive_amount_refunded() -> None:
    conversion = api(order_id="1", type="refund", value="5.50", currency="EUR")
    assert (conversion.type, conversion.value) == ("refund", Decimal("5.50"))


def test_api_email_recipient_becomes_the_same_ref_as_on_links() -> None:
    assert api(order_id="1", type="lead", recipient=EMAIL).recipient_ref == KEYER.ref("jane.doe@example.com")


@pytest.mark.parametrize("recipient", [PHONE, EMAIL])
def test_api_raw_recipient_is_nowhere_in_the_conversion(recipient: str) -> None:
    conversion = api(order_id="1", type="lead", recipient=recipient)
    for text in (repr(conversion), str(conversion.to_event()), orjson.dumps(conversion.to_event()).decode()):
        assert recipient not in text
        assert recipient.lower() not in text
        assert "442079460958" not in text


@pytest.mark.parametrize("recipient", ["+1 555", "not-an-email@", "0207 946 0958"])
def test_api_bad_recipient_is_refused_without_echoing_it(recipient: str) -> None:
    error = api_reason({"order_id": "1", "type": "lead", "recipient": recipient})
    assert error.reason == "bad_recipient"
    assert "recipient" in str(error)
    assert recipient not in str(error)
    assert recipient not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__


@pytest.mark.parametrize(
    ("occurred_at", "ts_ms"),
    [
        ("2025-06-15T12:00:00Z", 1_749_988_800_000),
        ("2025-06-15T14:00:00+02:00", 1_749_988_800_000),
        ("2025-06-15T12:00:00", 1_749_988_800_000),  # naive means UTC
        ("2025-06-15T12:00:00.250Z", 1_749_988_800_250),
        (1_749_988_800, 1_749_988_800_000),
        (1_749_988_800.25, 1_749_988_800_250),
        (NOW_MS // 1000 + 240, NOW_MS + 240_000),  # small clock drift is tolerated
    ],
)
def test_api_occurred_at_accepts_iso_8601_and_epoch_seconds(occurred_at: object, ts_ms: int) -> None:
    assert api(order_id="1", type="lead", occurred_at=occurred_at).ts_ms == ts_ms


def test_api_occurred_at_defaults_to_now() -> None:
    assert api(order_id="1", type="lead").ts_ms == NOW_MS


# --- rejections: every reason at least once -----------------------------------------------------------------------

VALID: dict[str, object] = {"order_id": "1", "value": "5", "currency": "USD"}


@pytest.mark.parametrize(
    ("obj", "reason", "field"),
    [
        (["order_id", "1"], "not_an_object", "object"),
        ("1001", "not_an_object", "object"),
        ({**VALID, "amount": "5"}, "unknown_field", "amount"),
        ({"value": "5", "currency": "USD"}, "missing_order_id", "order_id"),
        ({**VALID, "order_id": ""}, "missing_order_id", "order_id"),
        ({**VALID, "order_id": "  "}, "missing_order_id", "order_id"),
        ({**VALID, "order_id": 10.5}, "bad_order_id", "order_id"),
        ({**VALID, "order_id": True}, "bad_order_id", "order_id"),
        ({**VALID, "order_id": ["1"]}, "bad_order_id", "order_id"),
        ({**VALID, "order_id": "A\n1"}, "bad_order_id", "order_id"),
        ({**VALID, "order_id": "A\x001"}, "bad_order_id", "order_id"),
        ({**VALID, "order_id": "A\u200b1"}, "bad_order_id", "order_id"),
        ({**VALID, "order_id": "x" * 129}, "field_too_long", "order_id"),
        ({**VALID, "currency": "U" * 257}, "field_too_long", "currency"),
        ({**VALID, "type": "sale"}, "bad_type", "type"),
        ({**VALID, "type": 1}, "bad_type", "type"),
        ({"order_id": "1", "currency": "USD"}, "missing_value", "value"),
        ({"order_id": "1", "type": "refund", "currency": "USD"}, "missing_value", "value"),
        ({"order_id": "1", "value": "5"}, "missing_currency", "currency"),
        ({**VALID, "currency": "ABC"}, "bad_currency", "currency"),
        ({**VALID, "currency": "US"}, "bad_currency", "currency"),
        ({**VALID, "currency": 840}, "bad_currency", "currency"),
        ({**VALID, "click_id": "has space"}, "bad_click_id", "click_id"),
        ({**VALID, "click_id": "x" * 65}, "bad_click_id", "click_id"),
        ({**VALID, "click_id": 123}, "bad_click_id", "click_id"),
        ({**VALID, "recipient": "nobody"}, "bad_recipient", "recipient"),
        ({**VALID, "occurred_at": "yesterday"}, "bad_occurred_at", "occurred_at"),
        ({**VALID, "occurred_at": "1999-12-31T23:59:59Z"}, "bad_occurred_at", "occurred_at"),
        ({**VALID, "occurred_at": NOW_MS // 1000 + 301}, "bad_occurred_at", "occurred_at"),
        ({**VALID, "occurred_at": NOW_MS}, "bad_occurred_at", "occurred_at"),  # milliseconds sent as seconds
        ({**VALID, "occurred_at": float("nan")}, "bad_occurred_at", "occurred_at"),
        ({**VALID, "occurred_at": True}, "bad_occurred_at", "occurred_at"),
        ({**VALID, "occurred_at": {"at": 1}}, "bad_occurred_at", "occurred_at"),
    ],
)
def test_api_refuses_with_a_reason_and_names_the_field(obj: object, reason: str, field: str) -> None:
    error = api_reason(obj)
    assert error.reason == reason
    assert field in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "value",
    ["NaN", "nan", "Infinity", "-Infinity", "inf", float("nan"), float("inf"), float("-inf"),
     "-1", "-0.01", -1, -0.5, "1e3", "1E3", 1e-05, "1.23456", 1.23456, "1,000.00", "$5", "0x10", "5 EUR", "１２",
     True, False, [5], {"amount": 5}, "1000000000000.01", 10**12 + 1, 1e13,
     pytest.param(10**5000, id="huge-int"), pytest.param(-(10**5000), id="huge-negative-int")],
)
def test_api_refuses_values_that_are_not_plain_non_negative_amounts(value: object) -> None:
    error = api_reason({"order_id": "1", "value": value, "currency": "USD"})
    assert error.reason == "bad_value"
    assert "value" in str(error)


@pytest.mark.parametrize("value", ["0", "0.0001", "1000000000000", 10**12, ".5", "5.", "007.50"])
def test_api_accepts_edge_of_range_values(value: object) -> None:
    assert api(order_id="1", value=value, currency="USD").value == Decimal(str(value).rstrip(".") or "0")


def test_api_negative_zero_is_stored_as_zero() -> None:
    assert format(api(order_id="1", type="lead", value=-0.0).value, "f") == "0.0"


def test_invalid_conversion_is_a_value_error_with_a_reason() -> None:
    error = InvalidConversion("bad_type", "type: expected one of ...")
    assert isinstance(error, ValueError)
    assert (error.reason, str(error)) == ("bad_type", "type: expected one of ...")


def test_api_reports_the_first_bad_field_in_documented_order() -> None:
    assert api_reason({"type": "sale", "value": "NaN"}).reason == "missing_order_id"
    assert api_reason({"order_id": "1", "type": "sale", "value": "NaN"}).reason == "bad_type"


# --- pixel -------------------------------------------------------------------------------------------------------


def test_pixel_minimal_purchase_is_unverified_when_signing_is_off() -> None:
    conversion = pixel({"order_id": "1001", "value": "19.99", "currency": "eur"})
    assert conversion == Conversion("1001", "purchase", Decimal("19.99"), "EUR", "", "", NOW_MS, "pixel", False)


def test_pixel_signing_off_ignores_any_sig() -> None:
    assert pixel({"order_id": "1", "value": "5", "currency": "USD", "sig": "garbage"}, signing="off").verified is False


def test_pixel_signing_optional_verifies_a_valid_sig() -> None:
    params = signed(order_id="1", value="19.90", currency="USD", type="purchase")
    assert pixel(params, signing="optional").verified is True


def test_pixel_signing_optional_accepts_an_unsigned_pixel_as_unverified() -> None:
    assert pixel({"order_id": "1", "value": "5", "currency": "USD"}, signing="optional").verified is False


def test_pixel_signing_optional_refuses_a_tampered_value() -> None:
    params = {**signed(order_id="1", value="19.90", currency="USD", type="purchase"), "value": "1999.00"}
    assert pixel_reason(params, signing="optional").reason == "bad_signature"


def test_pixel_signing_required_verifies_a_valid_sig() -> None:
    params = signed(order_id="1", value="5", currency="USD", type="refund")
    conversion = pixel(params, signing="required")
    assert (conversion.verified, conversion.type) == (True, "refund")


def test_pixel_signing_required_refuses_a_missing_sig() -> None:
    error = pixel_reason({"order_id": "1", "value": "5", "currency": "USD"}, signing="required")
    assert error.reason == "signature_required"
    assert "sig" in str(error)


def test_pixel_signing_required_refuses_an_empty_sig() -> None:
    error = pixel_reason({"order_id": "1", "value": "5", "currency": "USD", "sig": ""}, signing="required")
    assert error.reason == "signature_required"


@pytest.mark.parametrize("field", ["order_id", "value", "currency", "type"])
def test_pixel_signing_required_refuses_any_tampered_field(field: str) -> None:
    params = signed(order_id="1", value="5", currency="USD", type="purchase")
    params[field] = {"order_id": "2", "value": "500", "currency": "EUR", "type": "refund"}[field]
    assert pixel_reason(params, signing="required").reason == "bad_signature"


def test_pixel_signature_covers_the_strings_exactly_as_sent() -> None:
    # "19.90" was signed; "19.9" is the same amount but not what the shop signed.
    params = {**signed(order_id="1", value="19.90", currency="USD"), "value": "19.9"}
    assert pixel_reason(params, signing="required").reason == "bad_signature"


def test_pixel_signature_treats_an_absent_type_as_empty() -> None:
    params = signed(order_id="1", value="5", currency="USD")
    assert pixel(params, signing="required").type == "purchase"


def test_pixel_signature_accepts_upper_case_hex() -> None:
    params = signed(order_id="1", value="5", currency="USD")
    params["sig"] = params["sig"].upper()
    assert pixel(params, signing="required").verified is True


@pytest.mark.parametrize("sig", ["é" * 64, "00", "zz" * 32])
def test_pixel_malformed_sig_is_a_bad_signature_not_a_crash(sig: str) -> None:
    assert pixel_reason({"order_id": "1", "value": "5", "currency": "USD", "sig": sig}, signing="optional").reason \
        == "bad_signature"


def test_pixel_signature_is_hex_hmac_sha256_of_the_pipe_joined_fields() -> None:
    expected = hmac.new(b"s", b"1001|19.99|EUR|purchase", hashlib.sha256).hexdigest()
    assert pixel_signature("s", "1001", "19.99", "EUR", "purchase") == expected


def test_pixel_rejects_an_unknown_signing_mode_as_a_programming_error() -> None:
    with pytest.raises(ValueError, match="signing"):
        pixel({"order_id": "1", "type": "lead"}, signing="maybe")


def test_pixel_click_id_comes_from_the_query() -> None:
    assert pixel({"order_id": "1", "type": "lead", "sclid": "fromQuery"}).click_id == "fromQuery"


def test_pixel_click_id_in_the_query_wins_over_the_cookie() -> None:
    assert pixel({"order_id": "1", "type": "lead", "sclid": "fromQuery"}, cookie="fromCookie").click_id == "fromQuery"


@pytest.mark.parametrize("params", [{"order_id": "1", "type": "lead"}, {"order_id": "1", "type": "lead", "sclid": ""}])
def test_pixel_click_id_falls_back_to_the_cookie(params: dict[str, str]) -> None:
    assert pixel(params, cookie="fromCookie").click_id == "fromCookie"


def test_pixel_click_param_name_is_configurable() -> None:
    conversion = Conversion.from_pixel({"order_id": "1", "type": "lead", "cid": "abc", "sclid": "other"}, "",
                                       click_param="cid", secret=SECRET, signing="off", now_ms=NOW_MS)
    assert conversion.click_id == "abc"


@pytest.mark.parametrize("cookie", ["bad value", "x" * 65, "a;b", "é"])
def test_pixel_invalid_cookie_click_id_is_ignored(cookie: str) -> None:
    assert pixel({"order_id": "1", "type": "lead"}, cookie=cookie).click_id == ""


@pytest.mark.parametrize("sclid", ["bad value", "x" * 65, "a;b"])
def test_pixel_invalid_query_click_id_is_refused(sclid: str) -> None:
    error = pixel_reason({"order_id": "1", "type": "lead", "sclid": sclid}, cookie="fromCookie")
    assert error.reason == "bad_click_id"
    assert "sclid" in str(error)


def test_pixel_src_js_marks_the_source() -> None:
    assert pixel({"order_id": "1", "type": "lead", "src": "js"}).source == "js"
    assert pixel({"order_id": "1", "type": "lead", "src": "other"}).source == "pixel"


def test_pixel_never_carries_a_recipient() -> None:
    conversion = pixel({"order_id": "1", "type": "lead", "recipient": PHONE})
    assert conversion.recipient_ref == ""
    assert PHONE not in repr(conversion)


def test_pixel_ignores_unknown_parameters_like_cache_busters() -> None:
    assert pixel({"order_id": "1", "type": "lead", "_": "1718000000", "utm_source": "sms"}).order_id == "1"


def test_pixel_uses_the_server_clock() -> None:
    assert pixel({"order_id": "1", "type": "lead"}).ts_ms == NOW_MS


@pytest.mark.parametrize(
    "params",
    [
        {"order_id": "1", "type": "lead", "note": "x" * 257},
        {"order_id": "x" * 257, "type": "lead"},
        {"order_id": "1", "type": "lead", "k" * 257: "v"},
        {"order_id": "x" * 129, "type": "lead"},
        {"order_id": "1", "type": "lead", **{f"p{i}": "v" for i in range(MAX_PIXEL_PARAMS - 1)}},
    ],
)
def test_pixel_refuses_oversized_input(params: dict[str, str]) -> None:
    assert pixel_reason(params).reason == "field_too_long"


def test_pixel_accepts_exactly_the_maximum_number_of_parameters() -> None:
    params = {"order_id": "1", "type": "lead", **{f"p{i}": "v" for i in range(MAX_PIXEL_PARAMS - 2)}}
    assert pixel(params).order_id == "1"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"value": "5", "currency": "USD"}, "missing_order_id"),
        ({"order_id": "1", "type": "sale"}, "bad_type"),
        ({"order_id": "1", "currency": "USD"}, "missing_value"),
        ({"order_id": "1", "value": "NaN", "currency": "USD"}, "bad_value"),
        ({"order_id": "1", "value": "5"}, "missing_currency"),
        ({"order_id": "1", "value": "5", "currency": "XYZ"}, "bad_currency"),
    ],
)
def test_pixel_validates_fields_like_the_api(params: dict[str, str], reason: str) -> None:
    assert pixel_reason(params).reason == reason


# --- stream event --------------------------------------------------------------------------------------------------


def test_to_event_has_the_stream_shape() -> None:
    conversion = api(order_id="1", value=19.99, currency="usd", click_id="c1", occurred_at=1_749_988_800)
    assert conversion.to_event() == {
        "kind": "conversion", "order_id": "1", "type": "purchase", "value": "19.99", "currency": "USD",
        "click_id": "c1", "recipient_ref": "", "ts": 1_749_988_800_000, "source": "api", "verified": True,
        "subscription_id": "", "refund_id": "",
    }


@pytest.mark.parametrize("value", [10**12, "1000000000000", "0.0001", 1e-4, "0"])
def test_to_event_value_is_a_plain_decimal_without_exponent(value: object) -> None:
    text = api(order_id="1", type="lead", value=value, currency="USD").to_event()["value"]
    assert isinstance(text, str)
    assert "e" not in text.lower()
    assert Decimal(text) == Decimal(str(value))


@pytest.mark.parametrize(
    "conversion",
    [
        Conversion.from_api(
            {"order_id": "A-1", "value": 19.99, "currency": "EUR", "click_id": "c1", "recipient": PHONE}, KEYER, NOW_MS
        ),
        Conversion.from_api({"order_id": "2", "type": "signup"}, KEYER, NOW_MS),
        Conversion.from_pixel(signed(order_id="3", value="5.5", currency="GBP", type="refund", src="js", sclid="c9"),
                              "", click_param="sclid", secret=SECRET, signing="required", now_ms=NOW_MS),
    ],
)
def test_from_event_inverts_to_event_through_json(conversion: Conversion) -> None:
    event = orjson.loads(orjson.dumps(conversion.to_event()))
    assert Conversion.from_event(event) == conversion


def valid_event() -> dict[str, object]:
    return api(order_id="1", value="5", currency="USD", recipient=EMAIL).to_event()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "click"}, "bad_event"),
        ({"ts": "1750000000000"}, "bad_event"),
        ({"ts": True}, "bad_event"),
        ({"source": "mail"}, "bad_event"),
        ({"verified": 1}, "bad_event"),
        ({"recipient_ref": PHONE}, "bad_event"),
        ({"value": 5}, "bad_value"),
        ({"value": "5e3"}, "bad_value"),
        ({"currency": ""}, "missing_currency"),
        ({"currency": "EURO"}, "bad_currency"),
        ({"type": "sale"}, "bad_type"),
        ({"order_id": ""}, "missing_order_id"),
        ({"click_id": "a b"}, "bad_click_id"),
    ],
)
def test_from_event_refuses_a_malformed_event(change: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidConversion) as info:
        Conversion.from_event({**valid_event(), **change})
    assert info.value.reason == reason


def test_from_event_refuses_a_missing_field_and_a_non_object() -> None:
    event = valid_event()
    del event["ts"]
    with pytest.raises(InvalidConversion, match="ts") as info:
        Conversion.from_event(event)
    assert info.value.reason == "bad_event"
    with pytest.raises(InvalidConversion) as info:
        Conversion.from_event([])  # type: ignore[arg-type]
    assert info.value.reason == "not_an_object"


def test_from_event_ignores_fields_added_by_a_newer_edge() -> None:
    event = {**valid_event(), "added_later": 1}
    assert Conversion.from_event(event).order_id == "1"


def test_conversion_is_frozen() -> None:
    conversion = api(order_id="1", type="lead")
    with pytest.raises(AttributeError):
        conversion.value = Decimal(1)  # type: ignore[misc]



# --- subscriptions -----------------------------------------------------------------------------------------------


def test_a_subscription_and_its_renewals_name_the_subscription_and_carry_an_amount() -> None:
    started = api(order_id="1001", type="subscription", value="29.00", currency="EUR", subscription_id="sub_7")
    renewed = api(order_id="1042", type="renewal", value="29.00", currency="EUR", subscription_id=7)
    assert (started.subscription_id, renewed.subscription_id) == ("sub_7", "7")
    assert {"subscription", "renewal"} <= set(CONVERSION_TYPES)
    for type_ in ("subscription", "renewal"):
        assert api_reason({"order_id": "1", "type": type_, "value": "9", "currency": "EUR"}).reason == (
            "missing_subscription_id")
        assert api_reason({"order_id": "1", "type": type_, "subscription_id": "s"}).reason == "missing_value"
    assert api_reason({"order_id": "1", "type": "renewal", "value": "9", "currency": "EUR",
                       "subscription_id": "a\x00b"}).reason == "bad_subscription_id"


def test_a_purchase_may_name_its_subscription_too() -> None:
    assert api(order_id="1001", value="29", currency="EUR", subscription_id="s1").subscription_id == "s1"


def test_the_import_door_is_the_api_with_its_own_source() -> None:
    assert Conversion.from_api({"order_id": "P-1", "value": "5", "currency": "EUR"}, KEYER, NOW_MS,
                               source="import").source == "import"
    assert {"shopify", "woocommerce", "import"} <= set(SOURCES)


# --- stores ------------------------------------------------------------------------------------------------------


def store(**fields: object) -> Conversion:
    found = StoreConversion(**{"order_id": "820982911946154508", "type": "purchase", "value": Decimal("388.00"),
                               "currency": "USD", "ts_ms": NOW_MS - 1000, **fields})  # type: ignore[arg-type]
    return Conversion.from_store(found, "shopify", KEYER, NOW_MS)


def test_a_store_conversion_is_verified_and_keeps_its_source_and_time() -> None:
    conversion = store(click_id="abc")
    assert (conversion.source, conversion.verified, conversion.ts_ms) == ("shopify", True, NOW_MS - 1000)
    assert (conversion.order_id, conversion.value, conversion.click_id) == ("820982911946154508", Decimal("388"), "abc")


def test_the_buyer_is_the_first_recipient_that_normalises_phones_read_in_the_address_country() -> None:
    assert store(recipients=("555-555-SHIP", EMAIL), region="US").recipient_ref == KEYER.ref("+15555557447")
    assert store(recipients=("not a phone", EMAIL), region="US").recipient_ref == KEYER.ref(EMAIL)
    assert store(recipients=("(555) 555-5555",), region="").recipient_ref == ""


def test_a_store_time_out_of_bounds_becomes_now() -> None:
    assert store(ts_ms=None).ts_ms == NOW_MS
    assert store(ts_ms=NOW_MS + 3_600_000).ts_ms == NOW_MS
    assert store(ts_ms=1000).ts_ms == NOW_MS


def test_a_store_conversion_failing_validation_is_refused_like_the_apis() -> None:
    with pytest.raises(InvalidConversion) as info:
        store(currency="XYZ")
    assert info.value.reason == "bad_currency"
    with pytest.raises(InvalidConversion):
        store(value=Decimal("1.00001"))


def test_refunds_a_store_numbers_are_told_apart_and_survive_the_stream() -> None:
    first, second = store(type="refund", refund_id="890088186047892319"), store(type="refund", refund_id="cancel")
    identities = {conversion_identity(first), conversion_identity(second), conversion_identity(store(type="refund"))}
    assert len(identities) == 3
    # An order id with ':' cannot pose as another order's numbered refund.
    assert conversion_identity(store(type="refund", order_id="a:b")) != conversion_identity(
        store(type="refund", order_id="b", refund_id="a"))
    assert Conversion.from_event(orjson.loads(orjson.dumps(first.to_event()))) == first


def test_a_repeat_matches_the_fingerprint_whatever_way_the_amount_is_written() -> None:
    assert conversion_fingerprint(api(order_id="1", value="19.9", currency="eur")) == conversion_fingerprint(
        api(order_id="1", value=19.90, currency="EUR")) == "19.9000 EUR"
    assert conversion_fingerprint(api(order_id="1", value="19.91", currency="EUR")) != "19.9000 EUR"


@pytest.mark.parametrize("code", ["XXX", "XTS", "xts", "XAU", "XAG", "XPD", "XPT", "XBA", "XDR", "XUA", "XSU", "XAD"])
def test_iso_codes_that_are_not_money_a_shop_is_paid_in_are_refused(code: str) -> None:
    error = api_reason({"order_id": "1", "value": "10", "currency": code})
    assert error.reason == "bad_currency" and str(error).startswith("currency: ")
    assert pixel_reason({"order_id": "1", "value": "10", "currency": code}).reason == "bad_currency"


@pytest.mark.parametrize("code", ["XAF", "XOF", "XCD", "XPF", "EUR", "JPY", "CLF"])
def test_real_currencies_are_accepted_including_the_cfa_and_east_caribbean_ones(code: str) -> None:
    assert api(order_id="1", value="10", currency=code).currency == code
