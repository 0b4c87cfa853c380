"""Every Python example in docs/integrations.md runs, each in a fresh directory and
process, against the real frameworks: each remembers in one session and recalls in a
later one (its own asserts). The client example talks to a real ``remem serve``; the
agent example's model is a loopback fake speaking the Chat Completions protocol."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from server.kit import Server

from .fake_chat import FakeChat

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
EXAMPLES = re.findall(r"^## (.+?)$|^```python\n(.*?)^```$", DOC.read_text(), re.M | re.S)


def _examples() -> list[tuple[str, str]]:
    out, title = [], ""
    for heading, code in EXAMPLES:
        if heading:
            title = heading.split(":")[0].strip()
        else:
            out.append((title, code))
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    s = Server(tmp_path_factory.mktemp("examples-serve"))
    try:
        yield s, str(s.create_key("--tenant", "docs")["key"])
    finally:
        s.stop()


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeChat]:
    f = FakeChat()
    try:
        yield f
    finally:
        f.close()


def test_the_doc_has_an_example_per_face() -> None:
    titles = [t for t, _ in _examples()]
    assert titles == ["Client (a remem server)", "AsyncMemory (embedded, asyncio)", "LangGraph",
                      "LangChain", "LlamaIndex", "OpenAI Agents SDK"]


@pytest.mark.parametrize("title,code", _examples(), ids=[t.split()[0] for t, _ in _examples()])
def test_example_runs(title: str, code: str, tmp_path: Path, served: tuple[Server, str],
                      fake_llm: FakeChat) -> None:
    server, key = served
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REMEM_"))}
    env.update(REMEM_URL=server.url, REMEM_API_KEY=key, OPENAI_BASE_URL=fake_llm.url,
               OPENAI_API_KEY="sk-test", OPENAI_AGENTS_DISABLE_TRACING="1")
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{title}:\n{out.stdout}\n{out.stderr[-4000:]}"
    if title.startswith("OpenAI"):  # the model really called the recall tool, via remem
        tool_results = [m["content"] for r in fake_llm.requests for m in r["messages"]
                        if m.get("role") == "tool"]
        assert any("Pimenta" in str(t) for t in tool_results), tool_results
