"""``remem bench scale``: ingest rate, search latency and store size as one scope grows.

Synthetic but realistic chat turns (template sentences over rich vocabularies: people,
places, dates, activities, foods, jobs, pets) are added through the public ``Memory`` API
in batches; at each requested size the step's ingest rate, search latency percentiles
(query embedding included) and the store's bytes on disk are measured. No LLM, no data
download; deterministic per seed."""

from __future__ import annotations

import os
import random
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Sequence

from ..errors import InvalidInput, RememError
from . import metrics


def _words(text: str) -> list[str]:
    """A vocabulary list written as ``|``-separated items."""
    return [w for w in text.split("|") if w]


VOCAB: dict[str, list[str]] = {
    "name": _words("Ana|Max|Priya|Tomás|Yuki|Olu|Sofia|Liam|Mei|Karim|Elena|Jonas|Aisha|Diego|"
                   "Nora|Ravi|Chloe|Mateo|Ingrid|Kwame|Lucia|Hugo|Zara|Felix|Amara|Omar|Greta|"
                   "Sven|Leila|Marco|Hana|Dmitri|Rosa|Theo|Imani|Pablo|Freya|Jin|Adele|Bruno"),
    "relative": _words("sister|brother|mom|dad|cousin|aunt|uncle|grandmother|grandfather|niece|"
                       "nephew|best friend|roommate|neighbour|coworker|boss|partner|daughter|"
                       "son"),
    "city": _words("Lisbon|Kyoto|Nairobi|Oslo|Buenos Aires|Montreal|Hanoi|Marrakesh|Reykjavik|"
                   "Edinburgh|Seville|Cape Town|Melbourne|Prague|Istanbul|Lima|Vancouver|Seoul|"
                   "Dublin|Porto|Tbilisi|Krakow|Cartagena|Bergen|Valparaiso|Zanzibar|Tallinn|"
                   "Bologna|Chiang Mai|Santa Fe|Ljubljana|Quebec City|Hobart|Granada|Tromso"),
    "place": _words("the farmers market|the climbing gym|the public library|a jazz bar|"
                    "the lake|the botanical garden|a tiny ramen shop|the old cinema|"
                    "the community pool|the dog park|a pottery studio|the night market|"
                    "the science museum|a rooftop bar|the bookshop on the corner|the ice rink|"
                    "the beach|the zoo|a vineyard|the skate park|the hospital|"
                    "the train station|a karaoke place"),
    "activity": _words("hiking|rock climbing|painting|baking sourdough|running|swimming|"
                       "learning Spanish|playing chess|gardening|knitting|surfing|cycling|yoga|"
                       "birdwatching|writing poetry|photography|woodworking|salsa dancing|"
                       "skiing|kayaking|playing the cello|learning guitar|journaling|fishing|"
                       "volunteering at the shelter|coding a side project|making pottery|"
                       "training for a marathon|brewing kombucha|reading sci-fi"),
    "food": _words("pad thai|tacos al pastor|mushroom risotto|pho|lasagna|sushi|falafel|"
                   "butter chicken|paella|pierogi|shakshuka|ramen|empanadas|moussaka|bibimbap|"
                   "ceviche|goulash|jollof rice|pancakes|banana bread|lemon tart|dumplings|"
                   "mac and cheese|tiramisu|vegan curry|grilled sardines|borscht"),
    "job": _words("nurse|software engineer|teacher|architect|chef|data analyst|pharmacist|"
                  "graphic designer|electrician|veterinarian|journalist|accountant|"
                  "physiotherapist|librarian|pilot|marine biologist|barista|lawyer|carpenter|"
                  "product manager|social worker|dentist|translator|firefighter|sound engineer"),
    "company": _words("a robotics startup|the city council|a small bakery|a big bank|"
                      "a game studio|the university|a hospital|a solar energy firm|a nonprofit|"
                      "a shipping company|a design agency|a vet clinic"),
    "pet": _words("dog|cat|rabbit|parrot|hamster|turtle|goldfish|ferret|guinea pig|gecko|horse|"
                  "cockatiel|hedgehog"),
    "petname": _words("Biscuit|Pimenta|Luna|Mochi|Rex|Olive|Pepper|Ziggy|Nala|Toast|Bean|"
                      "Waffles|Kiwi|Socks|Juniper|Pickles|Marble|Chewie|Tofu|Basil"),
    "thing": _words("a new bike|a secondhand piano|an old camera|a tent|a telescope|"
                    "a sewing machine|a kayak|a record player|a sofa|a drone|a fountain pen|"
                    "running shoes|a houseplant|a board game|a vintage jacket|an e-reader"),
    "feeling": _words("excited|nervous|exhausted|thrilled|a bit sad|relieved|proud|anxious|"
                      "grateful|overwhelmed|calm|curious|homesick|motivated"),
    "weekday": _words("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"),
    "month": _words("January|February|March|April|May|June|July|August|September|October|"
                    "November|December"),
    "when": _words("yesterday|last weekend|this morning|two weeks ago|last night|"
                   "a few days ago|over the holidays|last summer|earlier today|last month"),
    "book": _words("Dune|Middlemarch|The Hobbit|Beloved|Piranesi|Normal People|The Overstory|"
                   "Circe|Project Hail Mary|The Left Hand of Darkness|Pachinko|Station Eleven|"
                   "Klara and the Sun|The Remains of the Day"),
    "sport": _words("football|basketball|tennis|volleyball|rugby|cricket|badminton|"
                    "table tennis|water polo|ultimate frisbee|hockey"),
    "color": _words("blue|green|yellow|red|purple|orange|teal|black|white|pink"),
    "illness": _words("a cold|the flu|a sprained ankle|a migraine|a broken wrist|allergies|"
                      "a sore back|food poisoning"),
}

