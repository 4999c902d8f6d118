"""BED regions at the edges of a reference, on the real pipeline (issue 19: items 12, 13, 16, 17): what the
console says and what is counted, against samtools view -c."""

import os
import random
import re
import subprocess

import pysam
import pytest
from conftest import assert_refused, read_text, samtools_count
from make_test_data import Read, random_pairs, write_bam

pytestmark = pytest.mark.pipeline

CONTIGS = [("chr1", 20_000), ("chrM", 1_000)]


@pytest.fixture(scope="module")
def past_end_bam(tmp_path_factory):
    """Reads every 5 bp of each contig and 400 bp past its @SQ length (malformed, but indexed and counted by
    samtools), written by pysam."""
    path = str(tmp_path_factory.mktemp("past") / "padded.bam")
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": length} for n, length in CONTIGS]}
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for tid, (_, length) in enumerate(CONTIGS):
            for pos in range(0, length + 400, 5):
                record = pysam.AlignedSegment(out.header)
                record.query_name, record.flag, record.mapping_quality = f"r{tid}_{pos}", 0, 30
                record.reference_id, record.reference_start = tid, pos
                record.cigarstring, record.query_sequence = "60M", "A" * 60
                out.write(record)
    pysam.index(path)
    return path


def warn_lines(log, text):
    return [line for line in log.splitlines() if line.startswith("WARN") and text in line]


def test_padded_targets_past_the_contig_end_count_as_samtools_with_one_warning(run_pipeline, past_end_bam, tmp_path):
    """Targets +/-100 bp on chrM hit its end: counted as samtools counts `{chrM}:901-1100` (item 17)."""
    regions = [("chrM", 900, 1100), ("chrM", 0, 300), ("chrM", 1000, 1300), ("chr1", 19_950, 20_100), ("chr1", 0, 500)]
    bed = tmp_path / "padded.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in regions))
    run = run_pipeline("--input", past_end_bam, "--regions", str(bed), "--skip_multiqc", "--samtools_args", "-q 20")
    assert run.result.returncode == 0, run.log
    expected = [
        (f"{c}:{s + 1}-{e}", samtools_count(past_end_bam, f"{{{c}}}:{s + 1}-{e}", "-q 20")) for c, s, e in regions
    ]
    total = sum(n for _, n in expected)
    assert (
        read_text(os.path.join(run.outdir, "padded", "padded_count.txt"))
        == "".join(f"Region {name}: {n}\n" for name, n in expected) + f"Total reads: {total}\n"
    )
    assert all(n > 0 for _, n in expected)
    warning = (
        "padded.bed: 3 lines end past the length of the contig in padded.bam (first: chrM:901-1100, chrM has "
        "1000 bp): counted to the BED end, as samtools view -c counts them"
    )
    assert warn_lines(run.log, "end past the length") == [f"WARN: {warning}"]
    # The summary's sum is not the reads in any region for a BED (item 16).
    summary = f"  padded: 5 regions, region counts sum to {total} (overlapping regions each count a read they share)"
    assert summary in run.log


def test_contigs_a_cohorts_bams_lack_are_one_line_per_bam_printed_once(run_pipeline, tmp_path):
    """A chr-named BED on 1/2/MT BAMs: one line per BAM, with the count, the first contigs and the cause
    (item 13); it was a 2.6 MB line printed 4 times, naming no BAM."""
    numbered = [("1", 20_000), ("2", 10_000), ("MT", 1_000)]
    sheet = ["sample,bam"]
    for sample, seed in (("a", 1), ("b", 2)):
        bam = write_bam(str(tmp_path / f"{sample}.bam"), numbered, random_pairs(numbered, 100, random.Random(seed)))
        sheet.append(f"{sample},{bam}")
    (tmp_path / "sheet.csv").write_text("\n".join(sheet) + "\n")
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"chr{c}\t{i}\t{i + 50}\n" for i in range(0, 900, 60) for c in ("1", "2", "M")))
    run = run_pipeline("--input", str(tmp_path / "sheet.csv"), "--regions", str(bed), "--skip_multiqc")
    line = "45 lines of panel.bed name contigs not in its header (3 contigs: 'chr1', 'chr2', 'chrM'); the BED uses "
    line += "chr1.., the BAM 1.. (names of another convention)"
    assert_refused(run, f"a.bam: {line}", f"b.bam: {line}")
    for sample in ("a", "b"):
        assert run.log.count(f"{sample}.bam: {line}") == 1, run.log
    assert max(len(text) for text in run.log.splitlines()) < 1000


