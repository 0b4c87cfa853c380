from remem import SearchConfig, HashingEmbedder, Memory
from remem.ingest.entities import extract, normalise
from remem.search.graph import query_entities, spread


def test_extract_names_places_titles_and_known_speakers():
    ents = dict(extract('Hey Mel! I read "Nothing is Impossible" with my grandma from Sweden.',
                        ["Melanie", "Mel"]))
    assert ents == {"mel": "Mel", "nothing is impossible": "Nothing is Impossible",
                    "sweden": "Sweden"}
    assert dict(extract("My friend John Smith works at Google in New York.")) == {
        "john smith": "John Smith", "google": "Google", "new york": "New York"}
    # sentence openers, pronouns and weekdays are not entities
    assert extract("Thanks! I'm off. Wow, great. Yesterday was Friday.") == []
    assert dict(extract("we met caroline today", ["Caroline"])) == {"caroline": "Caroline"}


def test_normalise_strips_possessive_and_punctuation():
    assert normalise("Caroline's") == "caroline"
    assert normalise("  New   York! ") == "new york"


def test_query_entities_matches_word_sequences():
    keys = {"new york", "york", "sweden", "amy ellis nutt"}
    assert query_entities("When did Ana visit New York?", keys) == {"new york", "york"}
    assert query_entities("Who wrote the book by Amy Ellis Nutt", keys) == {"amy ellis nutt"}
    assert query_entities("nothing here", keys) == set()


def test_spread_reaches_second_hop_through_shared_entities():
    # m1 mentions seed 1 and entity 2; m2 mentions entity 2 only; m3 mentions nothing shared
    links = [("m1", 1), ("m1", 2), ("m2", 2), ("m3", 3)]
    scores = spread({1: 1.0}, links, {1: 1, 2: 2, 3: 1}, alpha=0.5)
    assert scores["m1"] > scores["m2"] > 0
    assert "m3" not in scores


def test_graph_signal_finds_memory_about_an_entity(tmp_path):
    # the graph signal is off by default (it did not add recall on the dev sets): on here
    cfg = SearchConfig(weights={"lexical": 1.0, "dense": 1.0, "graph": 0.5})
    with Memory(tmp_path / "g.db", embedder=HashingEmbedder(), config=cfg) as m:
        m.add([
            {"role": "user", "name": "Ana", "content": "My grandma gave me a necklace in Sweden."},
            {"role": "user", "name": "Max", "content": "That sounds lovely."},
            {"role": "user", "name": "Ana", "content": "We also visited Stockholm and Sweden's coast."},
        ], user_id="ana")
        hits = m.search("Sweden", user_id="ana", limit=5)
        graph_hits = [h for h in hits if "graph" in h.explain]
        assert graph_hits and all("Sweden" in h.text for h in graph_hits)
        assert m.get(hits[0].id).text in {h.text for h in graph_hits}
        # another user's entity graph is never reached
        assert m.search("Sweden", user_id="bob") == []
