from tests.stores.platforms import hmac_base64
from tracker.stores.webhook_signature import sign, verify

BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    assert sign("hush", BODY) == hmac_base64("hush", BODY)
    assert verify("hush", BODY, hmac_base64("hush", BODY))


def test_any_change_to_body_secret_or_signature_fails() -> None:
    good = hmac_base64("hush", BODY)
    assert not verify("hush", BODY + b" ", good)
    assert not verify("other", BODY, good)
    assert not verify("hush", BODY, good[:-2] + "AA")
    # A hex digest (what many other platforms send) is not the base64 one.
    assert not verify("hush", BODY, hmac_base64("hush", BODY).encode().hex())


def test_missing_empty_or_garbage_signatures_fail_without_raising() -> None:
    for signature in (None, "", " ", "é" * 44, "\udcff" * 10, "A" * 10_000, "\x00"):
        assert not verify("hush", BODY, signature)


def test_an_unset_secret_verifies_nothing() -> None:
    assert not verify("", BODY, hmac_base64("", BODY))


def test_surrounding_whitespace_of_the_header_is_tolerated() -> None:
    assert verify("hush", BODY, f" {hmac_base64('hush', BODY)} ")
