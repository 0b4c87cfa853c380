"""What a newcomer sees over REST and MCP (issue 18): lists show what was said, by status."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from remem import HashingEmbedder, Memory  # noqa: E402
from remem.server.app import create_app  # noqa: E402
from remem.server.settings import Settings  # noqa: E402

TURNS = [{"role": "user", "name": "Ana", "id": f"t{i}", "content": text} for i, text in
         enumerate(["I moved to Lisbon for a job.", "I adopted a dog called Pimenta.",
                    "Pimenta is a border collie mix."], 1)]


@pytest.fixture
def api() -> Iterator[tuple[TestClient, Memory]]:
    with Memory(":memory:", embedder=HashingEmbedder(dim=64)) as mem:
        with TestClient(create_app(mem, Settings(auth=False, mcp=False))) as c:
            yield c, mem


def listed(c: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = c.get("/v1/memories", params={"user_id": "ana", **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["memories"])
    return list(body["memories"])


def test_rest_list_shows_turns_by_default_and_type_the_rest(api: tuple[TestClient, Memory]) -> None:
    c, _ = api
    added = c.post("/v1/memories", json={"user_id": "ana", "messages": TURNS}).json()
    assert (added["added"], added["skipped"]) == (3, 0)
    said = listed(c)
    assert [m["source_ids"] for m in said] == [["t1"], ["t2"], ["t3"]]
    derived = listed(c, type="segment,summary,profile")
    assert derived and {m["type"] for m in derived} == {"segment"}
    assert len(listed(c, type="all")) == len(said) + len(derived)
    assert c.get("/v1/users").json()["users"][0]["memories"] == 3  # as the list counts


def test_rest_list_by_status(api: tuple[TestClient, Memory]) -> None:
    c, mem = api
    mem.add(TURNS, user_id="ana")
    t1, t2, t3 = (m["id"] for m in listed(c))
    assert c.post(f"/v1/memories/{t1}/archive", json={}).status_code == 200
    mem.supersede(t2, t3, user_id="ana")
    assert [m["id"] for m in listed(c)] == [t3]
    assert [(m["id"], m["status"]) for m in listed(c, status="archived")] == [(t1, "archived")]
    assert [(m["id"], m["superseded_by"]) for m in listed(c, status="superseded")] == [(t2, t3)]
    assert [m["id"] for m in listed(c, status="all")] == [t1, t2, t3]
    assert c.get("/v1/memories", params={"user_id": "ana", "status": "gone"}).status_code == 422
    assert c.get("/v1/memories", params={"user_id": "ana", "type": ","}).status_code == 422


def test_python_api_list_arguments_are_checked() -> None:
    from remem import InvalidInput

    with Memory(":memory:", embedder=HashingEmbedder(dim=32)) as mem:
        with pytest.raises(InvalidInput, match="status"):
            mem.get_all(user_id="ana", status="deleted")
        with pytest.raises(InvalidInput, match="type"):
            mem.get_all(user_id="ana", type=[""])
        assert mem.count(user_id="ana", type=["turn", "fact"], status="all") == 0


def test_api_docs_work_offline(api: tuple[TestClient, Memory]) -> None:
    """/docs loads Swagger UI from the package: every script and style it names is
    served by this server, none from a CDN."""
    import re

    c, _ = api
    page = c.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", page.text)
    assert urls and not [u for u in urls if "://" in u or u.startswith("//")], urls
    for url in urls:
        r = c.get(url)
        assert r.status_code == 200 and r.content, url
    assert c.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"].startswith(
        ("application/javascript", "text/javascript"))
    assert c.get("/redoc").status_code == 404  # it would load from a CDN
