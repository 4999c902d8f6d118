"""Contig names a BED cannot hold (found by a fuzz campaign, 2026-12-06): samtools reads a -L BED line's contig
name up to its first whitespace and skips lines starting with '#', so a batch BED line of 'c1 ' or 'chr 5 9'
was read as another contig's (or none) and its regions counted 0, exit 0. Such names are legal in a BAM header
and `samtools view -c file '{c1 }:1-300'` counts them: every count here is compared with that."""

import os
import subprocess

import count_unit
import plan_units
import pysam
import pytest
import reduce_counts
import task_files
from conftest import assert_refused, read_text, read_tsv, samtools_count

NAMES = ["c1", "c1 ", " c1", "chr", "chr 5 9", "#x", "track1", "a\x0bb"]


@pytest.mark.parametrize(
    "name, writable",
    [("chr1", True), ("HLA-A*01:01", True), ("c1 ", False), (" c1", False), ("chr 5 9", False), ("a\tb", False),
     ("a\x0bb", False), ("a\x0cb", False), ("a\rb", False), ("#x", False), ("track1", False), ("browser", False),
     ("x#", True), ("chr1,alt", True)],
)  # fmt: skip
def test_a_contig_name_a_bed_line_cannot_hold_is_never_batched(name, writable):
    assert task_files.bed_writable(name) is writable


def spaced_bam(path, names, length=20_000, step=50):
    """An indexed BAM of the named contigs, a 20M read every `step` bp of each (the first, 'c1', denser)."""
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": length} for n in names]}
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for tid in range(len(names)):
            for pos in range(0, length - 100, step // 5 if tid == 0 else step):
                read = pysam.AlignedSegment(out.header)
                read.query_name, read.flag, read.mapping_quality = f"r{tid}_{pos}", 0, 60
                read.reference_id, read.reference_start = tid, pos
                read.cigarstring, read.query_sequence = "20M", "A" * 20
                out.write(read)
    pysam.index(path)
    return path


def run_chain(folder, bam, bed=None, *knobs):
    """plan_units.py -> count_unit.py (every unit) -> reduce_counts.py on one sample, in folder; the sample's
    counts.tsv rows and the failures."""
    manifest = folder / "samples.tsv"
    manifest.write_text(f"sample\talignments\tindex\tfile_name\ns0\t{bam}\t{bam}.bai\tt.bam\n")
    bed_args = ["--bed", str(bed)] if bed else []
    assert plan_units.main(["--samples", str(manifest), *bed_args, *knobs, "--outdir", str(folder)]) == 0
    counting = folder / "count.tsv"
    counting.write_text(f"sample\talignments\tindex\ns0\t{bam}\t{bam}.bai\n")
    results = []
    for unit in sorted((folder / "units").iterdir()):
        out = folder / f"{unit.stem}.result.tsv"
        arguments = ["--samples", str(counting), "--unit", str(unit), "--out", str(out)]
        assert count_unit.main([*arguments, "--index-statistics", str(folder / "index_statistics.tsv")]) == 0
        results.append(str(out))
    regions = [str(path) for path in (folder / "regions").iterdir()]
    assert reduce_counts.main(["--outdir", str(folder / "out"), *results, "--regions", *regions]) == 0
    with open(folder / "out" / "s0" / "s0.counts.tsv") as handle:
        rows = read_tsv(handle)
    return rows, (folder / "out" / "failures.txt").read_text()


def test_panel_regions_on_contigs_with_spaces_count_as_samtools_view(tmp_path):
    """1,200 regions on 'c1' (a batch read in full over its span: the stream path) and regions on contigs whose
    names hold whitespace or start like a BED header line: each region = samtools view -c, no failure."""
    bam = spaced_bam(str(tmp_path / "t.bam"), NAMES)
    lines = [f"c1\t{s}\t{s + 40}\tc1_{s}\n" for s in range(0, 19_200, 16)]
    lines += [f"{n}\t{s}\t{s + 300}\t{n.strip() or 'x'}_{s}\n" for n in NAMES[1:] for s in (0, 700, 5_000)]
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(lines))
    rows, failures = run_chain(tmp_path, bam, bed, "--max-units", "1")
    assert failures == ""
    with open(tmp_path / "regions" / "s0.regions.tsv") as handle:
        table = read_tsv(handle)
    assert len(rows) == len(table) == len(lines)
    for row, region in zip(rows, table):
        expected = samtools_count(bam, f"{{{region['contig']}}}:{int(region['start']) + 1}-{region['end']}")
        assert (region["contig"], int(row["count"])) == (region["contig"], expected)
    assert all(int(row["count"]) > 0 for row in rows)  # every region holds reads: none counted 0 in another's place


