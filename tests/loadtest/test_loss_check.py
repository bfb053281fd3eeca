"""The loss check's arithmetic: lost, doubled and unmatched ids, and order ids fired twice by a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.loss_check import compare, queries, read_ids


def test_every_received_id_with_exactly_one_row_passes() -> None:
    report = compare("clicks", ["a", "b", "c"], {"a": 1, "b": 1, "c": 1})

    assert (report.received, report.found, report.lost, report.doubled, report.unexpected) == (3, 3, 0, 0, 0)
    assert report.ok


def test_a_missing_row_is_lost_and_a_second_row_is_doubled() -> None:
    report = compare("clicks", ["a", "b", "c"], {"a": 1, "b": 2})

    assert (report.lost, report.doubled, report.found) == (1, 1, 2)
    assert report.examples == {"lost": ["c"], "doubled": ["b"]}
    assert not report.ok


def test_a_reloaded_thank_you_page_counts_its_order_once() -> None:
    report = compare("conversions", ["o1", "o1", "o2"], {"o1": 1, "o2": 1})

    assert (report.received, report.received_lines, report.ok) == (2, 3, True)


def test_rows_the_generator_never_saw_are_reported_but_do_not_fail() -> None:
    report = compare("clicks", ["a"], {"a": 1, "cut-off-at-stop": 1})

    assert (report.unexpected, report.ok) == (1, True)


def test_ids_are_read_from_every_process_file_of_the_run_only(tmp_path: Path) -> None:
    (tmp_path / "clicks-lt_1-host-10.txt").write_text("a\nb\n")
    (tmp_path / "clicks-lt_1-host-11.txt").write_text("c\n")
    (tmp_path / "clicks-lt_2-host-10.txt").write_text("other run\n")

    assert sorted(read_ids(tmp_path, "clicks", "lt_1")) == ["a", "b", "c"]


def test_a_run_id_that_could_break_the_query_is_refused() -> None:
    with pytest.raises(ValueError):
        queries("x' OR 1=1 --")


def test_a_receipt_sent_twice_is_one_message_event_and_sources_are_apart() -> None:
    report = compare("messages", ["api:sent:r-1", "twilio:sent:r-1", "twilio:delivered:r-1", "twilio:delivered:r-1"],
                     {"api:sent:r-1": 1, "twilio:sent:r-1": 1, "twilio:delivered:r-1": 1})

    assert (report.received, report.received_lines, report.ok) == (3, 4, True)
    assert "startsWith(message_id, 'lt_1-')" in queries("lt_1")["messages"]
