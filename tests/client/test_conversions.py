"""`tracker conversions import`: the file is cut at record boundaries and error lines map back to the file."""

from __future__ import annotations

import csv
import io

from tracker.client.conversions import chunks

HEADER = "order_id,type,value,currency\n"


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def test_every_chunk_repeats_the_header_and_the_rows_are_all_sent_once() -> None:
    text = HEADER + "".join(f"o{n},purchase,{n}.00,EUR\n" for n in range(12))
    pieces = chunks(text, rows_per_chunk=5)
    assert [piece.rows for piece in pieces] == [5, 5, 2]
    sent = []
    for piece in pieces:
        header, *rows = rows_of(piece.body)
        assert header == ["order_id", "type", "value", "currency"]
        sent += [row[0] for row in rows]
    assert sent == [f"o{n}" for n in range(12)]


def test_a_quoted_cell_spanning_lines_stays_in_one_chunk_and_lines_map_back() -> None:
    text = HEADER + 'o1,purchase,1.00,EUR\n"o\n2",purchase,2.00,EUR\no3,purchase,3.00,EUR\no4,bad,,EUR\n'
    first, second = chunks(text, rows_per_chunk=2)
    assert rows_of(first.body)[2][0] == "o\n2"
    # the API names a row by the line it starts on, counting the chunk's own header as line 1
    assert (first.file_line(2), first.file_line(3)) == (2, 3)
    assert (second.file_line(2), second.file_line(3)) == (5, 6)
    assert second.file_line(1) == 1


def test_semicolons_and_crlf_pass_through_untouched() -> None:
    text = "order_id;value;currency\r\no1;1,50;EUR\r\no2;2,50;EUR\r\n"
    (only,) = chunks(text)
    assert only.body.decode() == text and only.rows == 2


def test_an_empty_file_or_a_header_alone_is_sent_as_it_is() -> None:
    assert chunks("")[0].body == b""
    (only,) = chunks(HEADER)
    assert only.body == HEADER.encode() and only.rows == 0