def test_whole_contigs_with_spaces_among_many_count_as_samtools_view(tmp_path):
    """Per contig: 140 contigs and 'c1 0 5' (64 or more whole contigs in a unit are counted as intervals of
    a -M -L BED): each contig = samtools view -c '{name}'."""
    names = [f"c{i}" for i in range(140)] + ["c1 0 5", "c7 "]
    bam = spaced_bam(str(tmp_path / "t.bam"), names, length=1_000, step=100)
    rows, failures = run_chain(tmp_path, bam, None, "--max-units", "2", "--min-unit-reads", "1")
    assert failures == ""
    assert [(row["region"], int(row["count"])) for row in rows] == [(n, samtools_count(bam, f"{{{n}}}")) for n in names]


def test_a_cached_plan_that_batched_such_a_contig_is_counted_alone(tmp_path):
    """A unit written by an older planner (a -resume may find it) with batch items of 'c1 ' and ' c1': the
    counter counts them by their own calls, as samtools view -c does; before, 0."""
    bam = spaced_bam(str(tmp_path / "t.bam"), NAMES[:3])
    unit = tmp_path / "unit_0001.tsv"
    items = [task_files.UnitItem("*", str(i + 1), name, 0, 300, False, "batch") for i, name in enumerate(NAMES[:3])]
    task_files.write_unit(str(unit), items)
    manifest = tmp_path / "count.tsv"
    manifest.write_text(f"sample\talignments\tindex\ns0\t{bam}\t{bam}.bai\n")
    out = tmp_path / "unit_0001.result.tsv"
    assert count_unit.main(["--samples", str(manifest), "--unit", str(unit), "--out", str(out)]) == 0
    with open(unit) as handle:
        unit_items = task_files.read_unit(handle)
    rows = task_files.read_result_rows(out.read_text().splitlines(keepends=True), unit_items)
    assert [int(row["count"]) for row in rows] == [samtools_count(bam, f"{{{n}}}:1-300") for n in NAMES[:3]]
    assert all(row["status"] == "ok" for row in rows)


def test_samtools_reads_a_bed_line_of_such_a_name_as_another_contig(tmp_path):
    """Why: the BED line of 'c1 ' read back by samtools gives the records of 'c1' (and none of 'c1 ')."""
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "c1 "])
    bed = tmp_path / "b.bed"
    bed.write_text("c1 \t0\t300\n")
    names = subprocess.run(["samtools", "view", "-M", "-L", str(bed), bam], capture_output=True, text=True, check=True)
    contigs = {line.split("\t")[2] for line in names.stdout.splitlines()}
    assert contigs == {"c1"} and samtools_count(bam, "{c1 }:1-300") > 0


@pytest.mark.pipeline
def test_the_pipeline_counts_regions_of_contigs_with_spaces_as_samtools_view(run_pipeline, tmp_path):
    """The whole pipeline on a panel naming 'c1', 'c1 ', ' c1', 'chr' and 'chr 5 9': the count file's every
    line = samtools view -c of that region, exit 0."""
    bam = spaced_bam(str(tmp_path / "spaced.bam"), NAMES[:5])
    regions = [(n, s, s + 300) for n in NAMES[:5] for s in (0, 900)]
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in regions))
    run = run_pipeline("--input", bam, "--regions", str(bed), "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    expected = [(f"{c}:{s + 1}-{e}", samtools_count(bam, f"{{{c}}}:{s + 1}-{e}")) for c, s, e in regions]
    lines = "".join(f"Region {name}: {n}\n" for name, n in expected)
    assert read_text(os.path.join(run.outdir, "spaced", "spaced_count.txt")) == (
        lines + f"Total reads: {sum(n for _, n in expected)}\n"
    )
    assert all(n > 0 for _, n in expected)


def test_a_contig_named_with_a_line_break_is_refused_per_contig(tmp_path, caplog):
    """A BAM's binary reference list can hold 'a\\rb' (samtools counts it): per contig it would be a line of the
    unit files and tables, read a line at a time (count_unit.py failed on a 'malformed' unit line before).
    One line, exit 2, no unit written."""
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "a\rb", "c2", "x\ry"], length=2_000)
    manifest = tmp_path / "samples.tsv"
    manifest.write_text(f"sample\talignments\tindex\tfile_name\ns0\t{bam}\t{bam}.bai\tt.bam\n")
    assert plan_units.main(["--samples", str(manifest), "--outdir", str(tmp_path / "plan")]) == 2
    assert caplog.messages == [
        "t.bam: the header names 2 contig(s) to count holding a line break (CR or LF), which the SAM specification "
        "does not allow: 'a\\rb', 'x\\ry': correct the header (samtools reheader), or count other contigs (--regions)"
    ]
    assert not (tmp_path / "plan").exists()


def test_the_other_contigs_of_such_a_bam_count_through_a_bed(tmp_path):
    """With a BED of the other contigs, the BAM is counted: each region = samtools view -c."""
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "a\rb", "c2"], length=2_000)
    bed = tmp_path / "panel.bed"
    bed.write_text("c1\t0\t2000\tone\nc2\t100\t900\ttwo\n")
    rows, failures = run_chain(tmp_path, bam, bed)
    assert failures == ""
    assert [(row["region"], int(row["count"])) for row in rows] == [
        ("one", samtools_count(bam, "{c1}:1-2000")),
        ("two", samtools_count(bam, "{c2}:101-900")),
    ]
    assert all(int(row["count"]) > 0 for row in rows)