TEMPLATES: tuple[str, ...] = (
    "I went {activity} with my {relative} {when} and it was amazing.",
    "My {relative} {name} just moved to {city} for a job as a {job}.",
    "We finally adopted a {pet} and named it {petname}.",
    "{petname}, my {pet}, learned a new trick {when}!",
    "I made {food} for dinner {when}, first time trying the recipe.",
    "I'm thinking about taking up {activity} again this {month}.",
    "Do you remember when we ate {food} in {city}? I still think about it.",
    "I started a new job as a {job} at {company} on {weekday}.",
    "{name} and I are planning a trip to {city} in {month}.",
    "I've been feeling {feeling} since the interview on {weekday}.",
    "My favourite color used to be {color}, but now it's {color}.",
    "I'm reading {book} right now and can't put it down.",
    "{name} recommended {book}; have you read it?",
    "We spent the afternoon at {place} with {name} and the kids.",
    "I bought {thing} {when} and I'm already obsessed.",
    "My {relative} has {illness}, so I'm visiting on {weekday}.",
    "I joined a {sport} team that plays every {weekday} evening.",
    "The {sport} match {when} was so intense, we won in the last minute.",
    "I've been {activity} every {weekday} for about {num} weeks now.",
    "Honestly I feel {feeling} about moving to {city} next {month}.",
    "{name} works as a {job} and hates the night shifts.",
    "My {pet} {petname} got sick {when}, we went to the vet.",
    "I ran into {name} at {place} {when}, we hadn't talked in years.",
    "For my birthday on {num} {month} I want to try {food} at a fancy place.",
    "I think I'll quit being a {job} and become a {job} instead.",
    "Our book club is reading {book} this {month}.",
    "I painted my bedroom {color} and it looks so cozy.",
    "{name} taught me {activity} when we lived in {city}.",
    "I lost my {thing_short} at {place} {when}, so annoying.",
    "We celebrated {name}'s promotion with {food} and cake.",
    "I'm {feeling} because my {relative} is coming to visit on {weekday}.",
    "The trip to {city} in {month} was the best week of my year.",
    "I volunteered at {place} {when} with {name}.",
    "My goal this year is to get better at {activity}.",
    "I can't eat {food} anymore, the doctor said I'm allergic.",
    "{name} gave me {thing} as a gift {when}.",
    "I'm learning to cook {food} because {name} loves it.",
    "We watched {sport} at {place} on {weekday} night.",
    "I got {illness} {when} and had to skip {activity}.",
    "Thinking of getting a second {pet}, maybe one called {petname}.",
    "{name} and {name} are getting married in {city} in {month}!",
    "Work at {company} has been {feeling_adj} lately, lots of deadlines.",
    "I took {num} photos at {place} {when}.",
    "My {relative} finally visited {city} and loved the {food}.",
    "I've lived in {city} for {num} years, but I grew up near {city}.",
    "What should I bring to {name}'s party on {weekday}? Maybe {food}?",
    "Yesterday's {activity} session left me {feeling} but happy.",
    "I spent {num} dollars on {thing} and don't regret it.",
)

OPENERS = _words("Honestly, |So, |Guess what: |Oh, and |By the way, |Funny story: |Update: |"
                 "Okay so |Not sure if I told you, but |Quick one: ")
