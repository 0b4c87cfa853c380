"""The web inspector in a real browser: Playwright driving Debian's headless Chromium
against a real ``remem serve`` (the session's shared server) on 127.0.0.1.

Chromium missing is a failure, not a skip (``.ci/run`` installs it). Screenshots land in
``test-artifacts/`` (gitignored)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from .kit import Server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000

CHAT_1 = [  # session s1: the dog
    {"role": "user", "name": "Ana", "id": "m1", "content": "I adopted a dog last weekend!"},
    {"role": "assistant", "name": "Bot", "id": "m2", "content": "Congrats! What is her name?"},
    {"role": "user", "name": "Ana", "id": "m3", "content": "Her name is Pimenta, Bruno chose it."},
    {"role": "assistant", "name": "Bot", "id": "m4", "content": "Pimenta is a lovely name."},
]
CHAT_2 = [  # session s2, two weeks later
    {"role": "user", "name": "Ana", "id": "n1", "content": "I hiked the Sintra trail with Bruno."},
    {"role": "user", "name": "Ana", "id": "n2", "content": "My sister Clara lives in Porto now."},
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), \
        f"{CHROMIUM} is missing: `make test` installs it (or apt-get install -y chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _seed(server: Server, key: str, user: str, session: str, when: str,
          messages: list[dict[str, Any]]) -> None:
    with server.client(key) as c:
        r = c.post("/v1/memories", json={"user_id": user, "session_id": session,
                                         "timestamp": when, "messages": messages})
        assert r.status_code == 201, r.text


def _memories(server: Server, key: str, user: str) -> list[dict[str, Any]]:
    with server.client(key) as c:
        r = c.get("/v1/memories", params={"user_id": user, "limit": 200})
        assert r.status_code == 200, r.text
        return list(r.json()["memories"])


def test_inspector_in_a_real_browser(server: Server, new_key: Any, browser: Any) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    stamp = f"{time.time_ns() % 10**9}"
    key_a, key_b = new_key(f"ui-a-{stamp}"), new_key(f"ui-b-{stamp}")
    _seed(server, key_a, "ana", "s1", "2025-04-14T09:30:00Z", CHAT_1)
    _seed(server, key_a, "ana", "s2", "2025-04-28T18:00:00Z", CHAT_2)
    _seed(server, key_b, "bob", "x", "2025-04-01T10:00:00Z",
          [{"role": "user", "name": "Bob", "content": "The vault code is Zanzibar-4471."}])
    _seed(server, key_b, "ana", "x", "2025-04-01T10:00:00Z",
          [{"role": "user", "name": "Ana", "content": "Tenant B Ana loves Quokkas."}])
    b_memory = _memories(server, key_b, "bob")[0]["id"]
    with server.client(key_b) as c:
        b_entity = c.get("/v1/entities", params={"user_id": "bob"}).json()["entities"][0]["id"]

    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # -- login: a wrong key is refused, the right one opens the user list ------------
        page.goto(f"{server.url}/ui/")
        expect(page.locator("#login")).to_be_visible()
        page.fill("#key", "rmk_000000000000_" + "x" * 43)
        page.click("#login-form button")
        expect(page.locator("#login-error")).to_contain_text("invalid or revoked")
        problems.clear()  # the 401 above is logged by the browser as a failed resource
        page.fill("#key", key_a)
        page.click("#login-form button")
        users = page.locator("#users")
        expect(users).to_contain_text("ana")
        expect(users.locator("tr[data-user='ana'] td").nth(1)).to_have_text(
            str(len(_memories(server, key_a, "ana"))))
        assert "bob" not in users.inner_text()  # tenant B's users are not listed

        # -- timeline, grouped by session ---------------------------------------------
        users.get_by_role("link", name="ana", exact=True).click()
        timeline = page.locator("#timeline")
        expect(timeline.locator(".session-group h3")).to_have_count(2)
        expect(timeline).to_contain_text("session s1")
        expect(timeline).to_contain_text("Clara lives in Porto")
        assert "Quokkas" not in timeline.inner_text()

        # -- search, score breakdown, provenance in context ------------------------------
        page.get_by_role("link", name="Search").click()
        page.fill("#q", "what is the dog called? Pimenta")
        page.click("#search-form button[type=submit]")
        hit = page.locator(".hit", has_text="Her name is Pimenta").first
        expect(hit).to_be_visible()
        expect(hit.locator(".part-lexical")).to_be_visible()
        expect(hit.locator(".part-dense")).to_be_visible()
        hit.locator(".hit-text").click()
        prov = hit.locator(".provenance")
        expect(prov.locator(".turn.source")).to_contain_text("Her name is Pimenta")
        expect(prov.locator(".turn.source")).to_contain_text("id m3")
        before = prov.locator(".turn:not(.source)", has_text="What is her name?")
        expect(before).to_be_visible()  # the neighbouring turn of the same session
        assert "Sintra" not in prov.inner_text()  # another session is not its context
        page.screenshot(path=str(ARTIFACTS / "ui-search.png"), full_page=True)

        # -- memory detail: edit (confirmed), then delete (cancel once, then confirm) ------
        target = next(m for m in _memories(server, key_a, "ana")
                      if m["text"] == "I adopted a dog last weekend!")
        page.goto(f"{server.url}/ui/#/m/{target['id']}")
        expect(page.locator("#memory-text")).to_have_text("I adopted a dog last weekend!")
        expect(page.locator("#provenance .turn.source")).to_contain_text("adopted a dog")
        page.click("#edit")
        page.fill("#edit-text", "I adopted a greyhound last weekend!")
        page.click("#save")
        page.click("#confirm-ok")
        expect(page.locator("#memory-text")).to_have_text("I adopted a greyhound last weekend!")
        expect(page.locator("#history")).to_contain_text("UPDATE")
        # the update's row shows old -> new, each once
        expect(page.locator("#history .change")).to_have_text(
            "I adopted a dog last weekend! → I adopted a greyhound last weekend!")
        expect(page.locator("#status")).to_have_text("active")
        # an archived memory: its status badge, and a button that restores it
        other = next(m for m in _memories(server, key_a, "ana") if m["id"] != target["id"])
        with server.client(key_a) as c:
            assert c.post(f"/v1/memories/{other['id']}/archive", json={}).status_code == 200
            archived = c.get("/v1/memories", params={"user_id": "ana", "status": "archived"})
            assert [m["id"] for m in archived.json()["memories"]] == [other["id"]]
        page.goto(f"{server.url}/ui/#/m/{other['id']}")
        expect(page.locator("#status")).to_have_text("archived")
        page.click("#restore")
        expect(page.locator("#status")).to_have_text("active")
        page.goto(f"{server.url}/ui/#/m/{target['id']}")
        expect(page.locator("#memory-text")).to_have_text("I adopted a greyhound last weekend!")
        page.click("#delete")
        expect(page.locator("#confirm")).to_be_visible()
        page.click("#confirm-cancel")
        expect(page.locator("#memory-text")).to_be_visible()
        page.click("#delete")
        page.click("#confirm-ok")
        expect(page.locator("#deleted")).to_be_visible()
        expect(page.locator("#history")).to_contain_text("DELETE")
        with server.client(key_a) as c:
            assert c.get(f"/v1/memories/{target['id']}").status_code == 404
        page.goto(f"{server.url}/ui/#/u/ana")
        expect(page.locator("#timeline")).to_contain_text("Clara lives in Porto")
        assert "greyhound" not in page.locator("#timeline").inner_text()

        # -- entities ---------------------------------------------------------------------
        page.goto(f"{server.url}/ui/#/u/ana/entities")
        page.locator("#entities").get_by_role("link", name="Bruno").click()
        expect(page.locator("#view h1")).to_contain_text("Bruno")
        expect(page.locator("#view")).to_contain_text("Sintra trail")
        expect(page.locator(".chips")).to_contain_text("Pimenta")  # mentioned together

        # -- export ----------------------------------------------------------------------
        page.get_by_role("link", name="Timeline").click()
        with page.expect_download() as dl:
            page.click("#export")
        lines = [json.loads(x) for x in Path(dl.value.path()).read_text().splitlines()]
        assert any(r.get("text") == "Her name is Pimenta, Bruno chose it." for r in lines)
        assert {r["user_id"] for r in lines if "user_id" in r} == {"ana"}
        assert not any("Quokkas" in json.dumps(r) for r in lines)

        # -- tenant B is unreachable with tenant A's key -----------------------------------
        page.goto(f"{server.url}/ui/#/m/{b_memory}")
        expect(page.locator("#error")).to_contain_text("Not found")
        page.goto(f"{server.url}/ui/#/u/ana/entity/{b_entity}")
        expect(page.locator("#error")).to_contain_text("Not found")
        page.goto(f"{server.url}/ui/#/u/bob")
        expect(page.locator("#view")).to_contain_text("0 memories")
        page.goto(f"{server.url}/ui/#/u/bob/search?q=vault+code+Zanzibar")
        expect(page.locator("#view")).to_contain_text("0 hits")
        page.goto(f"{server.url}/ui/#/users")
        expect(page.locator("#users")).to_contain_text("ana")
        assert "bob" not in page.locator("#users").inner_text()
        page.screenshot(path=str(ARTIFACTS / "ui-isolation.png"), full_page=True)

        # -- the key lives in this tab only; forgetting it shows the login again ------------
        assert page.evaluate("sessionStorage.getItem('remem.key')") == key_a
        page.click("#logout")
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('remem.key')") is None
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "ui-failure.png"), full_page=True)
        raise
    finally:
        ctx.close()
    # offline: nothing but this server was ever asked for anything; no CSP or JS errors
    outside = [u for u in requests if not u.startswith(server.url) and not u.startswith("blob:")]
    assert outside == [], outside
    assert [p for p in problems if not re.search(r"status of 40[14]", p)] == [], problems
    assert time.monotonic() - started < 60


def test_inspector_files_are_served_with_a_strict_csp(server: Server) -> None:
    with server.client() as c:
        r = c.get("/ui/")
        assert r.status_code == 200 and "<script src=\"app.js\">" in r.text
        assert "default-src 'self'" in r.headers["content-security-policy"]
        for name in ("app.js", "style.css"):
            body = c.get(f"/ui/{name}").text
            assert "http://" not in body and "https://" not in body  # nothing from a CDN
        assert c.get("/ui", follow_redirects=False).status_code in (307, 308)


def _app_client(memory: Any) -> Any:
    from fastapi.testclient import TestClient

    from remem.server.app import create_app
    from remem.server.settings import Settings

    return TestClient(create_app(memory, Settings(auth=False, mcp=False)))


def test_inspector_routes_stay_fast_and_paged_on_10k_memories(tmp_path: Path) -> None:
    from remem import Memory
    from remem.config import ExtractConfig
    from remem.embed.hashing import HashingEmbedder

    names, places = ["Ana", "Bruno", "Clara", "Diego"], ["Sintra", "Porto", "Lisbon", "Tokyo"]
    with Memory(tmp_path / "big.db", embedder=HashingEmbedder(),
                extract_config=ExtractConfig(segments=False)) as m:
        for s in range(100):
            m.add([{"role": "user", "name": names[k % 4],
                    "content": f"I saw {places[(s + k) % 4]} with {names[(k + 1) % 4]}, day {s}-{k}."}
                   for k in range(100)], user_id="big", session_id=f"s{s}",
                  timestamp=1.7e9 + s * 86400)
        assert m.count(user_id="big") == 10_000
        with _app_client(m) as c:
            def get(url: str) -> Any:
                t0 = time.perf_counter()
                r = c.get(url)
                elapsed = time.perf_counter() - t0
                assert r.status_code == 200, r.text
                assert elapsed < 2.0 and len(r.content) < 100_000, (url, elapsed, len(r.content))
                return r.json()

            assert get("/v1/users")["users"][0] == {
                "user_id": "big", "memories": 10_000, "sessions": 100, "agents": 0,
                "first": 1.7e9, "last": 1.7e9 + 99 * 86400}
            last = get("/v1/memories?user_id=big&limit=50&offset=9950")
            assert last["total"] == 10_000 and len(last["memories"]) == 50
            ents = get("/v1/entities?user_id=big&limit=50")
            bruno = next(e for e in ents["entities"] if e["name"] == "Bruno")
            page = get(f"/v1/entities/{bruno['id']}?user_id=big&limit=50&offset=1000")
            assert page["total"] == bruno["memories"] and len(page["memories"]) == 50
            ctx = get(f"/v1/memories/{last['memories'][-1]['id']}/context?window=3")
            turns = ctx["sources"][0]["turns"]
            assert len(turns) == 4 and turns[-1]["is_source"] and ctx["sources"][0]["more_before"]


def test_inspector_routes_on_an_in_memory_store() -> None:
    from remem import Memory
    from remem.embed.hashing import HashingEmbedder

    with Memory(":memory:", embedder=HashingEmbedder()) as m:
        m.add(["I met Clara in Porto.", "Clara loves jazz."], user_id="ana", session_id="s")
        with _app_client(m) as c:
            assert c.get("/v1/users").json()["users"][0]["memories"] == m.count(user_id="ana")
            mid = c.get("/v1/memories", params={"user_id": "ana"}).json()["memories"][0]["id"]
            r = c.get(f"/v1/memories/{mid}/context")
            assert r.status_code == 200 and r.json()["sources"][0]["turns"][0]["is_source"]
            assert c.get("/v1/entities/999999", params={"user_id": "ana"}).status_code == 404


HOSTILE = '<img src=x onerror="document.title=\'pwned\'"> my <b>old</b> locker code'


def test_archived_view_finds_what_maintain_forgot_and_restores_it(
        server: Server, new_key: Any, browser: Any) -> None:
    """What ``maintain``'s forget policy archived is listed (by a link from the timeline),
    opened, restored: it leaves the archived view and is back in the timeline. Superseded
    memories have their own list linking to the newer memory. Text stays text; another
    tenant's archived memories never show."""
    from playwright.sync_api import expect

    stamp = f"{time.time_ns() % 10**9}"
    key_a, key_b = new_key(f"ui-arch-a-{stamp}"), new_key(f"ui-arch-b-{stamp}")
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    _seed(server, key_a, "ana", "old", "2019-03-01T10:00:00Z", [
        {"role": "user", "name": "Ana", "id": "o1", "content": "I parked at the Rossio garage."},
        {"role": "user", "name": "Ana", "id": "o2", "content": HOSTILE}])
    _seed(server, key_a, "ana", "new", recent, [
        {"role": "user", "name": "Ana", "id": "r1", "content": "I work at a bakery now."},
        {"role": "user", "name": "Ana", "id": "r2", "content": "I run the bakery now."}])
    _seed(server, key_b, "ana", "old", "2019-03-01T10:00:00Z",
          [{"role": "user", "name": "Ana", "content": "Tenant B remembers Wombats."}])
    by_text = {m["text"]: m["id"] for m in _memories(server, key_a, "ana")}
    with server.client(key_a) as c:
        r = c.post("/v1/maintain", json={
            "user_id": "ana", "dedupe": False, "summaries": False, "profiles": False,
            "forget": {"half_life_days": 30, "threshold": 0.5, "min_age_days": 30}})
        assert r.status_code == 200 and r.json()["archived"] == 2, r.text
        r = c.post(f"/v1/memories/{by_text['I work at a bakery now.']}/supersede",
                   json={"by": by_text["I run the bakery now."]})
        assert r.status_code == 200, r.text
        archived = c.get("/v1/memories", params={"user_id": "ana", "status": "archived",
                                                 "type": "all"}).json()["memories"]
    assert {m["text"] for m in archived} == {"I parked at the Rossio garage.", HOSTILE}
    with server.client(key_b) as c:
        b_id = _memories(server, key_b, "ana")[0]["id"]
        assert c.post(f"/v1/memories/{b_id}/archive", json={}).status_code == 200
    garage = by_text["I parked at the Rossio garage."]

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto(f"{server.url}/ui/")
        page.fill("#key", key_a)
        page.click("#login-form button")
        expect(page.locator("#users")).to_contain_text("ana")
        title = page.title()

        # -- the timeline leaves them out, and links to them ---------------------------
        page.goto(f"{server.url}/ui/#/u/ana")
        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("I run the bakery now.")
        assert "Rossio" not in timeline.inner_text()  # archived
        assert "I work at a bakery" not in timeline.inner_text()  # superseded
        expect(page.locator("#view")).to_contain_text("Not shown: 2 archived, 1 superseded")
        page.get_by_role("link", name="2 archived").click()

        # -- the archived view: both, as text, and nothing of tenant B -------------------
        table = page.locator("#archived")
        expect(table.locator("tbody tr")).to_have_count(2)
        assert set(table.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.id)")) == {m["id"] for m in archived}
        expect(table).to_contain_text(HOSTILE)  # shown literally ...
        expect(table.locator("img, b")).to_have_count(0)  # ... never parsed as HTML
        assert page.title() == title
        assert "Wombats" not in page.locator("#view").inner_text()
        expect(page.locator("#show-archived")).to_have_text("archived2")
        page.screenshot(path=str(ARTIFACTS / "ui-archived.png"), full_page=True)

        # -- click through, restore: gone from the archived view, back in the timeline ----
        table.get_by_role("link", name="I parked at the Rossio garage.").click()
        expect(page.locator("#status")).to_have_text("archived")
        expect(page.locator("#history")).to_contain_text("ARCHIVE")
        page.click("#restore")
        expect(page.locator("#status")).to_have_text("active")
        page.locator("#crumbs").get_by_role("link", name="ana").click()
        page.locator(".tabs").get_by_role("link", name="Archived").click()
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(table).to_contain_text(HOSTILE)
        assert "Rossio" not in table.inner_text()
        expect(page.locator("#show-archived")).to_have_text("archived1")
        page.get_by_role("link", name="Timeline").click()
        expect(page.locator("#timeline")).to_contain_text("I parked at the Rossio garage.")
        expect(page.locator("#view")).to_contain_text("Not shown: 1 archived, 1 superseded")
        with server.client(key_a) as c:
            assert c.get(f"/v1/memories/{garage}").json()["status"] == "active"

        # -- superseded: listed with its successor, one click away ------------------------
        page.get_by_role("link", name="1 superseded").click()
        table = page.locator("#archived[data-status=superseded]")
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(table).to_contain_text("I work at a bakery now.")
        table.locator("td.mono a").click()
        expect(page.locator("#memory-text")).to_have_text("I run the bakery now.")
        expect(page.locator("#status")).to_have_text("active")
        page.go_back()
        table.get_by_role("link", name="I work at a bakery now.").click()
        expect(page.locator("#status")).to_have_text("superseded")
        expect(page.locator("#restore")).to_have_count(0)  # not archived: nothing to restore

        # -- tenant B sees only its own archived memory ------------------------------------
        page.evaluate(f"sessionStorage.setItem('remem.key', {json.dumps(key_b)})")
        page.goto(f"{server.url}/ui/#/u/ana/archived")
        page.reload()
        expect(page.locator("#archived tbody tr")).to_have_count(1)
        expect(page.locator("#archived")).to_contain_text("Tenant B remembers Wombats.")
        assert "Rossio" not in page.locator("#view").inner_text()
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "ui-archived-failure.png"), full_page=True)
        raise
    finally:
        ctx.close()
    outside = [u for u in requests if not u.startswith(server.url)]
    assert outside == [], outside  # offline: nothing but this server
