"""Twilio's request signature, starting from the worked example of Twilio's webhook security guide."""

from __future__ import annotations

import pytest

from tracker.edge.twilio import MalformedForm, is_valid, parse_form, signature, signed_urls

# The example of Twilio's "Webhooks security" guide: auth token 12345, this URL and these parameters.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilios_documented_example_gives_its_documented_signature() -> None:
    assert signature(DOC_TOKEN, DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_the_parameters_are_signed_sorted_whatever_order_they_came_in() -> None:
    body = b"To=%2B18005551212&Digits=1234&From=%2B12349013030&Caller=%2B12349013030&CallSid=CA1234567890ABCDE"
    assert is_valid(DOC_TOKEN, DOC_URL, parse_form(body), DOC_SIGNATURE)


@pytest.mark.parametrize("change", [
    lambda p: [*p[:2], ("Digits", "9999"), *p[3:]],  # a value changed
    lambda p: [*p, ("ApiVersion", "2010-04-01")],  # a parameter added that Twilio did not sign
    lambda p: p[1:],  # a parameter dropped
])
def test_any_change_to_the_parameters_breaks_the_signature(change) -> None:  # type: ignore[no-untyped-def]
    assert not is_valid(DOC_TOKEN, DOC_URL, change(DOC_PARAMS), DOC_SIGNATURE)


def test_another_url_token_or_a_missing_header_is_refused() -> None:
    assert not is_valid(DOC_TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3", DOC_PARAMS, DOC_SIGNATURE)
    assert not is_valid(DOC_TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE)
    assert not is_valid("54321", DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert not is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, None)
    assert not is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, "")
    assert not is_valid("", DOC_URL, DOC_PARAMS, signature("", DOC_URL, DOC_PARAMS))
    assert not is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE[:-1])
    assert not is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, "ü" + DOC_SIGNATURE)


def test_a_signature_over_the_url_with_its_default_port_is_accepted_too() -> None:
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert signed_urls(DOC_URL) == [DOC_URL, with_port]
    assert signed_urls(with_port) == [with_port, DOC_URL]
    assert signed_urls("https://mycompany.com:8443/x") == ["https://mycompany.com:8443/x"]
    assert is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, signature(DOC_TOKEN, with_port, DOC_PARAMS))
    assert not is_valid(DOC_TOKEN, DOC_URL, DOC_PARAMS, signature(DOC_TOKEN, "https://mycompany.com:8443/myapp.php"
                                                                  "?foo=1&bar=2", DOC_PARAMS))


def test_a_form_keeps_blank_values_and_refuses_what_is_not_a_form() -> None:
    assert parse_form(b"ErrorCode=&MessageStatus=sent") == [("ErrorCode", ""), ("MessageStatus", "sent")]
    assert parse_form(b"") == []
    for body in (b"\xff\xfe", b"not a form", b"a=1&b", b"a=%ff"):
        with pytest.raises(MalformedForm):
            parse_form(body)
