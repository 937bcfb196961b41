"""The HTML report of a generated history, opened in real headless Chromium: the charts
drew, one mark per run, the tables mirror the charts, and the page asked the network
for nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromekit import Browser, Page
from PIL import Image

from elb_upgrade.cli.main import main
from elb_upgrade.report.html import COLORWAY, COLOURS
from elb_upgrade.results import RECORDED
from fakes.history import Generated, entry, generate

HOSTILE = (
    "</script><script>document.title='pwned'</script>"
    '<img src="http://elb-report.invalid/x.png" onerror="document.title=\'pwned\'">'
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Page, Generated, Path]]:
    tmp = tmp_path_factory.mktemp("report")
    now = dt.datetime.now(dt.UTC)
    history = generate(tmp / "history.jsonl", now)
    hostile = entry(
        (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "api",
        "upgrade_failed",
        app="portal",
        message=HOSTILE,
        tag="t-hostile",
    )
    with history.path.open("a") as out:
        out.write("\n" + json.dumps(hostile) + "\n")
    history.entries.append(hostile)
    out_path = tmp / "report.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ELB_UPGRADE_HISTORY", str(history.path))
        assert main(["report", "-o", str(out_path)]) == 0
    with Browser(tmp) as browser:
        yield browser.open(out_path), history, out_path


def rect(page: Page, element_id: str) -> dict[str, float]:
    box = page.js(
        f"(() => {{ const r = document.getElementById({element_id!r}).getBoundingClientRect();"
        " return {x: r.left + window.scrollX, y: r.top + window.scrollY,"
        " width: r.width, height: r.height}; })()"
    )
    assert box["width"] > 300 and box["height"] > 200, box
    return {k: float(v) for k, v in box.items()}


def pixels_near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 12) -> int:
    r0, g0, b0 = colour
    raw = image.tobytes()  # RGB, three bytes a pixel
    return sum(
        1
        for i in range(0, len(raw), 3)
        if abs(raw[i] - r0) <= tolerance
        and abs(raw[i + 1] - g0) <= tolerance
        and abs(raw[i + 2] - b0) <= tolerance
    )


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def count(page: Page, selector: str) -> int:
    return int(page.js(f"document.querySelectorAll({selector!r}).length"))


def test_the_timeline_has_one_mark_per_run(report: tuple[Page, Generated, Path]) -> None:
    page, history, _ = report
    assert len(history.entries) == 61
    assert count(page, "#timeline-chart .scatterlayer path.point") == len(history.entries)
    results = {e["result"] for e in history.entries}
    assert results == set(RECORDED)  # every recorded result value
    assert count(page, "#timeline-chart .scatterlayer .trace") == len(results)


def test_each_chart_drew_its_marks(report: tuple[Page, Generated, Path]) -> None:
    page, history, _ = report
    timeline = page.png(rect(page, "timeline-chart"))
    for result in {e["result"] for e in history.entries}:
        assert pixels_near(timeline, rgb(COLOURS[result]), tolerance=4) >= 20, result
    elapsed = page.png(rect(page, "elapsed-chart"))
    assert pixels_near(elapsed, rgb(COLORWAY[0])) >= 50  # the first scope's line
    weekly = page.png(rect(page, "weekly-chart"))
    assert pixels_near(weekly, rgb(COLOURS["rollback_failed"])) >= 200  # failure bars
    assert pixels_near(weekly, rgb(COLOURS["upgrade_failed_rolled_back"])) >= 200  # rollbacks


def test_no_request_left_the_page(report: tuple[Page, Generated, Path]) -> None:
    page, _, path = report
    assert page.requests == [path.resolve().as_uri()]
    assert page.failed == []
    assert page.errors == []  # no script error, no Content-Security-Policy refusal


def test_the_tables_mirror_the_charts(report: tuple[Page, Generated, Path]) -> None:
    page, history, _ = report
    assert count(page, "#runs-table tbody tr") == len(history.entries)
    assert count(page, "#last-runs tbody tr") == 20
    weeks = page.js("[...document.querySelectorAll('#weekly-table tbody tr')].length")
    assert weeks == count(page, "#weekly-chart .barlayer .trace:first-child .point")
    assert count(page, "#dora-table tbody tr") == 5 * 4  # three apps and all apps
    newest = page.js("document.querySelector('#last-runs tbody tr td.msg').textContent")
    assert newest == HOSTILE  # shown as text


def test_a_hostile_message_is_text_not_markup(report: tuple[Page, Generated, Path]) -> None:
    page, _, path = report
    assert page.js("document.title").startswith("Deploy report")
    assert count(page, "img") == 0
    assert "<img src=" not in path.read_text().split("</script>")[-1]


def test_the_request_check_sees_a_request(tmp_path: Path) -> None:
    """The check above can fail: a page that asks the network is seen asking."""
    page_path = tmp_path / "leaky.html"
    page_path.write_text('<!DOCTYPE html><img src="http://elb-report.invalid/x.png">')
    with Browser(tmp_path) as browser:
        page = browser.open(page_path)
        assert "http://elb-report.invalid/x.png" in page.requests
        assert page.failed  # and the resolver rules kept it from going anywhere


def test_every_recorded_result_has_its_colour() -> None:
    assert set(COLOURS) == set(RECORDED)
