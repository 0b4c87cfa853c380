"""Write docs/openapi.json: the REST API's OpenAPI document, as ``remem serve`` serves it
at /openapi.json (for clients in other languages, e.g. TypeScript generators).

    python scripts/openapi.py            # rewrite docs/openapi.json
    python scripts/openapi.py --check    # exit 1 if it differs from the code

tests/server/test_openapi.py fails when the served schema and the committed file differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def current() -> str:
    from remem import HashingEmbedder, Memory
    from remem.server.app import create_app
    from remem.server.settings import Settings

    with Memory(":memory:", embedder=HashingEmbedder()) as memory:
        return render(create_app(memory, Settings(mcp=False), keys=None).openapi())


def main(argv: list[str]) -> int:
    text = current()
    if "--check" in argv:
        same = DOC.exists() and DOC.read_text() == text
        print("docs/openapi.json is up to date" if same else
              "docs/openapi.json differs: run python scripts/openapi.py")
        return 0 if same else 1
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
