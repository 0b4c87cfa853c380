"""Every public configuration: retrieval (``SearchConfig``), LLM-free extraction
(``ExtractConfig``) and maintenance (``MaintainConfig`` with its ``ForgetPolicy``), kept
apart from the engine so benchmarks and the CLI can build and vary them without touching
it. All frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .errors import InvalidInput


@dataclass(frozen=True)
class SearchConfig:
    """Retrieval knobs. ``weights`` are per-signal RRF weights (0 switches a signal off)."""

    candidates: int = 50  # per signal (at least ``limit``)
    keys_weight: float = 0.5  # BM25 weight of the expanded keys column (text is 1.0)
    lexical_max_df: float | None = 0.25  # query terms in more rows than this share are dropped
    lexical_prune_min_rows: int = 2_000  # ... once the index has at least this many rows
    # and the rarest terms are kept only while their rows add up to at most this many:
    # bounds BM25 work in big scopes (no effect below ~20k memories)
    lexical_max_postings: int | None = 40_000
    # (pruning at 0.25 from the first row is neutral on LoCoMo dev: R@10 +0.006, R@1000w -0.005)
    # The defaults below were tuned on the three dev sets together (LoCoMo, its
    # paraphrased questions, the user stories; docs/retrieval.md has the table)
    # "evidence": each signal on an absolute scale, trusted as far as it has evidence
    # for this query (search/fusion.py); "convex" (min-max) and "rrf" as before
    fusion: str = "evidence"
    rrf_k: float = 5.0
    # evidence fusion: lexical counts fully once the best memory matches this share of
    # the query's BM25 weight, not at all below lexical_floor (a paraphrase matches a
    # word or two by chance); a cosine of dense_floor is what unrelated texts reach
    lexical_floor: float = 0.3
    lexical_full: float = 0.6
    dense_floor: float = 0.2
    weights: Mapping[str, float] = field(
        default_factory=lambda: {"lexical": 1.0, "dense": 1.0, "graph": 0.5})
    graph_alpha: float = 0.5  # damping of the second hop in the entity graph
    graph_hub_share: float = 0.05  # entities in more than this share of memories are hubs
    graph_hub_min: int = 20
    # query entities in more memories than this are hubs anyway, and the second hop goes
    # only through entities in at most graph_follow_max memories (200/30 before: same
    # LoCoMo dev recall, graph time at a 10k scope 1.18 -> 0.07 ms mean, 6.4 -> 1.9 max)
    graph_seed_max: int = 60
    graph_follow_max: int = 15
    speaker_boost: float = 0.5  # x fused score for memories by a person the query names
    # a question naming the memory's owner is embedded without the name (see
    # search/stages.py owners / without_names)
    owner_neutral: bool = True
    # a question about one person the memory has turns of (not about now, not in the
    # first person) is embedded as that person's own line: "Caroline: what did she
    # research?", the way turns are embedded ("Speaker: text"; see stages.in_voice)
    speaker_voice: bool = True
    time_boost: float = 1.0  # x fused score for memories inside the query's time range
    neighbour_factor: float = 0.0  # adjacent turns of a hit join at this x its score
    neighbour_window: int = 1
    neighbour_hits: int = 5  # how many top hits offer their neighbours
    question_penalty: float = 0.3  # x fused score taken from turns that only ask a question
    segment_credit: float = 0.5  # a segment hit lends this x its score to its turns
    segment_hits: bool = False  # return segments themselves (else they only lend credit)
    # x (importance - 0.5) x fused score: the assistant's replies (importance 0.3, see
    # ExtractConfig.role_importance) weigh less than what the people said
    importance_weight: float = 2.0
    # currentness (search/recency.py): for questions about now ("... these days?",
    # "still ...?"), among the promote_window_now best candidates a later statement by
    # the same speaker at least promote_ratio as relevant outranks the earlier one;
    # promote_window does the same for other present-tense questions (0: off)
    promote_window_now: int = 20
    promote_window: int = 0
    promote_ratio: float = 0.5
    promote_min_sim: float = 0.0  # and at least this cosine to it (0: not required)
    # pseudo-relevance feedback (off): a second dense round from the query moved towards
    # the prf_hits best hits, its matches joining at prf_weight
    # second round (off): entities the hop_hits best hits mention (not the question's
    # own) seed the entity graph again; its memories join at hop_weight / rank
    hop_weight: float = 0.0
    hop_hits: int = 3
    prf_weight: float = 0.0
    prf_hits: int = 3
    prf_beta: float = 0.5
    dedupe: bool = True  # drop hits whose source turns better hits already cover


@dataclass(frozen=True)
class ExtractConfig:
    """Switches for each key-expansion mechanism (for ablations)."""

    # what a turn is worth by who said it: what the user says about their own life is
    # what a memory is for; the assistant's replies mostly echo it (search weighs it by
    # SearchConfig.importance_weight; forgetting keeps important memories longer)
    role_importance: Mapping[str, float] = field(default_factory=lambda: {
        "user": 0.5, "assistant": 0.3, "system": 0.4, "tool": 0.4})
    speaker_keys: bool = True
    # a turn of at most embed_context_words words is embedded after (up to embed_context
    # characters of) the turn before it: short answers mean little alone (0: off)
    embed_context: int = 0
    embed_context_words: int = 12
    pronoun_resolution: bool = True
    time_keys: bool = True
    context_keys: bool = True
    context_chars: int = 300
    context_before: int = 2  # turns before this one whose words index it
    context_after: int = 1  # turns after this one whose words index it
    entities: bool = True
    segments: bool = True
    segment_threshold: float = 0.25
    segment_min: int = 2
    segment_max: int = 6


@dataclass(frozen=True)
class ForgetPolicy:
    """MemoryBank-style decay. A memory's retention is ``0.5 ** (age / (half_life x
    strength))`` where age counts from its last access (or when it was said) and
    strength grows with accesses and importance; below ``threshold`` it is forgotten:
    archived, or deleted when ``hard_delete`` is set. Memories younger than
    ``min_age_days`` are never touched."""

    half_life_days: float = 180.0
    threshold: float = 0.1
    min_age_days: float = 30.0
    hard_delete: bool = False
    types: tuple[str, ...] = ("turn", "fact", "preference", "plan", "event")

    def __post_init__(self) -> None:
        if not self.half_life_days > 0 or not 0 < self.threshold < 1 or self.min_age_days < 0:
            raise InvalidInput("forget policy: half_life_days > 0, 0 < threshold < 1, "
                               "min_age_days >= 0")


@dataclass(frozen=True)
class MaintainConfig:
    """What ``maintain`` does. Forgetting is off unless a policy is given."""

    dedupe: bool = True
    dedupe_cosine: float = 0.95  # both this vector similarity ...
    dedupe_overlap: float = 0.8  # ... and this word-set Jaccard make a near-duplicate
    summaries: bool = True
    summary_turns: int = 5  # at most this many turns quoted per session summary
    # sessions shorter than this get no summary, nor those of at most summary_turns turns
    # (their "summary" would quote every turn)
    summary_min_turns: int = 4
    profiles: bool = True
    profile_min_mentions: int = 3  # entities in fewer memories get no profile
    profile_turns: int = 6
    forget: ForgetPolicy | None = None
