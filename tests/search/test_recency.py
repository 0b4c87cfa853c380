"""Currentness (search/recency.py) and the people rules (search/stages.py): pure
functions, then the engine end to end with the packaged model."""

from __future__ import annotations

import pytest

from remem.search import recency
from remem.search.recency import NOW, CURRENT, PAST, NEUTRAL, mark_outdated, promote_newer, tense
from remem.search.stages import boost_mentioned, weigh_importance


@pytest.mark.parametrize("query, expected", [
    ("Is Jess still working nights?", NOW),
    ("What do I do for a living these days?", NOW),
    ("Which town am I living in now?", NOW),
    ("Where did Priya and Mateo end up going for a trip?", NOW),
    ("Who's my son's teacher this year?", NOW),
    ("Where does Bea live?", CURRENT),
    ("What's my degree subject?", CURRENT),
    ("Where did Bea live?", PAST),
    ("What was his first job?", PAST),
    ("What workshop did Caroline attend recently?", PAST),
    ("Bea's address", NEUTRAL),
])
def test_tense_reads_the_question(query: str, expected: str) -> None:
    assert tense(query) == expected


def test_a_time_range_or_as_of_makes_any_question_about_then() -> None:
    assert tense("Where does Bea live now?", has_time_range=True) == PAST
    assert tense("Where does Bea live now?", as_of=True) == PAST


def _parts(scores: dict[str, float]) -> dict[str, dict[str, float]]:
    return {d: {"dense": s} for d, s in scores.items()}


def test_promote_newer_lifts_later_restatements_by_the_same_speaker() -> None:
    parts = _parts({"old": 1.0, "mid": 0.8, "new": 0.6, "other": 0.9, "weak": 0.2})
    times = {"old": 1.0, "mid": 2.0, "new": 3.0, "other": 4.0, "weak": 5.0}
    who = {"old": "Bea", "mid": "Bea", "new": "Bea", "other": "Max", "weak": "Bea"}
    out, newer = promote_newer(parts, times, who, window=10, ratio=0.5)
    rank = sorted(out, key=lambda d: -sum(out[d].values()))
    # both later statements by Bea pass the old one, in their own order; Max's turn
    # (another speaker) and the weak one (under half as relevant) do not move
    assert rank[:3] == ["mid", "new", "old"] or rank[:3] == ["new", "mid", "old"]
    assert rank.index("old") < rank.index("other") and rank[-1] == "weak"
    assert "recency" in out["new"] and "recency" not in out["other"]
    assert newer["old"] == "new"  # the latest restatement
    assert out["old"] == parts["old"]  # the older memory keeps its own score


def test_promote_newer_never_moves_candidates_outside_the_window() -> None:
    parts = _parts({"a": 1.0, "b": 0.9, "late": 0.85})
    times = {"a": 1.0, "b": 2.0, "late": 9.0}
    who = dict.fromkeys(parts, "Bea")
    out, _ = promote_newer(parts, times, who, window=2, ratio=0.5)
    assert "recency" not in out["late"]
    assert promote_newer(parts, times, who, window=1, ratio=0.5) == (parts, {})


def test_promote_newer_can_require_similar_vectors() -> None:
    import numpy as np

    parts = _parts({"a": 1.0, "b": 0.9})
    times, who = {"a": 1.0, "b": 2.0}, {"a": "Bea", "b": "Bea"}
    vecs = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}
    out, newer = promote_newer(parts, times, who, window=5, ratio=0.5, vectors=vecs, min_sim=0.5)
    assert newer == {} and "recency" not in out["b"]


def test_mark_outdated_only_when_the_newer_one_ranks_above() -> None:
    explain: dict[str, float] = {}
    mark_outdated(explain, "old", {"old": "new"}, ["new", "old"])
    assert explain == {"outdated": 1.0}
    explain = {}
    mark_outdated(explain, "old", {"old": "new"}, ["old", "new"])
    assert explain == {}


