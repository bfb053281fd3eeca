import pytest

from shortlinks.recipient import InvalidRecipient, RecipientKeyer, normalise_recipient


def test_phone_numbers_are_normalised_to_e164():
    assert normalise_recipient("+44 20 7946 0958") == "+442079460958"
    assert normalise_recipient(" +1 (415) 555-0123 ") == "+14155550123"


def test_emails_are_lowercased_and_trimmed():
    assert normalise_recipient("  Ana.Silva@Example.COM ") == "ana.silva@example.com"


def test_the_same_person_written_differently_gets_the_same_ref_and_the_raw_value_is_not_in_it():
    keyer = RecipientKeyer("test-secret-0123456789")
    ref = keyer.ref("+1 415 555 0123")
    assert ref == keyer.ref("+14155550123")
    assert len(ref) == 32 and "4155550123" not in ref
    assert RecipientKeyer("another-secret-012345").ref("+14155550123") != ref


@pytest.mark.parametrize("bad", ["4155550123", "+1 12", "not a phone", "a@b", "", "x" * 300, 5, None, "a\n@b.com"])
def test_unusable_recipients_are_rejected(bad):
    with pytest.raises(InvalidRecipient):
        normalise_recipient(bad)
