"""Destinations as browsers parse them: the URL standard's own test data, tagging, and our refusals."""

import pytest
from ada_url import URL

from loadtest.references import url_cases, url_suite
from shortlinks.destination import POLICY_REASONS, InvalidDestination, canonical_destination, tag_url
from shortlinks.utm import normalise_utm

CASES = url_cases()


def test_the_vendored_suite_has_valid_and_rejected_absolute_http_inputs():
    assert sum(case.href is not None for case in CASES) > 150
    assert sum(case.href is None for case in CASES) > 150


def test_every_valid_input_of_the_url_standard_goes_exactly_where_it_says_or_is_refused_for_a_documented_reason():
    outcomes = url_suite([case for case in CASES if case.href is not None])
    wrong = [(o.case.input, o.detail) for o in outcomes if o.verdict == "wrong"]
    assert wrong == []
    assert {o.detail for o in outcomes if o.verdict == "refused"} <= POLICY_REASONS
    assert sum(o.verdict == "exact" for o in outcomes) > 100


def test_every_input_the_url_standard_rejects_is_refused():
    outcomes = url_suite([case for case in CASES if case.href is None])
    accepted = [o.case.input for o in outcomes if o.verdict != "refused"]
    assert accepted == []


def test_every_location_is_its_own_serialisation():
    """A browser reading our Location parses it to the same string: nothing in it is left to reinterpret."""
    locations = [o.location for o in url_suite(CASES) if o.verdict == "exact"]
    assert len(locations) > 100
    assert [location for location in locations if URL(location).href != location] == []


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("https://faß.ExAmPlE/", "https://xn--fa-hia.example/"),  # UTS #46 non-transitional, not IDNA 2003's fass
        ("https://βόλος.example/", "https://xn--nxasmm1c.example/"),
        ("https://Bücher.example/Straße?q=ü", "https://xn--bcher-kva.example/Stra%C3%9Fe?q=%C3%BC"),
        ("HTTPS://Shop.Example", "https://shop.example/"),
        ("http://shop.example:8443/a", "http://shop.example:8443/a"),
        ("https://shop.example:443/a", "https://shop.example/a"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://[0:0:0:0:0:0:13.1.68.3]/", "http://[::d01:4403]/"),
        ("https://shop.example/a/./b/../c", "https://shop.example/a/c"),
        ("https://s.example/a%2Fb?x=%26", "https://s.example/a%2Fb?x=%26"),
        ("https:shop.example/p", "https://shop.example/p"),
        ("https://shop.example/p?#", "https://shop.example/p?#"),
    ],
)
def test_destinations_are_stored_as_the_standard_serialises_them(given, canonical):
    assert canonical_destination(given) == canonical


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("http://256.256.256.256/", "invalid_url"),
        ("http://1.2.3.08/", "invalid_url"),
        ("http://foo.09/", "invalid_url"),
        ("https://shop.example:99999/", "invalid_url"),
        ("https://", "invalid_url"),
        ("//evil.example/", "invalid_url"),
        ("https://shop.example%2F@evil.example", "credentials"),
        ("http://user:pw@shop.example/", "credentials"),
        ("https://shop.example@evil.example/", "credentials"),
        ("https://evil.example\\@shop.example", "backslash"),
        ("https:\\\\evil.example", "backslash"),
        ("https://shop.example/\r\nSet-Cookie: a=b", "whitespace"),
        ("https://shop.example/\x00", "whitespace"),
        ("https://shop.example/\u2028x", "whitespace"),
        ("https://shop.ex\u200bample/", "whitespace"),
        ("https://sh op.example/", "whitespace"),
        (" https://shop.example/", "whitespace"),
        ("http://shop.example:0/", "port_zero"),
        ("https://shop.example:00/a", "port_zero"),
        ("javascript:alert(1)", "not_http"),
        ("data:text/html,hi", "not_http"),
        ("ftp://shop.example/", "not_http"),
        ("", "not_http"),
        (None, "not_http"),
        (42, "not_http"),
        ("https://" + "a" * 2100 + ".example/", "too_long"),
        ("https://shop.example/" + "é" * 1000, "too_long"),
    ],
)
def test_refused_destinations_say_why(bad, reason):
    with pytest.raises(InvalidDestination) as refused:
        canonical_destination(bad)
    assert refused.value.reason == reason


def test_allow_list_accepts_listed_hosts_and_subdomains_with_a_leading_dot():
    allowed = ("shop.example", ".brand.example", "xn--fa-hia.example")
    assert canonical_destination("https://shop.example/", allowed)
    assert canonical_destination("https://eu.brand.example/", allowed)
    assert canonical_destination("https://brand.example./", allowed)
    assert canonical_destination("https://FAß.example/", allowed)
    for elsewhere in ("https://www.shop.example/", "https://evilbrand.example/", "https://fass.example/"):
        with pytest.raises(InvalidDestination, match="not in TRACKER_ALLOWED_HOSTS"):
            canonical_destination(elsewhere, allowed)


def tag(url, **utm):
    return tag_url(canonical_destination(url), normalise_utm(utm), drop_params=("sclid",))


def test_link_utm_values_win_over_existing_ones_and_other_params_are_kept_in_order():
    tagged = tag("https://shop.example/p?utm_source=old&a=1&utm_medium=email&b=x%20y", source="klaviyo")
    assert tagged == "https://shop.example/p?a=1&utm_medium=email&b=x%20y&utm_source=klaviyo"


def test_parameter_names_are_compared_as_url_search_params_reads_them():
    assert tag("https://shop.example/?utm%5Fsource=old&k=v", source="new") == (
        "https://shop.example/?k=v&utm_source=new"
    )


def test_fragment_stays_last():
    assert tag("https://shop.example/p#reviews", campaign="bf") == "https://shop.example/p?utm_campaign=bf#reviews"
    assert tag("https://shop.example/?q=1#a?b", medium="sms") == "https://shop.example/?q=1&utm_medium=sms#a?b"


def test_stale_click_id_in_destination_is_dropped():
    assert tag("https://shop.example/?sclid=old&x=1", source="s") == "https://shop.example/?x=1&utm_source=s"


def test_unicode_values_are_percent_encoded_and_the_result_is_canonical():
    tagged = tag("https://shop.example/", campaign="Soldes d'été")
    assert tagged == "https://shop.example/?utm_campaign=soldes_d%27%C3%A9t%C3%A9"
    assert URL(tagged).href == tagged