TAILS = _words(" Anyway, how was your {weekday}?| {name} says hi.| Wish you'd been there.|"
               " I'll send pictures later.| It reminded me of {city}.| Long story, tell you later.|"
               " {name} couldn't stop laughing.| Still can't believe it.| We should go together.|"
               " Next time I'm bringing {food}.| I'm {feeling} about it, to be honest.")

_EXTRA = {
    "num": [str(n) for n in range(2, 29)],
    "thing_short": _words("keys|wallet|phone|umbrella|scarf|headphones|sunglasses|water bottle"),
    "feeling_adj": _words("hectic|stressful|calm|chaotic|rewarding|boring|intense|fun"),
}
_SLOTS = {**VOCAB, **_EXTRA}
_AN = re.compile(r"\b([Aa]) ([aeiouAEIOU])")  # "a architect" -> "an architect"


def _fill(template: str, rng: random.Random) -> str:
    """Fill every ``{slot}`` of a template; a slot used twice gets two different words."""
    out, rest = [], template
    used: set[str] = set()
    while "{" in rest:
        head, _, tail = rest.partition("{")
        slot, _, rest = tail.partition("}")
        word = rng.choice(_SLOTS[slot])
        while word in used:  # "{name} and {name}" names two different people
            word = rng.choice(_SLOTS[slot])
        used.add(word)
        out += [head, word]
    out.append(rest)
    return _AN.sub(r"\1n \2", "".join(out))