def test_a_bed_line_on_such_a_contig_is_refused(tmp_path, caplog):
    """A BED line can name it too (its first field, up to a tab): the same line, exit 2."""
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "a\rb"], length=2_000)
    manifest = tmp_path / "samples.tsv"
    manifest.write_text(f"sample\talignments\tindex\tfile_name\ns0\t{bam}\t{bam}.bai\tt.bam\n")
    bed = tmp_path / "panel.bed"
    bed.write_text("c1\t0\t100\tone\na\rb\t0\t100\tcr\n")
    arguments = ["--samples", str(manifest), "--bed", str(bed), "--outdir", str(tmp_path / "plan")]
    assert plan_units.main(arguments) == 2
    assert caplog.messages == [
        "t.bam: the header names 1 contig(s) to count holding a line break (CR or LF), which the SAM specification "
        "does not allow: 'a\\rb': correct the header (samtools reheader), or count other contigs (--regions)"
    ]
    assert not (tmp_path / "plan").exists()


@pytest.mark.pipeline
def test_the_pipeline_refuses_such_a_bam_per_contig_in_one_line(run_pipeline, tmp_path):
    bam = spaced_bam(str(tmp_path / "crname.bam"), ["c1", "a\rb"], length=2_000)
    assert_refused(
        run_pipeline("--input", bam, "--skip_multiqc"),
        "crname.bam: the header names 1 contig(s) to count holding a line break (CR or LF), which the SAM "
        "specification does not allow: 'a\\rb': correct the header (samtools reheader), or count other contigs "
        "(--regions)",
    )


# A header that names a contig twice (found by trying it, 2026-12-06): pysam writes one and htslib reads it, but
# cannot map names to reference sequences. Per contig the pipeline printed 'Region c1: <count of the first c1>'
# twice, the second c1's records lost from its count, exit 0.
REPEATED_LINE = (
    "t.bam: the header names 1 contig(s) more than once, which the SAM specification does not allow (samtools "
    "then finds no region of the file by name): 'c1': correct the header (samtools reheader)"
)


def test_samtools_finds_no_region_of_a_header_naming_a_contig_twice(tmp_path):
    """Why such a file is refused: `samtools view -c` finds no region of it, not even one of another contig."""
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "c2", "c1"], length=2_000)
    assert int(subprocess.run(["samtools", "view", "-c", bam], capture_output=True, text=True).stdout) > 0
    result = subprocess.run(["samtools", "view", "-c", bam, "{c2}"], capture_output=True, text=True)
    assert result.stdout == "0\n"
    assert 'Duplicate entry "c1"' in result.stderr


@pytest.mark.parametrize("bed_text", [None, "c2\t0\t2000\tother\n"], ids=["per-contig", "bed-of-another-contig"])
def test_a_header_naming_a_contig_twice_is_refused(tmp_path, caplog, bed_text):
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "c2", "c1"], length=2_000)
    manifest = tmp_path / "samples.tsv"
    manifest.write_text(f"sample\talignments\tindex\tfile_name\ns0\t{bam}\t{bam}.bai\tt.bam\n")
    arguments = ["--samples", str(manifest), "--outdir", str(tmp_path / "plan")]
    if bed_text:
        (tmp_path / "panel.bed").write_text(bed_text)
        arguments += ["--bed", str(tmp_path / "panel.bed")]
    assert plan_units.main(arguments) == 2
    assert caplog.messages == [REPEATED_LINE]
    assert not (tmp_path / "plan").exists()


@pytest.mark.pipeline
def test_the_pipeline_refuses_a_header_naming_a_contig_twice(run_pipeline, tmp_path):
    bam = spaced_bam(str(tmp_path / "t.bam"), ["c1", "c2", "c1"], length=2_000)
    run = run_pipeline("--input", bam, "--skip_multiqc")
    assert_refused(run, REPEATED_LINE)
    assert not os.path.exists(os.path.join(run.outdir, "counts_matrix.tsv"))


def test_the_contigs_named_twice_are_listed_in_header_order_three_at_most():
    contigs = [(name, 100) for name in ["a", "b", "a", "c", "d", "b", "e", "c", "d", "e", "a"]]
    assert plan_units.repeated_contigs_problem(contigs, "x.bam") == (
        "x.bam: the header names 5 contig(s) more than once, which the SAM specification does not allow (samtools "
        "then finds no region of the file by name): 'a', 'b', 'c' and 2 more: correct the header (samtools reheader)"
    )
    assert plan_units.repeated_contigs_problem([("a", 1), ("A", 1)], "x.bam") is None
