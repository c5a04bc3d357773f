"""The HTML report of `dsql compare` and its plots (compare/report.py, compare/plots.py).

Input is the hand-written fixture tests/data/compare/results.json: five
scenarios, six designs, claims of every verdict. The quick tests read the
page as text; the slow ones open it in headless Chromium (Debian's
`chromium` and `chromium-driver`, which .ci/run installs) and ask the page
itself whether every image loaded, as a reader's browser would see it.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from support.chromium import SCREEN, ChromiumMissing, headless_chromium, not_loaded, open_and_list_images

from compare import plots, report
from compare.results import Results

FIXTURE = Path(__file__).parent / "data" / "compare" / "results.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IMG_SRC = re.compile(r'<img src="([^"]+)"')
SCREENSHOT = (
    "report-first-screen.png"  # the slow test leaves it beside the report, as a reader's first screen
)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report directory as `python -m compare.report DIR` leaves it, from a copy of the fixture."""
    out = tmp_path_factory.mktemp("report")
    shutil.copy(FIXTURE, out / "results.json")
    assert report.main([str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def page(built: Path) -> str:
    return (built / "index.html").read_text(encoding="utf-8")


def test_fixture_round_trips_through_results() -> None:
    original = json.loads(FIXTURE.read_text())
    loaded = Results.load(FIXTURE)
    assert json.loads(loaded.to_json()) == original
    assert [s.name for s in loaded.scenarios] == ["register", "bank", "list-append", "host-loss", "scaling"]
    assert {c.verdict for c in loaded.claims} == {"holds", "contradicted", "partly", "not measured"}


def test_every_referenced_image_exists_and_every_plot_is_referenced(built: Path, page: str) -> None:
    referenced = IMG_SRC.findall(page)
    assert referenced, "the page shows no plot"
    for name in set(referenced):
        width, height = png_size(built / name)
        assert width == 900 and height >= 400, (name, width, height)
    drawn = {p.name for p in built.glob("*.png") if p.name != SCREENSHOT}
    assert drawn == set(referenced), "a plot was drawn that the page never shows, or the reverse"


def test_plot_kinds_follow_the_fixture(built: Path) -> None:
    results = Results.load(FIXTURE)
    for scenario in results.scenarios:
        assert (built / plots.plot_file(scenario.name, "timeline")).is_file()
        assert (built / plots.plot_file(scenario.name, "latency")).is_file()
    assert (built / "bank-total.png").is_file()
    assert (built / "scaling-copies-min.png").is_file()
    assert (built / "list-append-anomalies.png").is_file()
    # anomalies only where a design counted them; a series plot only where a design carries that series
    assert not (built / "register-anomalies.png").exists()
    assert not (built / "register-total.png").exists()


def test_every_claim_shows_its_quote_verdict_and_plots(page: str) -> None:
    for claim in Results.load(FIXTURE).claims:
        start = page.index(f'id="claim-{plots.slug(claim.id)}"')
        article = page[start : page.index("</article>", start)]
        assert escape(claim.quote) in article
        assert (
            f'<span class="badge {report.VERDICT_CLASSES[claim.verdict]}">{escape(claim.verdict)}</span>'
            in article
        )
        assert IMG_SRC.findall(article) == claim.plots


def test_summary_table_marks_what_a_design_did_not_run(page: str) -> None:
    summary = page[page.index('id="summary"') : page.index('id="claims"')]
    # dynamodb eventual ran only the register scenario: four "not run" cells in its row
    row = summary[summary.index("dynamodb eventual</th>") :]
    row = row[: row.index("</tr>")]
    assert row.count("not run") == 4
    assert 'linearizable: <span class="bad">no</span>' in row
    assert 'stale reads: <span class="bad">9</span>' in row


def test_run_texts_are_escaped_everywhere(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    data["scenarios"] = data["scenarios"][:1]  # one scenario keeps the plotting quick
    evil = '<script>alert("x")</script>'
    design = data["scenarios"][0]["designs"][0]
    design["design"] = f"dynamo $\\bad$ {evil}"  # matplotlib must draw "$...$" as text, not fail on it as TeX
    design["failure"] = f"read returned {evil} & more"
    design["error"] = f"run broke: {evil}"
    data["scenarios"][0]["title"] = evil
    data["claims"][0]["quote"] = evil
    data["claims"][0]["plots"].append("never-drawn.png")
    data["programming_model"][0]["conditional writes"] = evil
    data["failed"] = {"az": f"TimeoutError: {evil}"}
    page = report.write_report(Results.from_dict(data), tmp_path).read_text(encoding="utf-8")
    assert "<script" not in page
    assert page.count(escape(evil)) >= 6
    assert "Scenarios that did not finish" in page and "<b>az</b>: TimeoutError: &lt;script&gt;" in page
    assert "read returned &lt;script&gt;" in page and "run broke: &lt;script&gt;" in page
    # a plot a claim names but nobody drew is said so, not shown as a broken image
    assert 'src="never-drawn.png"' not in page and "never-drawn.png was not drawn" in page


def test_colours_are_fixed_per_design_and_distinct() -> None:
    designs = sorted({d.design for s in Results.load(FIXTURE).scenarios for d in s.designs})
    colours = [plots.design_colour(d) for d in designs]
    assert len(set(colours)) == len(designs)
    assert plots.design_colour("some new design") == plots.design_colour("some new design")


def test_phase_spans_end_at_the_next_phase_and_the_last_at_the_duration() -> None:
    scaling = Results.load(FIXTURE).scenarios[-1]
    assert plots.phase_spans(scaling) == [
        ("before", 0.0, 10.0), ("add h5", 10.0, 25.0), ("drain h1", 25.0, 40.0), ("after", 40.0, 50.0)
    ]  # fmt: skip


def test_main_without_results_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main([str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err
    assert not (tmp_path / "index.html").exists()


# --- headless Chromium ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    """One headless Chromium for the module's slow tests (starting it costs seconds)."""
    try:
        with headless_chromium() as driver:
            yield driver
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.mark.slow
def test_chromium_loads_every_plot_and_shows_each_claims_plots(
    chromium: WebDriver, built: Path, page: str
) -> None:
    images = open_and_list_images(chromium, built / "index.html")
    assert len(images) == len(IMG_SRC.findall(page)), "Chromium sees the images the HTML names"
    assert not_loaded(images) == []
    for claim in Results.load(FIXTURE).claims:
        shown = [image for image in images if image["claim"] == f"claim-{plots.slug(claim.id)}"]
        if claim.plots:
            assert len(shown) >= 1, f"claim {claim.id} names plots but shows none"
    screenshot = built / SCREENSHOT
    assert chromium.save_screenshot(str(screenshot))
    assert png_size(screenshot) == SCREEN


@pytest.mark.slow
def test_chromium_check_fails_on_a_missing_plot(chromium: WebDriver, built: Path, tmp_path: Path) -> None:
    """The check of the test above, on a copy of the report with one plot deleted: it must catch it."""
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / "bank-total.png").unlink()
    images = open_and_list_images(chromium, broken / "index.html")
    missing = not_loaded(images)
    # bank-total.png is shown twice: in the bank claim and in the bank section
    assert missing == ["bank-total.png", "bank-total.png"]
    assert {image["src"] for image in images} - set(missing) == {
        p.name for p in broken.glob("*.png") if p.name != SCREENSHOT
    }, "every other plot still loads"


def test_a_run_with_nothing_in_it_still_makes_a_page(tmp_path: Path) -> None:
    page = report.write_report(Results(seed=1, quick=True, started_at="2026-12-05T00:00:00Z"), tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "No claim was judged" in text and "Not recorded in this run" in text
    assert list(tmp_path.glob("*.png")) == []


def test_latency_without_a_successful_operation_draws_no_latency_plot(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    scenario = data["scenarios"][3]  # host-loss
    for design in scenario["designs"]:
        for by_f in design["latency"].values():
            for percentiles in by_f.values():
                percentiles["n"] = 0
    names = plots.latency_plots(Results.from_dict(data).scenarios[3], tmp_path)
    assert names == [] and list(tmp_path.iterdir()) == []