def synthetic_turns(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` chat turns as OpenAI-style dicts with ids ``t0..t{n-1}``; deterministic per
    ``seed``. Two speakers alternate in conversations of 20 turns, then a new pair starts."""
    rng = random.Random(seed)
    names = VOCAB["name"]
    turns: list[dict[str, Any]] = []
    pair = (names[0], names[1])
    for i in range(n):
        if i % 20 == 0:
            a, b = rng.sample(names, 2)
            pair = (a, b)
        template = rng.choice(TEMPLATES)
        if rng.random() < 0.3:
            keep = template.startswith(("{", "I ", "I'"))
            body = template if keep else template[0].lower() + template[1:]
            template = rng.choice(OPENERS) + body
        text = _fill(template, rng)
        if rng.random() < 0.4:
            text += _fill(rng.choice(TAILS), rng)
        turns.append({"role": "user", "name": pair[i % 2], "content": text, "id": f"t{i}"})
    return turns


def synthetic_queries(n: int, seed: int) -> list[str]:
    """``n`` search queries from the same templates (a different stream than the turns)."""
    rng = random.Random(seed * 7919 + 104729)
    return [_fill(rng.choice(TEMPLATES), rng) for _ in range(n)]


def store_bytes(mem: Any) -> tuple[int | None, int | None]:
    """(database file, WAL file) bytes on disk; zeros for in-memory stores. A store that
    reports its own size (PostgreSQL: tables with their indexes and TOAST) gives
    (that size, None); one that cannot be measured gives (None, None)."""
    store = getattr(mem, "store", None)
    if hasattr(store, "size_bytes"):
        try:
            return store.size_bytes(), None
        except RememError:
            return None, None
    path = str(getattr(store, "path", ":memory:"))
    if path == ":memory:":
        return 0, 0
    db, wal = (os.path.getsize(p) if os.path.exists(p) else 0 for p in (path, path + "-wal"))
    return db, wal


def text_bytes(mem: Any) -> int | None:
    """UTF-8 bytes of all memory texts in a SQLite store file (``None`` for other stores):
    what the store holds beyond them is its overhead."""
    path = str(getattr(getattr(mem, "store", None), "path", ":memory:"))
    if path == ":memory:" or not os.path.exists(path):
        return None
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT total(length(CAST(text AS BLOB))) FROM memories")
                   .fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        db.close()


def time_searches(mem: Any, queries: Sequence[str], user_id: str, limit: int = 10) -> list[float]:
    """Latency (ms) of each search; the first query is a warm-up and is not returned."""
    out: list[float] = []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        mem.search(q, user_id=user_id, limit=limit)
        if i:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def run(
    memory_factory: Callable[[], Any],
    *,
    sizes: list[int],
    users: int = 1,
    queries: int = 200,
    batch: int = 50,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Grow user ``scale-0`` to each size in ``sizes`` (turns in that scope) and measure.

    Turns are added ``batch`` per ``add`` call, one session per batch, a day apart. With
    ``users > 1`` batches go round-robin to ``scale-0..scale-{users-1}``, so every scope
    grows alike and the store holds ``users`` x size turns; scale-0 is the one searched."""
    if not sizes or any(s <= 0 for s in sizes) or list(sizes) != sorted(set(sizes)):
        raise InvalidInput("sizes must be positive and strictly ascending")
    if users < 1 or queries < 1 or batch < 1:
        raise InvalidInput("users, queries and batch must be >= 1")
    user_ids = [f"scale-{u}" for u in range(users)]
    turns = synthetic_turns(sizes[-1] * users, seed)
    qs = synthetic_queries(queries + 1, seed)
    start = datetime(2023, 1, 1, 9, 0, tzinfo=timezone.utc)
    total = sizes[-1] * users + queries * len(sizes)
    done, pos, session = 0, 0, 0
    in_scope = 0  # turns stored for scale-0
    points: list[dict[str, Any]] = []
    load_start = os.getloadavg()[0]
    mem = memory_factory()
    try:
        for size in sizes:
            added, spent = 0, 0.0
            while in_scope < size:
                n = min(batch, size - in_scope)
                for user in user_ids:
                    chunk = turns[pos : pos + n]
                    pos += n
                    t0 = time.perf_counter()
                    mem.add(chunk, user_id=user, session_id=f"s{session}",
                            timestamp=start + timedelta(days=session))
                    spent += time.perf_counter() - t0
                    session += 1
                    added += len(chunk)
                in_scope += n
                done += n * users
                if progress:
                    progress(done, total)
            lat = time_searches(mem, qs, user_ids[0])
            done += queries
            if progress:
                progress(done, total)
            scope_mem = mem.count(user_id=user_ids[0])
            all_mem = sum(mem.count(user_id=u) for u in user_ids)
            db_bytes, wal_bytes = store_bytes(mem)
            nbytes = None if db_bytes is None else db_bytes + (wal_bytes or 0)
            texts = text_bytes(mem)
            points.append({
                "size": size, "memories": scope_mem, "total_memories": all_mem,
                "ingest_turns_per_s": round(added / spent, 1) if spent else None,
                "search_p50_ms": round(metrics.percentile(lat, 50), 2),
                "search_p95_ms": round(metrics.percentile(lat, 95), 2),
                "search_max_ms": round(max(lat), 2), "store_bytes": nbytes,
                "wal_bytes": wal_bytes,
                "bytes_per_memory": round(nbytes / all_mem) if all_mem and nbytes else None,
                # on disk (file + WAL) minus the memories' own texts
                "beyond_text_bytes_per_memory": round((nbytes - texts) / all_mem)
                if all_mem and nbytes and texts is not None else None})
    finally:
        mem.close()
    config = {"sizes": list(sizes), "users": users, "queries": queries, "batch": batch,
              "seed": seed, "limit": 10, "embedder": getattr(mem.embedder, "name", None),
              "cpus": os.cpu_count(), "load_1m": [load_start, os.getloadavg()[0]],
              "note": "size = turns in scope scale-0; memories include derived segments; "
                      "search latency includes query embedding, first query is warm-up"}
    return {"points": points, "config": config}


def format_plain(result: dict[str, Any]) -> str:
    """The points as an aligned table, then the configuration on one line."""
    mb = lambda v: f"{v / 1e6:.1f}"  # noqa: E731
    cols: list[tuple[str, str, Callable[[Any], str]]] = [
        ("size", "size", str), ("memories", "memories", str),
        ("ingest_turns_per_s", "turns/s", str),
        ("search_p50_ms", "p50 ms", str), ("search_p95_ms", "p95 ms", str),
        ("search_max_ms", "max ms", str), ("store_bytes", "MB", mb), ("wal_bytes", "WAL MB", mb),
        ("bytes_per_memory", "B/mem", str), ("beyond_text_bytes_per_memory", "-text B", str)]
    rows = [[head for _, head, _ in cols]]
    rows += [["-" if p.get(k) is None else f(p[k]) for k, _, f in cols] for p in result["points"]]
    lines = ["".join(f"{cell:>10}" for cell in row) for row in rows]
    c = result["config"]
    lines.append(f"embedder {c['embedder']}, users {c['users']}, batch {c['batch']}, "
                 f"{c['queries']} queries per size (limit {c['limit']}), seed {c['seed']}, "
                 f"{c['cpus']} cpus, load {c['load_1m'][0]:.2f} -> {c['load_1m'][1]:.2f}")
    return "\n".join(lines)
