import pytest

from tracker.admin.conversions_csv import CsvError, CsvRow, InvalidCsv, TooManyRows, read_csv

FIELDS = frozenset({"order_id", "type", "value", "currency", "click_id", "recipient", "occurred_at"})


def read(body: bytes, max_rows: int = 1000) -> tuple[list[CsvRow], list[CsvError]]:
    return read_csv(body, FIELDS, max_rows)


def test_rows_are_named_by_their_line_and_keep_only_non_empty_cells() -> None:
    rows, errors = read(b"order_id,value,currency,recipient\r\nA1,19.90,EUR,\r\nA2, 5 ,usd,+14155550123\r\n")
    assert errors == []
    assert rows == [
        CsvRow(2, {"order_id": "A1", "value": "19.90", "currency": "EUR"}),
        CsvRow(3, {"order_id": "A2", "value": "5", "currency": "usd", "recipient": "+14155550123"}),
    ]


def test_excel_exports_read_the_same_bom_semicolons_and_header_case() -> None:
    rows, errors = read("\ufeffOrder_ID;Value;Currency\n1;2.50;EUR\n".encode())
    assert errors == []
    assert rows == [CsvRow(2, {"order_id": "1", "value": "2.50", "currency": "EUR"})]
    rows, _ = read(b"order_id\tvalue\n7\t1\n")
    assert rows == [CsvRow(2, {"order_id": "7", "value": "1"})]


def test_a_quoted_cell_spanning_lines_names_the_row_by_its_first_line() -> None:
    rows, errors = read(b'order_id,value\n"multi\nline",1\nB,2\n')
    assert errors == []
    assert [row.line for row in rows] == [2, 4]
    assert rows[0].fields["order_id"] == "multi\nline"


def test_bad_lines_are_listed_and_good_lines_kept() -> None:
    body = b"order_id,value\nA,1\nB,2,extra\nC\xff,3\n\nD,4\n"
    rows, errors = read(body)
    assert [row.fields["order_id"] for row in rows] == ["A", "D"]
    assert [row.line for row in rows] == [2, 6]
    assert errors == [
        CsvError(3, "expected 2 cells like the header, got 3"),
        CsvError(4, "not UTF-8 text (save the file as CSV UTF-8)"),
    ]


def test_bad_quoting_is_an_error_of_its_line() -> None:
    rows, errors = read(b'order_id,value\nA,1\n"B"x,2\nC,3\n')
    assert [row.fields["order_id"] for row in rows] == ["A", "C"]
    assert [error.line for error in errors] == [3]
    assert errors[0].error.startswith("not valid CSV")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: empty"),
        (b"order_id,valeu\n1,2\n", "'valeu' is not a field"),
        (b"order_id,value,value\n", "'value' appears more than once"),
        (b"order_id,,value\n", "'(empty)' is not a field"),
        (b"\xffrder_id\n", "not UTF-8"),
    ],
)
def test_a_header_that_could_lose_data_refuses_the_whole_file(body: bytes, message: str) -> None:
    with pytest.raises(InvalidCsv, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(body)


def test_a_header_alone_is_an_empty_import() -> None:
    assert read(b"order_id,value\n") == ([], [])


def test_more_rows_than_allowed_are_refused() -> None:
    with pytest.raises(TooManyRows):
        read(b"order_id\n1\n2\n3\n", max_rows=2)
