"""Every code block of the README and docs/ runs (issue 18), so a broken example cannot
come back: each page becomes one bash script, run in a fresh directory with the
installed ``remem`` on PATH, its Python blocks as ``python - <<EOF`` steps and its shell
blocks as written, in page order (a shell block may use the store a Python block made).

- Python blocks always run. Shell blocks run when marked ``<!-- run -->`` on the line
  above; any other block with a language says why not, as ``<!-- no-run: REASON -->``.
  Blocks without a language (sample output, diagrams) are not code.
- What a reader's machine has and a test's has not is swapped in, nothing else: ports
  8420-8429 become free ports, the LLM endpoints (Ollama's and OpenAI's URL) a loopback fake
  speaking the Chat Completions protocol, the docs' PostgreSQL DSN
  (``postgresql://remem:secret@db.internal/remem``) a fresh database on the session's real
  PostgreSQL (``pg_server``, pgserver). The user data dir is the temporary directory.
- docs/integrations.md is run by tests/integrations/test_examples.py (per example, against
  the real frameworks) and left out here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from integrations.fake_chat import FakeChat
from server.kit import free_port
from store.conftest import new_pg_database

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md")
                                     if p.name != "integrations.md")]
BLOCK = re.compile(r"(?:^<!-- (run|no-run: [^>]+?) -->\n)?^```(\w*)[^\n]*\n(.*?)^```$",
                   re.M | re.S)
LLM_URLS = ("http://localhost:11434/v1", "https://api.openai.com/v1")
PG_DSN = "postgresql://remem:secret@db.internal/remem"  # what the docs show a reader


class Block(NamedTuple):
    page: str
    line: int
    lang: str
    mark: str  # "run", "no-run: why" or ""
    code: str


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [Block(page.name, text[: m.start()].count("\n") + 1, m.group(2), m.group(1) or "",
                  m.group(3)) for m in BLOCK.finditer(text)]


def runs(b: Block) -> bool:
    return b.lang == "python" and not b.mark.startswith("no-run") or b.mark == "run"


def test_every_code_block_runs_or_says_why_not() -> None:
    unaccounted = [f"{b.page}:{b.line}" for p in PAGES for b in blocks(p)
                   if b.lang and not runs(b) and not b.mark.startswith("no-run: ")]
    assert not unaccounted, f"mark these <!-- run --> or <!-- no-run: why -->: {unaccounted}"
    assert sum(runs(b) for p in PAGES for b in blocks(p)) >= 8


def needs_postgres(page: Path) -> bool:
    return any(PG_DSN in b.code for b in blocks(page) if runs(b))


def script(page: Path, llm_url: str, pg_dsn: str | None = None) -> str:
    steps = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT"]
    ports: dict[str, str] = {}
    for b in blocks(page):
        if not runs(b):
            continue
        code = re.sub(r"\b842\d\b", lambda m: ports.setdefault(m.group(), str(free_port())),
                      b.code)
        for url in LLM_URLS:
            code = code.replace(url, llm_url)
        if pg_dsn is not None:  # inside a Python string; a shell word needs quoting
            code = code.replace(PG_DSN, pg_dsn if b.lang == "python" else shlex.quote(pg_dsn))
        steps.append(f"echo '### {b.page}:{b.line}' >&2")
        if b.lang == "python":
            steps.append(f"python - <<'REMEM_DOC_BLOCK'\n{code}REMEM_DOC_BLOCK")
        else:
            steps.append(code)
    return "\n".join(steps) + "\n"


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeChat]:
    f = FakeChat()
    try:
        yield f
    finally:
        f.close()


@pytest.mark.parametrize("page", [p for p in PAGES if any(runs(b) for b in blocks(p))],
                         ids=lambda p: p.name)
def test_page_code_runs(page: Path, tmp_path: Path, fake_llm: FakeChat,
                        request: pytest.FixtureRequest) -> None:
    if shutil.which("curl") is None:
        pytest.skip("no curl")
    pytest.importorskip("fastapi")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REMEM_", "PYTHONWARNINGS", "OPENAI_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", HOME=str(tmp_path),
               XDG_DATA_HOME=str(tmp_path / "data"), OPENAI_API_KEY="sk-test")
    pg_dsn = new_pg_database(request.getfixturevalue("pg_server")) \
        if needs_postgres(page) else None
    text = script(page, fake_llm.url, pg_dsn)
    (tmp_path / "doc.sh").write_text(text, encoding="utf-8")
    done = subprocess.run(["bash", str(tmp_path / "doc.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    where = done.stderr.rsplit("### ", 1)[-1][:3000]
    assert done.returncode == 0, f"{page.name}: the block at {where}\n{done.stdout[-2000:]}"
    assert "Traceback" not in done.stderr, where
    assert '{"error"' not in done.stdout, f"{page.name}: an error answer\n{done.stdout[-3000:]}"
