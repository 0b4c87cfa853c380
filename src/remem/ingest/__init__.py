"""Ingest: what ``Memory.add`` does to a message before and after it is stored.

``normalise`` checks and normalises input into ``Turn`` values; ``extract`` derives the
LLM-free candidate memories (index keys from ``entities`` and ``timeparse``);
``segment`` groups turns into topic segments; ``facts`` is the optional LLM extraction
that runs after the turns are committed. Each module is pure except ``facts``, which
works through the ``Engine`` it is given."""