def test_samples_on_references_of_different_lengths_are_named_on_the_console(run_pipeline, tmp_path):
    """chr1 of 20 kb and of 24 kb were one row of counts_matrix.tsv, with no word (item 12)."""
    sheet = ["sample,bam"]
    counts = {}
    for sample, contigs in (("a", CONTIGS), ("b", CONTIGS), ("c", [("chr1", 24_000), ("chrM", 1_000)])):
        bam = write_bam(str(tmp_path / f"{sample}.bam"), contigs, random_pairs(contigs, 200, random.Random(len(sheet))))
        sheet.append(f"{sample},{bam}")
        counts[sample] = {name: samtools_count(bam, f"{{{name}}}") for name, _ in contigs}
        every_contig = tmp_path / f"{sample}.contigs.bed"  # to the largest BAM position: past the length too
        every_contig.write_text("".join(f"{name}\t0\t2147483647\n" for name, _ in contigs))
        union_count = ["samtools", "view", "-c", "-M", "-L", str(every_contig), bam]
        union = subprocess.run(union_count, capture_output=True, text=True, check=True).stdout
        assert sum(counts[sample].values()) == int(union)  # contigs do not overlap: the sum is the union
        total = sum(counts[sample].values())
        counts[sample]["summary"] = f"  {sample}: 2 regions, region counts sum to {total} ({total} reads in any region)"
    (tmp_path / "sheet.csv").write_text("\n".join(sheet) + "\n")
    run = run_pipeline("--input", str(tmp_path / "sheet.csv"), "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    a, b, c = (counts[s] for s in "abc")
    assert read_text(os.path.join(run.outdir, "counts_matrix.tsv")) == (
        "region\ta\tb\tc\n"
        f"chr1 (20000 bp)\t{a['chr1']}\t{b['chr1']}\tNA\n"
        f"chrM\t{a['chrM']}\t{b['chrM']}\t{c['chrM']}\n"
        f"chr1 (24000 bp)\tNA\tNA\t{c['chr1']}\n"
    )
    assert warn_lines(run.log, "samples on different references") == [
        "WARN: samples on different references: 1 region name(s) have other lengths in other samples: 'chr1' is "
        "20000 bp in a, b and 24000 bp in c: counts_matrix.tsv keeps them apart as 'name (length bp)'"
    ]
    assert warn_lines(run.log, "have no count") == [
        "WARN: 3 region/sample pairs have no count (the samples have different regions), written as NA: a lacks 1 "
        "(first: 'chr1 (24000 bp)'); b lacks 1 (first: 'chr1 (24000 bp)'); c lacks 1 (first: 'chr1 (20000 bp)')"
    ]
    for sample in "abc":
        assert counts[sample]["summary"] in run.log


def test_a_corrupt_block_under_a_panel_shows_the_count_and_first_failures_first(run_pipeline, tmp_path):
    """The console showed the tail of every failed region, cutting the count (item 14): now each failed
    sample's line starts with the count and its first failures, each with samtools' own error."""
    rng = random.Random(3)
    contigs = [("chr1", 200_000)]
    reads = [Read(f"r{i}", 0, "chr1", rng.randrange(0, 199_900), "100M") for i in range(30_000)]
    good = write_bam(str(tmp_path / "good.bam"), contigs, reads)
    data = bytearray(open(good, "rb").read())
    blocks, offset = [], 0
    while offset < len(data):  # BGZF blocks: BSIZE (the block's size - 1) at bytes 16-17
        blocks.append(offset)
        offset += int.from_bytes(data[offset + 16 : offset + 18], "little") + 1
    middle = blocks[len(blocks) // 2] + 40  # inside the middle block's deflate data
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    (tmp_path / "data").mkdir()
    bad = tmp_path / "data" / "bad.bam"
    bad.write_bytes(bytes(data))
    (tmp_path / "data" / "bad.bam.bai").write_bytes(open(good + ".bai", "rb").read())
    regions = [(s, s + 80) for s in range(0, 198_000, 330)]
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"chr1\t{s}\t{e}\n" for s, e in regions))
    failing = []
    for s, e in regions:
        result = subprocess.run(["samtools", "view", "-c", str(bad), f"chr1:{s + 1}-{e}"], capture_output=True)
        if result.returncode != 0 or result.stderr:
            failing.append(f"chr1:{s + 1}-{e}")
    assert 0 < len(failing) < len(regions) // 4
    run = run_pipeline("--input", str(bad), "--regions", str(bed), "--skip_multiqc")
    assert run.result.returncode != 0
    headline = f"sample 'bad': {len(failing)} of {len(regions)} regions failed; no count file written; first: "
    lines = [line.strip() for line in run.log.splitlines() if line.strip().startswith(headline)]
    assert lines, run.log
    first = lines[-1].removeprefix(headline)
    assert re.findall(r"region '([^']*)': ", first) == failing[:3]
    assert first.count("samtools exited with status 1: [E::bgzf_uncompress]") == 3, first
    assert not os.path.exists(os.path.join(run.outdir, "bad", "bad_count.txt"))
