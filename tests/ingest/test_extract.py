from datetime import datetime, timezone

from remem.ingest.extract import resolve_pronouns, session_candidates
from remem.config import ExtractConfig
from remem.types import Turn

T = datetime(2023, 5, 8, tzinfo=timezone.utc).timestamp()


def test_resolve_pronouns_first_and_second_person():
    assert resolve_pronouns("I adopted my dog", "Ana", "Max") == "Ana adopted Ana's dog"
    assert resolve_pronouns("Did you see your sister?", "Ana", "Max") == "Did Max see Max's sister?"
    assert resolve_pronouns("I'm happy", "Ana", None) == "Ana is happy"
    # unknown listener: second person stays as is
    assert resolve_pronouns("you rock", "Ana", None) == "you rock"
    # words merely containing pronoun letters are untouched
    assert resolve_pronouns("Mine craft is mine", "Ana", "Max").startswith("Ana's craft")
    assert "iMac" in resolve_pronouns("my iMac", "Ana", "Max")


def _turns():
    return [
        Turn("user", "Did you go anywhere fun?", name="Max", source_id="1"),
        Turn("user", "I went to a pottery class yesterday!", name="Ana", source_id="2"),
    ]


def test_key_expansion_indexes_speaker_listener_dates_and_context():
    cands = session_candidates(_turns(), [T, T])
    first, second = cands[0][0], cands[1][0]
    assert second.text == "I went to a pottery class yesterday!"  # returned text is verbatim
    keys = second.keys.split("\n")
    assert "Ana" in keys  # speaker
    assert "7 May 2023" in keys  # resolved date
    assert "Did you go anywhere fun?" in keys  # the turn it answers
    assert second.embed_text.startswith("Ana: Ana went to a pottery class")
    assert "Ana" in first.keys.split("\n")  # "you" addressed to the listener
    assert [m.label() for m in second.dates] == ["7 May 2023"]


def test_each_mechanism_switches_off():
    off = ExtractConfig(speaker_keys=False, pronoun_resolution=False, time_keys=False,
                        context_keys=False)
    second = session_candidates(_turns(), [T, T], off)[1][0]
    assert second.keys == ""
    assert second.dates == ()
    assert second.embed_text == "Ana: I went to a pottery class yesterday!"
