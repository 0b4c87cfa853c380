"""Pure input normalisation: messages, times, ids."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from remem import InvalidInput
from remem.ingest.normalise import MAX_CONTENT_CHARS, MAX_ID_CHARS, check_id, normalise_messages, parse_time
from remem.types import Turn

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc).timestamp()


# -- normalise_messages -----------------------------------------------------------------
def test_plain_string_is_one_user_turn_with_default_time() -> None:
    assert normalise_messages("I live in Lisbon", default_time=T0) == [
        Turn(role="user", content="I live in Lisbon", timestamp=T0)]


def test_list_of_dicts_keeps_order_roles_names_ids_and_times() -> None:
    turns = normalise_messages([
        {"role": "user", "content": "hello", "name": "Ana", "id": "a1",
         "timestamp": "2024-05-01T10:00:00Z"},
        {"role": "assistant", "content": "hi Ana", "name": "Max", "id": "a2"},
        {"role": "system", "content": "be brief"},
        {"role": "tool", "content": "42"},
    ], default_time=123.0)
    assert turns == [
        Turn("user", "hello", "Ana", "a1", T0),
        Turn("assistant", "hi Ana", "Max", "a2", 123.0),
        Turn("system", "be brief", None, None, 123.0),
        Turn("tool", "42", None, None, 123.0),
    ]


def test_single_dict_is_accepted_and_role_defaults_to_user() -> None:
    assert normalise_messages({"content": "just me"}) == [Turn("user", "just me")]


def test_strings_inside_a_list_are_user_turns() -> None:
    turns = normalise_messages(["one", {"role": "assistant", "content": "two"}], default_time=5.0)
    assert [(t.role, t.content, t.timestamp) for t in turns] == [
        ("user", "one", 5.0), ("assistant", "two", 5.0)]


def test_int_ids_become_strings() -> None:
    turns = normalise_messages([{"content": "a", "id": 7}, {"content": "b", "id": 0}])
    assert [t.source_id for t in turns] == ["7", "0"]


def test_bool_id_is_not_taken_for_an_int() -> None:
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.id must be a string"):
        normalise_messages([{"content": "a", "id": True}])


def test_empty_list_rejected() -> None:
    with pytest.raises(InvalidInput, match="must not be empty"):
        normalise_messages([])


@pytest.mark.parametrize("bad", [None, 42, b"bytes", bytearray(b"x"), 3.5])
def test_non_message_types_rejected(bad: object) -> None:
    with pytest.raises(InvalidInput, match="messages must be a string or a list"):
        normalise_messages(bad)


def test_list_item_of_wrong_type_is_named() -> None:
    with pytest.raises(InvalidInput, match=r"messages\[1\] must be a dict or string, got int"):
        normalise_messages(["fine", 5])


def test_unknown_role_is_named_in_the_message() -> None:
    with pytest.raises(InvalidInput) as ei:
        normalise_messages([{"role": "user", "content": "ok"}, {"role": "wizard", "content": "x"}])
    msg = str(ei.value)
    assert "wizard" in msg
    assert "messages[1].role" in msg


@pytest.mark.parametrize("content", [None, 5, ["a"], {"text": "a"}])
def test_non_string_content_rejected(content: object) -> None:
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.content must be a string"):
        normalise_messages([{"role": "user", "content": content}])


def test_missing_content_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.content"):
        normalise_messages([{"role": "user"}])


@pytest.mark.parametrize("content", ["", "   ", "\n\t"])
def test_empty_or_blank_content_rejected(content: str) -> None:
    with pytest.raises(InvalidInput, match="must not be empty"):
        normalise_messages([{"content": content}])
    with pytest.raises(InvalidInput, match="must not be empty"):
        normalise_messages(content)


def test_nul_byte_rejected() -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        normalise_messages([{"content": "bad\x00byte"}])
    with pytest.raises(InvalidInput, match="NUL"):
        normalise_messages("bad\x00byte")


def test_unknown_fields_are_listed() -> None:
    with pytest.raises(InvalidInput) as ei:
        normalise_messages([{"content": "x", "colour": "red", "mood": 1}])
    assert "colour" in str(ei.value) and "mood" in str(ei.value)
    assert "messages[0]" in str(ei.value)


def test_duplicate_ids_within_one_add_rejected() -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        normalise_messages([{"content": "a", "id": "x"}, {"content": "b", "id": "x"}])


def test_int_and_string_id_of_same_value_are_duplicates() -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        normalise_messages([{"content": "a", "id": 1}, {"content": "b", "id": "1"}])


def test_content_size_cap_is_inclusive() -> None:
    ok = "a" * MAX_CONTENT_CHARS
    assert normalise_messages(ok)[0].content == ok
    with pytest.raises(InvalidInput, match="longer than"):
        normalise_messages([{"content": ok + "a"}])


def test_bad_name_and_bad_timestamp_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.name must not be empty"):
        normalise_messages([{"content": "x", "name": " "}])
    with pytest.raises(InvalidInput, match=r"messages\[0\]\.timestamp"):
        normalise_messages([{"content": "x", "timestamp": "yesterday-ish"}])


# -- parse_time -------------------------------------------------------------------------
def test_parse_time_none_stays_none() -> None:
    assert parse_time(None) is None


def test_naive_datetime_is_utc() -> None:
    assert parse_time(datetime(2024, 5, 1, 10, 0)) == T0


def test_aware_datetime_keeps_its_offset() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert parse_time(datetime(2024, 5, 1, 12, 0, tzinfo=plus2)) == T0


def test_date_is_midnight_utc() -> None:
    assert parse_time(date(2024, 5, 1)) == datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("text", [
    "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00", "2024-05-01T12:00:00+02:00",
    "2024-05-01 10:00:00", "  2024-05-01T10:00:00Z  ",
])
def test_iso_strings(text: str) -> None:
    assert parse_time(text) == T0


def test_iso_date_only_string() -> None:
    assert parse_time("2024-05-01") == datetime(2024, 5, 1, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("value", [T0, int(T0), 0, -1.5])
def test_epoch_seconds_pass_through_as_float(value: float) -> None:
    out = parse_time(value)
    assert out == float(value) and isinstance(out, float)


@pytest.mark.parametrize("value", [True, False])
def test_bool_rejected(value: bool) -> None:
    with pytest.raises(InvalidInput):
        parse_time(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e20, -1e20])
def test_non_finite_or_out_of_range_epoch_rejected(value: float) -> None:
    with pytest.raises(InvalidInput, match="out of range"):
        parse_time(value)


@pytest.mark.parametrize("value", ["garbage", "", "2024-13-45", "May 1st"])
def test_garbage_string_rejected(value: str) -> None:
    with pytest.raises(InvalidInput, match="ISO-8601"):
        parse_time(value, "when")


def test_unsupported_type_rejected_with_name() -> None:
    with pytest.raises(InvalidInput, match=r"^ts must be .* got list$"):
        parse_time([2024], "ts")


# -- check_id ---------------------------------------------------------------------------
def test_check_id_accepts_and_returns_value() -> None:
    assert check_id("user-1", "user_id") == "user-1"
    assert check_id("x" * MAX_ID_CHARS, "user_id") == "x" * MAX_ID_CHARS


def test_check_id_required_and_optional() -> None:
    with pytest.raises(InvalidInput, match="user_id is required"):
        check_id(None, "user_id")
    assert check_id(None, "agent_id", required=False) is None


@pytest.mark.parametrize("value, pattern", [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    (5, "must be a string, got int"),
    (b"u", "must be a string, got bytes"),
    ("x" * (MAX_ID_CHARS + 1), "longer than"),
    ("a\nb", "control characters"),
    ("a\x00b", "control characters"),
    ("a\x7fb", "control characters"),
])
def test_check_id_rejects(value: object, pattern: str) -> None:
    with pytest.raises(InvalidInput, match=pattern):
        check_id(value, "user_id")
