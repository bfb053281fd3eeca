import pytest

from shortlinks.utm import InvalidUtm, normalise_utm, normalise_utm_value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Black   Friday ", "black_friday"),
        ("SMS", "sms"),
        ("spring\tsale\n2026", "spring_sale_2026"),
        ("Été Soldes", "été_soldes"),
        ("", ""),
        (None, ""),
    ],
)
def test_utm_values_are_trimmed_lowercased_and_spaces_become_underscores(raw, expected):
    assert normalise_utm_value(raw) == expected


def test_utm_rejects_unknown_keys_and_long_values():
    with pytest.raises(InvalidUtm, match="unknown key 'sorce'"):
        normalise_utm({"sorce": "x"})
    with pytest.raises(InvalidUtm, match="utm.campaign"):
        normalise_utm({"campaign": "x" * 201})
    with pytest.raises(InvalidUtm):
        normalise_utm({"source": 5})



@pytest.mark.parametrize("utm", [[], False, "", 0, ["source"], "sms"])
def test_utm_that_is_not_an_object_is_refused_rather_than_read_as_none(utm):
    with pytest.raises(InvalidUtm, match="expected an object"):
        normalise_utm(utm)


def test_absent_utm_means_no_utm():
    assert normalise_utm(None) == {"source": "", "medium": "", "campaign": "", "content": "", "term": ""}
