"""Optional LLM plug-in: a one-method Protocol, an OpenAI-compatible HTTP client and
tolerant JSON parsing. remem never needs an LLM to add or search; one makes answers (and,
later, extraction) better."""

from .base import LLM, Completion, Usage
from .json import parse_json
from .openai import OpenAIChat

__all__ = ["LLM", "Completion", "OpenAIChat", "Usage", "parse_json"]
