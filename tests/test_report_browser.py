"""The MultiQC report of a real pipeline run, rendered by a real headless Chromium.

Checks that the reads-per-region bar graph is drawn (Plotly ran in the page) with both samples in it, and
takes a screenshot (kept under the test's tmp dir; copied to docs/images/multiqc_report.png when
UPDATE_SCREENSHOT=1). Chromium comes from the Debian package, installed by tests/browser/install.sh.
"""

import os
import random
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from conftest import ROOT
from make_test_data import TEST_CONTIGS, random_pairs, write_bam

pytestmark = pytest.mark.pipeline

SAMPLES = ("alpha", "beta")
PLOT_ID = "region_counts_plot"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class ElementText(HTMLParser):
    """The classes and the text of the element with a given id (and of everything inside it)."""

    def __init__(self, element_id):
        super().__init__()
        self.element_id = element_id
        self.depth = 0  # > 0 while inside the element
        self.classes = None
        self.texts = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth == 0 and attrs.get("id") == self.element_id and self.classes is None:
            self.classes = (attrs.get("class") or "").split()
            self.depth = 1
        elif self.depth and tag not in VOID_TAGS:
            self.depth += 1

    def handle_startendtag(self, tag, attrs):
        pass  # self-closing: no depth change

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID_TAGS:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.texts.append(data)


def element_text(html, element_id):
    parser = ElementText(element_id)
    parser.feed(html)
    return parser.classes, parser.texts


@pytest.fixture(scope="session")
def chromium():
    proc = subprocess.run(
        ["bash", os.path.join(ROOT, "tests", "browser", "install.sh")], capture_output=True, text=True, timeout=900
    )
    path = shutil.which("chromium")
    if proc.returncode != 0 or path is None:
        pytest.fail(
            f"tests/browser/install.sh failed (exit {proc.returncode})\n{proc.stdout}{proc.stderr}", pytrace=False
        )
    return path


def run_chromium(chromium, tmp_path, *args):
    """Headless Chromium with a fresh profile; returns its stdout."""
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_multiqc_report_shows_the_region_bar_graph(run_pipeline, chromium, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for seed, sample in enumerate(SAMPLES, start=1):
        write_bam(
            str(data / f"{sample}.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 400, random.Random(seed)), seed=seed
        )
    run = run_pipeline("--input", str(data / "*.bam"))
    assert run.result.returncode == 0, run.log
    report = os.path.join(run.outdir, "multiqc", "multiqc_report.html")
    assert os.path.isfile(report), run.log
    assert os.path.isdir(os.path.join(run.outdir, "multiqc", "multiqc_data"))
    assert "Report:  " + report in run.log

    url = "file://" + report
    dom = run_chromium(chromium, tmp_path, "--virtual-time-budget=10000", "--dump-dom", url)
    classes, texts = element_text(dom, PLOT_ID)
    assert classes is not None, f"no element with id {PLOT_ID} in the rendered report"
    assert "js-plotly-plot" in classes, f"the bar graph was not drawn: classes {classes}"
    labels = {text.strip() for text in texts}
    assert set(SAMPLES) <= labels, f"samples missing from the plot; its texts: {sorted(labels)[:40]}"
    assert "Software Versions" in dom and "COUNTS_MATRIX" in dom

    screenshot = tmp_path / "multiqc_report.png"
    run_chromium(
        chromium, tmp_path, "--virtual-time-budget=10000", f"--screenshot={screenshot}", "--window-size=1400,2000", url
    )
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        target = os.path.join(ROOT, "docs", "images", "multiqc_report.png")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(screenshot, target)
