from datetime import date, datetime, timezone

import pytest

from remem.ingest.timeparse import query_ranges, resolve

ANCHOR = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)  # a Monday


def one(text: str):
    found = resolve(text, ANCHOR)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "text, start, end, gran",
    [
        ("I went to a support group yesterday", date(2023, 5, 7), date(2023, 5, 7), "day"),
        ("we talked about it last night", date(2023, 5, 7), date(2023, 5, 7), "day"),
        ("see you tomorrow", date(2023, 5, 9), date(2023, 5, 9), "day"),
        ("today was long", date(2023, 5, 8), date(2023, 5, 8), "day"),
        ("last Saturday I ran 10k", date(2023, 5, 6), date(2023, 5, 6), "day"),
        ("next Friday is the show", date(2023, 5, 12), date(2023, 5, 12), "day"),
        ("two weeks ago we went hiking", date(2023, 4, 24), date(2023, 4, 30), "week"),
        ("3 days ago", date(2023, 5, 5), date(2023, 5, 5), "day"),
        ("a month ago", date(2023, 4, 1), date(2023, 4, 30), "month"),
        ("two years ago", date(2021, 1, 1), date(2021, 12, 31), "year"),
        ("last week was busy", date(2023, 5, 1), date(2023, 5, 7), "week"),
        ("last weekend we camped", date(2023, 5, 6), date(2023, 5, 7), "week"),
        ("next month I move", date(2023, 6, 1), date(2023, 6, 30), "month"),
        ("last year", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("We met last May", date(2022, 5, 1), date(2022, 5, 31), "month"),
        ("I painted it in 2022", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("on 8 May, 2023 we met", date(2023, 5, 8), date(2023, 5, 8), "day"),
        ("on May 3rd, 2021 we met", date(2021, 5, 3), date(2021, 5, 3), "day"),
        ("in September 2021", date(2021, 9, 1), date(2021, 9, 30), "month"),
    ],
)
def test_resolves_relative_and_absolute_expressions(text, start, end, gran):
    m = one(text)
    assert (m.start, m.end, m.granularity) == (start, end, gran)


def test_labels_are_normalised_words():
    assert one("yesterday").label() == "7 May 2023"
    assert one("next month").label() == "June 2023"
    assert one("in 2022").label() == "2022"
    assert one("two weeks ago").label() == "week of 24 April 2023"


def test_several_mentions_in_order_and_no_false_positives():
    found = resolve("Yesterday I booked flights for next month, since May 2023 is busy", ANCHOR)
    assert [m.label() for m in found] == ["7 May 2023", "June 2023", "May 2023"]
    assert resolve("I may go to the store, it's a sunday kind of mood", ANCHOR) == []
    assert resolve("Mayday! 30 apples", ANCHOR) == []


def test_invalid_calendar_dates_are_ignored():
    assert resolve("on 31 February, 2023", ANCHOR) == []


def test_query_ranges():
    now = date(2026, 1, 1)
    assert query_ranges("What did Ana do in May 2023?", now) == [(date(2023, 5, 1), date(2023, 5, 31))]
    assert query_ranges("What happened last year?", now) == [(date(2025, 1, 1), date(2025, 12, 31))]
    assert query_ranges("What does Ana like?", now) == []
    june = query_ranges("When did Ana go camping in June?", now)
    assert (date(2023, 6, 1), date(2023, 6, 30)) in june
    assert all(s.month == 6 and e.month == 6 for s, e in june)
