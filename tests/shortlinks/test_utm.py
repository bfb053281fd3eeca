import pytest

from shortlinks.utm import (
    InvalidDestination,
    InvalidUtm,
    canonical_destination,
    normalise_utm,
    normalise_utm_value,
    tag_url,
)


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


def tag(url, **utm):
    return tag_url(canonical_destination(url), normalise_utm(utm), drop_params=("sclid",))


def test_link_utm_values_win_over_existing_ones_and_other_params_are_kept_in_order():
    tagged = tag("https://shop.example/p?utm_source=old&a=1&utm_medium=email&b=x%20y", source="klaviyo")
    assert tagged == "https://shop.example/p?a=1&utm_medium=email&b=x%20y&utm_source=klaviyo"


def test_fragment_stays_last():
    assert tag("https://shop.example/p#reviews", campaign="bf") == "https://shop.example/p?utm_campaign=bf#reviews"
    assert tag("https://shop.example/?q=1#a?b", medium="sms") == "https://shop.example/?q=1&utm_medium=sms#a?b"


def test_stale_click_id_in_destination_is_dropped():
    assert tag("https://shop.example/?sclid=old&x=1", source="s") == "https://shop.example/?x=1&utm_source=s"


def test_unicode_values_are_percent_encoded():
    assert tag("https://shop.example/", campaign="Soldes d'été") == (
        "https://shop.example/?utm_campaign=soldes_d%27%C3%A9t%C3%A9"
    )


def test_idn_host_becomes_punycode_and_unicode_path_is_encoded():
    assert canonical_destination("https://Bücher.example/Straße?q=ü") == (
        "https://xn--bcher-kva.example/Stra%C3%9Fe?q=%C3%BC"
    )


def test_scheme_and_host_are_lowercased_and_an_empty_path_becomes_slash():
    assert canonical_destination("HTTPS://Shop.Example") == "https://shop.example/"
    assert canonical_destination("http://shop.example:8443/a") == "http://shop.example:8443/a"


def test_existing_percent_escapes_survive():
    assert canonical_destination("https://s.example/a%2Fb?x=%26") == "https://s.example/a%2Fb?x=%26"


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,hi",
        "//evil.example/",
        "\\\\evil.example",
        "https:\\\\evil.example",
        "https://evil.example\\@shop.example",
        "https:/evil.example",
        "https://shop.example/\r\nSet-Cookie: a=b",
        "https://shop.example/\x00",
        "https://shop.example/\u2028x",
        "https://shop.example/ a",
        "http://user:pw@shop.example/",
        "https://shop.example%2F@evil.example",
        "ftp://shop.example/",
        "https://",
        "https://sh op.example/",
        "https://shop.example:99999/",
        "https://" + "a" * 2100 + ".example/",
        "https://shop.example/" + "a" * 2100,
        "",
        None,
        42,
    ],
)
def test_dangerous_or_malformed_destinations_are_rejected(bad):
    with pytest.raises(InvalidDestination):
        canonical_destination(bad)


def test_allow_list_accepts_listed_hosts_and_subdomains_with_a_leading_dot():
    allowed = ("shop.example", ".brand.example")
    assert canonical_destination("https://shop.example/", allowed)
    assert canonical_destination("https://eu.brand.example/", allowed)
    assert canonical_destination("https://brand.example/", allowed)
    with pytest.raises(InvalidDestination, match="not in TRACKER_ALLOWED_HOSTS"):
        canonical_destination("https://www.shop.example/", allowed)
    with pytest.raises(InvalidDestination, match="not in TRACKER_ALLOWED_HOSTS"):
        canonical_destination("https://evilbrand.example/", allowed)
