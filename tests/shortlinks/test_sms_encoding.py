import sys
from pathlib import Path

import pytest

from shortlinks.sms_encoding import SEPTETS, measure, replacement, to_gsm7, ucs2_warnings

GSM0338_TXT = Path(__file__).parent / "reference" / "GSM0338.TXT"


def unicode_gsm_table() -> dict[str, int]:
    """Unicode's GSM0338.TXT as character -> GSM code (one byte, or 0x1Bxx for the extension table)."""
    table = {}
    for line in GSM0338_TXT.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, unicode = line.split("\t")[:2]
        table[chr(int(unicode, 16))] = int(code, 16)
    return table


def test_septet_table_is_exactly_the_unicode_gsm0338_mapping() -> None:
    expected = {ch: (2 if code > 0xFF else 1) for ch, code in unicode_gsm_table().items()}
    del expected["\u00a0"]  # the table's display of a lone ESC; a no-break space is not GSM text
    expected["Ç"] = 1  # ETSI's glyph for 0x09, a commented line of the Unicode table
    assert expected == SEPTETS


def test_no_other_character_is_gsm7() -> None:
    others = [chr(cp) for cp in range(sys.maxunicode + 1)
              if not 0xD800 <= cp < 0xE000 and chr(cp) not in SEPTETS]
    assert len(others) == sys.maxunicode + 1 - 0x800 - len(SEPTETS)
    assert all(measure(ch).encoding == "ucs2" for ch in others[:0x3000])


# (text, encoding, characters, segments): counted by hand against GSM 03.38 and 3GPP TS 23.040
KNOWN_TEXTS = [
    ("", "gsm7", 0, 0),
    ("Hello", "gsm7", 5, 1),
    ("Sale ends tonight! 20% off: https://go.shop.example/aB3dE9", "gsm7", 58, 1),
    ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà", "gsm7", 62, 1),
    ("Line one\r\nline two", "gsm7", 18, 1),
    ("€", "gsm7", 2, 1),
    ("{}[]~|\\^€\f", "gsm7", 20, 1),
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("a" * 459, "gsm7", 459, 3),
    ("a" * 460, "gsm7", 460, 4),
    ("€" * 80, "gsm7", 160, 1),
    ("a" * 159 + "€", "gsm7", 161, 2),
    ("€" * 81, "gsm7", 162, 2),  # 76 euro signs (152 septets) fit in a segment of 153
    ("€" * 153, "gsm7", 306, 3),  # 76 + 76 + 1: an escape pair never straddles two segments
    ("a" * 152 + "€" + "a" * 152, "gsm7", 306, 3),  # 306 septets, yet the euro sign starts segment 2
    ("ç", "gsm7", 1, 1),
    ("Привет", "ucs2", 6, 1),
    ("я" * 70, "ucs2", 70, 1),
    ("я" * 71, "ucs2", 71, 2),
    ("я" * 134, "ucs2", 134, 2),
    ("я" * 135, "ucs2", 135, 3),
    ("It’s on", "ucs2", 7, 1),
    ("“Sale”", "ucs2", 6, 1),
    ("a" * 159 + "—", "ucs2", 160, 3),  # one dash turns 1 segment into 3
    ("😀", "ucs2", 2, 1),
    ("Hi 👋 there", "ucs2", 11, 1),
    ("😀" * 35, "ucs2", 70, 1),
    ("😀" * 36, "ucs2", 72, 2),
    ("я" * 66 + "😀" + "я" * 66, "ucs2", 134, 3),  # 134 units, yet the surrogate pair starts segment 2
    ("\x1b", "ucs2", 1, 1),  # a bare ESC is the escape code, not text
    ("tab\there", "ucs2", 8, 1),
]


@pytest.mark.parametrize(("text", "encoding", "characters", "segments"), KNOWN_TEXTS)
def test_known_texts_have_their_encoding_characters_and_segments(
    text: str, encoding: str, characters: int, segments: int
) -> None:
    counted = measure(text)
    assert (counted.encoding, counted.characters, counted.segments) == (encoding, characters, segments)


@pytest.mark.parametrize(
    ("character", "expected"),
    [
        ("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("„", '"'), ("«", '"'),
        ("–", "-"), ("—", "-"), ("‑", "-"), ("…", "..."), ("\u00a0", " "), ("\u2009", " "),
        ("\u200b", ""), ("\ufeff", ""), ("\u00ad", ""), ("•", "*"), ("\t", " "),
        ("á", "a"), ("Á", "A"), ("ê", "e"), ("ő", "o"), ("ﬁ", "fi"), ("Ａ", "A"), ("™", "TM"),
        ("Α", "A"), ("Ο", "O"), ("˜", "~"), ("½", "1/2"),
        ("😀", None), ("я", None), ("中", None), ("\x1b", None),
    ],
)
def test_characters_that_force_ucs2_name_their_gsm7_replacement(character: str, expected: str | None) -> None:
    assert replacement(character) == expected


def test_a_gsm7_character_is_its_own_replacement() -> None:
    assert replacement("é") == "é"
    assert replacement("€") == "€"


def test_warnings_list_each_character_once_in_order_with_its_count() -> None:
    warnings = [w.to_api() for w in ucs2_warnings("It’s “the” sale — don’t miss it 😀")]
    assert warnings == [
        {"character": "’", "codepoint": "U+2019", "name": "RIGHT SINGLE QUOTATION MARK", "replacement": "'",
         "count": 2},
        {"character": "“", "codepoint": "U+201C", "name": "LEFT DOUBLE QUOTATION MARK", "replacement": '"',
         "count": 1},
        {"character": "”", "codepoint": "U+201D", "name": "RIGHT DOUBLE QUOTATION MARK", "replacement": '"',
         "count": 1},
        {"character": "—", "codepoint": "U+2014", "name": "EM DASH", "replacement": "-", "count": 1},
        {"character": "😀", "codepoint": "U+1F600", "name": "GRINNING FACE", "replacement": None, "count": 1},
    ]


def test_gsm7_text_has_no_warnings() -> None:
    assert ucs2_warnings("Ça coûte 5€ {promo}") == [ucs2_warnings("û")[0]]
    assert ucs2_warnings("Ca coute 5€ {promo}") == []


def test_replacing_the_warned_characters_makes_the_text_gsm7() -> None:
    text = "It’s “the” sale — don’t miss it…"
    fixed = to_gsm7(text)
    assert fixed == "It's \"the\" sale - don't miss it..."
    assert (measure(text).encoding, measure(fixed).encoding) == ("ucs2", "gsm7")
