import pytest

from shortlinks.text_urls import find_urls, replace_urls


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("Sale! https://shop.example/sale?x=1&y=2. Reply STOP", ["https://shop.example/sale?x=1&y=2"]),
        ("Go: http://shop.example:8080/x, now!", ["http://shop.example:8080/x"]),
        ("see https://shop.example/path!", ["https://shop.example/path"]),
        ("https://shop.example/a...", ["https://shop.example/a"]),
        ("(see https://shop.example/a_(b)) ok", ["https://shop.example/a_(b)"]),
        ("(details: https://shop.example/terms)", ["https://shop.example/terms"]),
        ("\"https://shop.example/q\"", ["https://shop.example/q"]),
        ("“https://shop.example/q”", ["https://shop.example/q"]),
        ("«https://shop.example/q»", ["https://shop.example/q"]),
        ("HTTPS://SHOP.EXAMPLE/X", ["HTTPS://SHOP.EXAMPLE/X"]),
        ("https://faß.example/ü?q=é#frag end", ["https://faß.example/ü?q=é#frag"]),
        ("Скидка 20%:https://shop.example/ru сегодня", ["https://shop.example/ru"]),
        ("two https://a.example/1 https://a.example/2 and https://a.example/1",
         ["https://a.example/1", "https://a.example/2", "https://a.example/1"]),
        ("line\nhttps://a.example/x\nnext", ["https://a.example/x"]),
    ],
)
def test_http_urls_are_found_without_the_punctuation_around_them(text: str, urls: list[str]) -> None:
    spans = find_urls(text)
    assert [s.url for s in spans] == urls
    assert all(text[s.start:s.end] == s.url for s in spans)


@pytest.mark.parametrize(
    "text",
    [
        "visit shop.example today",
        "mail us at help@shop.example",
        "ftp://files.example/price.pdf",
        "mailto:help@shop.example",
        "no links here",
        "",
    ],
)
def test_only_links_written_with_http_or_https_count(text: str) -> None:
    assert find_urls(text) == []


def test_replacing_urls_keeps_the_text_around_them() -> None:
    text = "Hi! New in: https://shop.example/new. Sale: https://shop.example/sale?a=1 (today)"
    spans = find_urls(text)
    assert replace_urls(text, spans, ["https://go.example/AAA", "https://go.example/BBB"]) == (
        "Hi! New in: https://go.example/AAA. Sale: https://go.example/BBB (today)"
    )


def test_a_text_without_urls_is_left_as_it_is() -> None:
    assert replace_urls("Reply STOP to opt out", [], []) == "Reply STOP to opt out"