def test_naming_the_owner_does_not_rerank() -> None:
    parts = _parts({"cat": 0.5, "surf": 0.6, "reply": 0.7})
    speaker = {"cat": "Bea", "surf": "Bea", "reply": "Assistant"}
    own = {"cat": True, "surf": True, "reply": False}
    # every one of the people's own turns is Bea's: "Bea" names the owner, nothing moves
    assert boost_mentioned(parts, speaker, {"Bea"}, 1.0, own_words=own) == parts
    # with a second person in the memory, naming one of them does tell turns apart
    speaker2 = dict(speaker, surf="Max")
    out = boost_mentioned(parts, speaker2, {"Bea"}, 1.0, own_words=own)
    assert out["cat"]["speaker"] == 0.5 and "speaker" not in out["surf"]


def test_weigh_importance_scales_by_distance_from_the_default() -> None:
    out = weigh_importance(_parts({"user": 1.0, "assistant": 1.0, "pinned": 1.0}),
                           {"user": 0.5, "assistant": 0.3, "pinned": 0.9}, 2.0)
    assert "importance" not in out["user"]
    assert out["assistant"]["importance"] == pytest.approx(-0.4)
    assert out["pinned"]["importance"] == pytest.approx(0.8)
    assert weigh_importance(out, {}, 0.0) is out


def test_recency_module_exports_its_tense_names() -> None:
    assert {recency.NOW, recency.CURRENT, recency.PAST, recency.NEUTRAL} == {
        "now", "current", "past", "neutral"}


def test_owners_are_names_that_cover_every_person() -> None:
    from remem.search.stages import owners, without_names

    speaker = {"a": "Bea", "b": "Assistant", "c": None, "d": "Bea"}
    own = {"a": True, "b": False, "c": True, "d": True}  # c: a derived row, no speaker
    assert owners({"Bea"}, speaker, own) == {"Bea"}
    assert owners(set(), speaker, own) == set()
    two = dict(speaker, d="Max")
    assert owners({"Bea"}, two, own) == set()  # Max speaks too: "Bea" tells turns apart
    assert owners({"Bea", "Max"}, two, own) == {"Bea", "Max"}  # naming everyone does not
    assert without_names("Does Bea have any pets?", {"Bea"}) == "Does she have any pets?"
    assert without_names("Who is Bea's sister? bea!", {"Bea"}) == "Who is her sister? she!"
    assert without_names("Beatrice and Bea", {"Bea"}) == "Beatrice and she"


def test_a_question_about_one_person_is_put_in_their_voice() -> None:
    from remem.search.stages import in_voice

    assert in_voice("What did Caroline research?", {"Caroline"}) == \
        "Caroline: What did she research?"
    assert in_voice("Where is Mel's studio?", {"Mel"}) == "Mel: Where is her studio?"
    assert in_voice("What did they research?", set()) is None  # nobody named
    assert in_voice("Did Caroline meet Mel?", {"Caroline", "Mel"}) is None  # two people
    # the asker's own words would become the named person's
    assert in_voice("Where can I buy Rosa's arepas?", {"Rosa"}) is None
    assert in_voice("What’s my sister Bea doing?", {"Bea"}) is None
    assert in_voice("Did Bea tell us?", {"Bea"}) is None


def test_search_embeds_the_voiced_question_unless_it_asks_about_now(tmp_path) -> None:  # noqa: ANN001
    import dataclasses

    from remem import HashingEmbedder, Memory

    class Spy(HashingEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def embed(self, texts):  # noqa: ANN001, ANN201
            self.seen.extend(texts)
            return super().embed(texts)

    spy = Spy()
    with Memory(tmp_path / "v.db", embedder=spy) as m:
        m.add([{"name": "Caroline", "content": "I researched adoption agencies."},
               {"name": "Mel", "content": "I painted a lake at sunrise."}], user_id="u")
        spy.seen.clear()
        m.search("What did Caroline research?", user_id="u")
        assert "Caroline: What did she research?" in spy.seen
        spy.seen.clear()
        m.search("What is Caroline researching now?", user_id="u")  # currentness reads it
        assert spy.seen == ["What is Caroline researching now?"]
        m.config = dataclasses.replace(m.config, speaker_voice=False)
        spy.seen.clear()
        m.search("What did Caroline research?", user_id="u")
        assert spy.seen == ["What did Caroline research?"]
