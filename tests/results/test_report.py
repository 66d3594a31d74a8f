"""report.html: one self-contained page whose plots decode, checked as text and in headless Chromium."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.results.folder import phase_directory
from harness.results.report import render_report, write_report
from harness.results.score import ScoringOptions, score_outputs
from test_outputs import FAST_SCORING, synthetic_outputs

IMAGE_SOURCES = re.compile(r'<img src="([^"]*)"')


def _report(**kwargs) -> tuple[str, dict]:
    outputs = synthetic_outputs(**kwargs)
    result = score_outputs(outputs, ScoringOptions(bootstrap=20, resample="examples", calibration_splits=2, bounds=True))
    return render_report(result, outputs), result.record


def _decoded_images(page: str) -> list[bytes]:
    images = []
    for source in IMAGE_SOURCES.findall(page):
        assert source.startswith("data:image/png;base64,"), source[:60]
        images.append(base64.b64decode(source.split(",", 1)[1], validate=True))
    return images


def test_a_scored_report_shows_the_score_and_every_plot():
    page, record = _report(leak=4.0, n_leaky=5)
    assert f"<span class=score id=score>{record['score']:.4f}</span>" in page
    for heading in ("Forgetting", "Utility", "Time", "Calibration", "Details"):
        assert f"<h2>{heading}</h2>" in page
    images = _decoded_images(page)
    # epsilon histogram, worst examples, accuracies, time, calibration
    assert len(images) == 5
    assert all(image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 2000 for image in images)
    assert "synthetic-00000" in page  # a worst example is named
    assert f"{record['score_low']:.4g} \u2013 {record['score_high']:.4g}" in page


def test_the_report_needs_nothing_outside_itself():
    page, _ = _report()
    assert not re.search(r'(src|href)="(https?:|//|file:)', page)
    assert "<script" not in page and "<link" not in page


def test_a_failed_report_lists_each_failure_with_its_class_and_message():
    page, record = _report(failed_models={1: "exception", 4: "invalid_weights"})
    assert record["status"] == "failed"
    assert "<span class=\"status\" id=status>failed</span>" in page and "id=score>no score<" in page
    assert "<h2>Failures (2)</h2>" in page and "invalid_weights" in page
    # Messages come from the sandbox: shown escaped, never as markup.
    assert "model 4 broke &lt;b&gt;badly&lt;/b&gt;" in page and "<b>badly</b>" not in page
    assert "<h2>Forgetting</h2>" not in page


def test_an_over_time_report_says_so_and_shows_the_time_against_the_limit():
    page, record = _report(unlearn_seconds=3.0)
    assert record["status"] == "over_time"
    assert "id=status>over time<" in page and "id=score>no score<" in page
    assert "<h2>Time</h2>" in page and "30.0% / 10%" in page
    assert html.escape(record["failure"]["message"]) in page


def test_the_time_section_shows_the_charged_clock_and_the_wall_clock():
    page, record = _report(time_basis="cpu", unlearn_seconds=0.5, unlearn_wall_seconds=2.5, retrain_wall_seconds=12.0)
    assert record["status"] == "scored"
    time_section = page.split("<h2>Time</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>CPU time (charged)</td><td class=num>0.5</td><td class=num>10</td><td class=num>5.0%</td>" in time_section
    assert "<td>wall time (for information)</td><td class=num>2.5</td><td class=num>12</td><td class=num>20.8%</td>" in time_section
    assert len(_decoded_images(time_section)) == 1  # one figure, a panel per clock


def test_a_wall_time_fallback_is_explained_in_the_report():
    note = "no cgroup CPU accounting for this sandbox: wall time charged"
    page, _ = _report(time_note=note)
    time_section = page.split("<h2>Time</h2>", 1)[1].split("<h2>", 1)[0]
    assert f"<p class=warning>{note}</p>" in time_section and "<td>wall time (charged)</td>" in time_section
    assert "wall time (for information)" not in time_section


def test_an_unisolated_sandbox_is_flagged():
    page, _ = _report(sandbox={"backend": "none", "isolated": False})
    assert "<code>none</code> sandbox backend, which does not isolate it" in page


def test_phase_links_are_relative_to_the_result_folder(tmp_path: Path):
    phases = ("public", "private")
    for phase in phases:
        outputs = synthetic_outputs(phase=phase, phases=phases)
        path = phase_directory(tmp_path, phase, phases) / "report.html"
        write_report(path, score_outputs(outputs, FAST_SCORING), outputs)
    top = (tmp_path / "report.html").read_text()
    private = (tmp_path / "phases" / "private" / "report.html").read_text()
    assert '<a href="phases/private/report.html">private phase</a>' in top
    assert '<a href="../../report.html">public phase</a>' in private
    assert (tmp_path / "phases/private" / '../../report.html').resolve() == (tmp_path / "report.html").resolve()


def test_a_report_from_the_record_alone_still_renders():
    outputs = synthetic_outputs()
    page = render_report(score_outputs(outputs, FAST_SCORING))
    # Without the per-model outputs: no worst-example or accuracy plot, the rest is there.
    assert len(_decoded_images(page)) == 3 and "id=score>0." in page


# --- in a browser ------------------------------------------------------------------------------
# Injected into a copy of the report (the report itself carries no script): records script
# errors and, once loaded, whether every image decoded and what the score element shows.
_PROBE = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(e.message || ("failed to load " + (e.target.src || "").slice(0, 40))), true);
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const score = document.getElementById("score");
  const probe = document.createElement("pre");
  probe.id = "render-check";
  probe.textContent = JSON.stringify({
    images: images.length,
    decoded: images.filter((i) => i.complete && i.naturalWidth > 0).length,
    errors: window.__errors,
    score: score ? score.textContent : null,
    scoreHeight: score ? score.getBoundingClientRect().height : 0,
  });
  document.body.appendChild(probe);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (CI installs it through .ci/run)")
    pytest.skip("chromium is not installed")


@pytest.mark.slow
def test_the_report_renders_in_headless_chromium(tmp_path: Path):
    browser = _chromium()
    outputs = synthetic_outputs(leak=4.0, n_leaky=5, failed_models=None)
    result = score_outputs(outputs, FAST_SCORING)
    page = render_report(result, outputs)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</head>", _PROBE + "</head>", 1), encoding="utf-8")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000", "--dump-dom", probed.as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    match = re.search(r'<pre id="render-check">(.*?)</pre>', completed.stdout, re.S)
    assert match, f"the page did not finish loading; chromium said: {completed.stderr[-2000:]}"
    check = json.loads(html.unescape(match.group(1)))
    assert check["errors"] == []
    assert check["images"] == 5 and check["decoded"] == 5
    assert check["score"] == f"{result.record['score']:.4f}" and check["scoreHeight"] > 20
