"""Unit tests for bin/count_unit.py and the modules it counts with (count_modes.py, unit_counting.py,
samtools_pipes.py), counting with the real samtools on BAMs written here.

The oracle is samtools itself: every count must equal `samtools view -c <the user's options> <bam> <region>`.
The BAM holds records placed past their contig's @SQ length (malformed, but samtools counts them in
`{name}`), read groups with libraries, and NM tags, so that every allowed filter has something to filter.
"""

import os
import pathlib
import random
import subprocess
import sys

import count_modes as modes
import count_unit as cu
import overlap_sweep as sweep
import pysam
import pytest
import samtools_options
import samtools_pipes as pipes
import task_files as tf
import unit_counting as uc
from conftest import ROOT, cram_of, fake_samtools, samtools_count
from make_test_data import Read, header_for, sort_key, to_segment

CONTIGS = [("chr1", 50_000), ("chr1:100-200", 5_000), ("x$y;z&w|v'q", 3_000), ("empty", 1_000)]
COUNT_UNIT = os.path.join(ROOT, "bin", "count_unit.py")


# The unit file's and the result's columns, as the planner writes and the reducer reads them.
UNIT_HEADER = ["sample", "region_id", "contig", "start", "end", "whole", "mode", "open_end"]
RESULT_HEADER = ["kind", "sample", "region_id", "contig", "start", "end", "mode", "count", "status", "message"]


def query_length(cigar):
    return sum(int(n) for n, op in sweep.CIGAR_OP.findall(cigar.encode()) if op in b"MIS=X")


def varied_reads(rng, n=3000):
    """Reads of 20 bp to 5 kb on the reference (deletions, skips, clips), unmapped ones placed at a mate,
    and some placed past the contig's end or straddling it."""
    reads = []
    for i in range(n):
        contig, length = rng.choice(CONTIGS[:3])
        pos = rng.randrange(0, length - 10)
        kind = rng.random()
        if kind < 0.1:
            reads.append(Read(f"u{i}", 0x1 | 0x4, contig, pos, None, 0, contig, pos))
            continue
        if kind < 0.13:  # past the end (POS > LN), or straddling it
            pos = length + rng.randrange(0, 20_000) if kind < 0.12 else length - rng.randrange(1, 40)
        match = rng.randint(10, 100)
        cigar = rng.choice(
            [
                f"{match}M",
                f"5S{match}M",
                f"{match}M{rng.randint(1, 50)}D10M",
                f"10M{rng.randint(100, 4000)}N{match}M",
                f"{match}M3I10M2S",
            ]
        )
        reads.append(
            Read(
                f"r{i}",
                rng.choice([0, 0x10, 0x100, 0x400, 0x800, 0x1 | 0x40]),
                contig,
                pos,
                cigar,
                rng.randint(0, 60),
                length=query_length(cigar),
            )
        )
    return reads


def write_tagged_bam(path, contigs, reads, seed=1):
    """A sorted, indexed BAM with read groups g1 (library libA) and g2 (libB) and NM tags on most records."""
    rng = random.Random(seed)
    header = {**header_for(contigs), "RG": [{"ID": "g1", "LB": "libA"}, {"ID": "g2", "LB": "libB"}]}
    order = {name: i for i, (name, _) in enumerate(contigs)}
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for read in sorted(reads, key=lambda r: sort_key(r, order)):
            segment = to_segment(read, out.header, rng)
            segment.set_tag("RG", rng.choice(["g1", "g2"]))
            if rng.random() < 0.7:
                segment.set_tag("NM", rng.randint(0, 4))
            out.write(segment)
    pysam.index(path)
    return path


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    return write_tagged_bam(str(tmp_path_factory.mktemp("bam") / "varied.bam"), CONTIGS, varied_reads(random.Random(7)))


@pytest.fixture(scope="module")
def cram(tmp_path_factory):
    """A CRAM with records past the contig ends that htslib can decode: plain 30M reads."""
    rng, reads = random.Random(5), []
    for i in range(800):
        contig, length = rng.choice(CONTIGS[:3])
        kind = rng.random()
        pos = rng.randrange(0, length - 40)
        if kind < 0.08:  # past the end, or straddling it
            pos = length + rng.randrange(0, 5000) if kind < 0.05 else length - rng.randrange(1, 20)
        reads.append(Read(f"r{i}", rng.choice([0, 0x10, 0x400]), contig, pos, "30M", rng.randint(0, 60), length=30))
    folder = tmp_path_factory.mktemp("cram")
    return cram_of(write_tagged_bam(str(folder / "reads.bam"), CONTIGS, reads), CONTIGS, folder, "reads")


def item(contig, start, end, mode, whole=False, region_id="1", open_end=False, sample="s"):
    return tf.UnitItem(sample, region_id, contig, start, end, whole, mode, open_end)


def run(items, bam, tmp_path, samtools_args="", samtools="samtools", index=None, reference=None):
    """count_unit with one sample, "s", whose files are bam and its index."""
    samples = {"s": tf.SampleFiles("s", bam, index or bam + ".bai")}
    return uc.count_unit(items, samples, samtools, reference, 0, samtools_args, str(tmp_path))


def pieces(contig, first, last, step, whole_contig):
    """A region split as the planner splits it: a single, then chunks; the last piece of a whole contig
    is open-ended."""
    bounds = [*range(first, last, step), last]
    return [
        item(contig, a, b, "single" if a == first else "chunk", open_end=whole_contig and b == last)
        for a, b in zip(bounds, bounds[1:])
    ]


def region_of(contig, first, last, whole_contig):
    return f"{{{contig}}}" if whole_contig else f"{{{contig}}}:{first + 1}-{last}"


INTERVALS = [
    ("chr1", 0, 50_000, True),
    ("chr1", 999, 2000, False),
    ("chr1", 1500, 1501, False),
    ("chr1", 49_990, 50_000, False),
    ("chr1:100-200", 0, 5000, True),
    ("chr1:100-200", 10, 400, False),
    ("x$y;z&w|v'q", 0, 3000, True),
    ("x$y;z&w|v'q", 2999, 3000, False),
    ("empty", 0, 1000, True),
]
SPLIT = [("chr1", 0, 50_000, 7919, True), ("chr1", 1234, 40_321, 9973, False), ("x$y;z&w|v'q", 0, 3000, 700, True)]

# Option strings as users write them: samtools reads each the same way as count_unit must.
ACCEPTED = [
    "",
    "-F 0x904 -q 20",
    "-q20 -F0x904",
    "-emapq>=30",
    "-e 'mapq >= 30'",
    "--expr=mapq>=30",
    "--expr 'mapq >= 30 && !flag.reverse'",
    "--expression='flag.reverse || mapq > 50'",
    "--exp=mapq<10",
    "-e 'mapq < 5' -e 'mapq >= 40'",
    "--expr=flag.dup -e'!flag.dup'",
    "-q 5 -q 40",
    "-F 0x10 -F 0x400",
    "-F SECONDARY,SUPPLEMENTARY",
    "-f REVERSE",
    "--excl 0x904",
    "--exclude=1024",
    "--rf 0x900",
    "--incl=0x10 -q 1",
    "-G 0x41",
    "-SF4",
    "-Sq30",
    "--min-MQ=30",
    "--min-m 30",
    "-m 50",
    "--min-q=80",
    "-r g1",
    "-r g1 -r g2 -q 30",
    "--read-group=g2",
    "-l libA",
    "--lib=libB -F 0x10",
    "-d RG:g1",
    "-d NM:2 -d NM:3",
    "--tag=NM",
    "-s 7.5",
    "--subsample 0.3 --subsample-seed 9",
    "--subsample-s=4 --subsample=0.6",
    "--no-PG -q 1",
    "-q 20 -e 'flag.paired || mapq > 50'",
    "-e '[NM] > 1'",
    "-e '[RG] == \"g2\" || [NM] == 0'",
    "-e 'qname =~ \"^r1\"'",
    "-e 'pos > 1000'",
    "-F 010",
]


@pytest.mark.parametrize("samtools_args", ACCEPTED)
def test_every_mode_equals_samtools_view_c_with_the_users_options(bam, tmp_path, samtools_args):
    """Single, batch and pass items, and regions split into pieces (their sum), in one unit, against
    samtools given the user's string as the user wrote it."""
    items, expected = [], []
    for mode in ("single", "batch"):
        for c, s, e, whole in INTERVALS:
            items.append(item(c, s, e, mode, whole, region_id=str(len(items))))
            expected.append(samtools_count(bam, modes.region_string(items[-1]), samtools_args))
    for c, length in CONTIGS:  # a sample's every contig, counted in one region-less pass
        items.append(item(c, 0, length, "pass", True, region_id=str(len(items)), open_end=True))
        expected.append(samtools_count(bam, f"{{{c}}}", samtools_args))
    split = [pieces(c, first, last, step, whole) for c, first, last, step, whole in SPLIT]
    outcomes = run(items + [p for region in split for p in region], bam, tmp_path, samtools_args)
    assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes if o.status != "ok"]
    assert [o.count for o in outcomes[: len(items)]] == expected
    sums, offset = [], len(items)
    for region in split:
        sums.append(sum(o.count for o in outcomes[offset : offset + len(region)]))
        offset += len(region)
    assert sums == [samtools_count(bam, region_of(c, f, la, w), samtools_args) for c, f, la, _, w in SPLIT]


def test_reference_end_matches_htslib(bam):
    with pysam.AlignmentFile(bam) as aln:
        for segment in aln.fetch(until_eof=True):
            expected = segment.reference_end if not segment.is_unmapped else segment.reference_start + 1
            cigar = (segment.cigarstring or "*").encode()
            assert sweep.reference_end(segment.reference_start, segment.flag, cigar) == expected


def test_region_strings_never_parse_names_as_ranges():
    assert modes.region_string(item("chr1:100-200", 0, 5000, "single", whole=True)) == "{chr1:100-200}"
    assert modes.region_string(item("chr1:100-200", 9, 20, "single")) == "{chr1:100-200}:10-20"
    assert modes.region_string(item("chr1:100-200", 9, 5000, "chunk", open_end=True)) == "{chr1:100-200}:10"


def test_filter_expression_combines_the_user_expression_in_parentheses():
    expression = modes.filter_expression("flag.paired || mapq > 5", starts_before=10)
    assert expression == "(flag.paired || mapq > 5) && pos <= 10"
    assert modes.filter_expression("", starts_before=10) == "pos <= 10"
    assert modes.filter_expression("mapq > 5") == "mapq > 5"
    assert modes.filter_expression("") == ""


def test_only_the_last_expression_counts_as_in_samtools(bam, tmp_path):
    """samtools keeps the last -e: `-e A -e B` is B, not A && B (what the chunks used to count)."""
    args = "-e 'mapq < 30' -e 'flag.reverse'"
    split = pieces("chr1", 0, 50_000, 4999, True)
    assert sum(o.count for o in run(split, bam, tmp_path, args)) == samtools_count(bam, "{chr1}", args)
    assert samtools_count(bam, "{chr1}", args) != samtools_count(bam, "{chr1}", "-e '(mapq < 30) && (flag.reverse)'")


@pytest.mark.parametrize("args", ["-emapq>=30", "--expr=mapq>=30", "--exp 'mapq >= 30'", "-q1 -emapq>=30"])
def test_chunks_keep_an_attached_or_abbreviated_expression(bam, tmp_path, args):
    """The chunks' boundary call adds `pos <= N` to the user's expression; it used to drop these forms."""
    split = pieces("chr1", 1234, 40_321, 997, False)
    assert sum(o.count for o in run(split, bam, tmp_path, args)) == samtools_count(bam, "chr1:1235-40321", args)
    assert samtools_count(bam, "chr1:1235-40321", args) != samtools_count(bam, "chr1:1235-40321")


def test_records_past_the_contig_end_count_in_every_mode(bam, tmp_path):
    """`{name}` counts records placed past the @SQ length: whole contigs single and batched, and a split
    whole contig (its open-ended last piece) count them too."""
    for contig, length in CONTIGS[:3]:
        whole = samtools_count(bam, f"{{{contig}}}")
        assert whole > samtools_count(bam, f"{{{contig}}}:1-{length}")  # the data has such records
        outcomes = run(
            [item(contig, 0, length, mode, True, open_end=True) for mode in ("single", "batch", "pass")], bam, tmp_path
        )
        assert [(o.status, o.count) for o in outcomes] == [("ok", whole)] * 3
        split = pieces(contig, 0, length, length // 3, True)
        assert sum(o.count for o in run(split, bam, tmp_path)) == whole


def test_records_past_the_contig_end_count_in_a_cram(cram, tmp_path):
    path, reference = cram
    oracle = f"-T {reference}"
    items = [item(c, 0, length, mode, True, region_id=c) for mode in ("batch", "pass") for c, length in CONTIGS]
    items += pieces("chr1", 0, 50_000, 9000, True)
    outcomes = run(items, path, tmp_path, index=path + ".crai", reference=reference)
    assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes]
    whole = [samtools_count(path, f"{{{c}}}", oracle) for c, _ in CONTIGS]
    assert [o.count for o in outcomes[: 2 * len(CONTIGS)]] == whole * 2
    pieces_sum = sum(o.count for o in outcomes[2 * len(CONTIGS) :])
    assert pieces_sum == whole[0] > samtools_count(path, "chr1:1-50000", oracle)


def test_an_undecodable_cram_fails_loudly(bam, tmp_path):
    """htslib cannot decode CRAM slices whose records reach far past the reference (CIGAR beyond the slice's
    extents): samtools view fails, and so do the items, never a count."""
    path, reference = cram_of(bam, CONTIGS, tmp_path, "reads")
    items = [item("chr1", 0, 50_000, mode, True, region_id=mode) for mode in ("batch", "single")]
    outcomes = run(items, path, tmp_path, index=path + ".crai", reference=reference)
    assert [o.status for o in outcomes] == ["error", "error"]
    assert all("CRAM CIGAR extends beyond slice reference extents" in o.message for o in outcomes)
    direct = subprocess.run(["samtools", "view", "-c", "-T", reference, path, "{chr1}"], capture_output=True, text=True)
    assert direct.returncode != 0


def test_whole_contigs_in_several_argument_groups(bam, tmp_path, monkeypatch):
    assert modes.argument_groups(["a", "bb", "ccc", "d"], 10) == [["a", "bb"], ["ccc", "d"]]  # `{name}` and a separator
    assert modes.argument_groups(["a" * 20, "b"], 9) == [["a" * 20], ["b"]]
    monkeypatch.setattr(modes, "REGION_ARGUMENT_BYTES", 20)
    items = [item(c, 0, length, "batch", True, region_id=c) for c, length in CONTIGS]
    outcomes = run(items, bam, tmp_path, "-F 0x10")
    assert [(o.status, o.count) for o in outcomes] == [
        ("ok", samtools_count(bam, f"{{{c}}}", "-F 0x10")) for c, _ in CONTIGS
    ]


@pytest.mark.parametrize("index_kind", ["bai", "csi"])
def test_many_whole_contigs_count_as_intervals_to_their_records_reach(bam, tmp_path, monkeypatch, index_kind):
    """From WHOLE_AS_INTERVALS_MIN whole contigs on, a batch reads how far each contig's records reach from the
    index (BAI or CSI) and counts them as intervals of one -M -L pass, not as `{name}` arguments: the same
    counts as `samtools view -c {name}`, the records placed up to 20 kb past a contig's @SQ length included."""
    monkeypatch.setattr(modes, "WHOLE_AS_INTERVALS_MIN", 2)
    modes.contig_reaches.cache_clear()
    pipes.idxstats_rows.cache_clear()
    copy = str(tmp_path / "copy.bam")
    with open(bam, "rb") as source, open(copy, "wb") as target:
        target.write(source.read())
    pysam.index(copy, *(["-c"] if index_kind == "csi" else []))
    reaches = modes.contig_reaches("samtools", (copy,))
    assert reaches["chr1"] > 50_000 + 10_000  # records placed past chr1's 50 kb are within reach
    assert reaches["empty"] == 1
    calls = tmp_path / "calls"
    logging = fake_samtools(tmp_path, f'echo "$*" >> {calls}\nexec samtools "$@"')
    items = [item(c, 0, length, "batch", True, region_id=c) for c, length in CONTIGS]
    for samtools_args in ("", "-F 0x10"):
        outcomes = run(items, copy, tmp_path, samtools_args, samtools=logging, index=copy + "." + index_kind)
        expected = [samtools_count(copy, f"{{{c}}}", samtools_args) for c, _ in CONTIGS]
        assert [(o.status, o.count) for o in outcomes] == [("ok", n) for n in expected]
    views = [line for line in calls.read_text().splitlines() if line.startswith("view") and copy in line]
    assert len(views) == 2 and all(" -L " in line and "{" not in line for line in views), views
    assert sum(expected) > 1000


def rows_of(path, unit):
    """The result rows (dicts of tf.RESULT_COLUMNS) of a unit result, a run's items' from the unit file."""
    with open(unit) as handle:
        items = tf.read_unit(handle)
    with open(path) as handle:
        return tf.read_result_rows(handle, items)


def write_unit(path, items):
    rows = [
        [it.sample, it.region_id, it.contig, it.start, it.end, int(it.whole_contig), it.mode, int(it.open_end)]
        for it in items
    ]
    lines = ["\t".join(UNIT_HEADER)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_manifest(path, samples):
    """The --samples manifest for (sample, alignments, index) triples."""
    lines = ["sample\talignments\tindex", *("\t".join(row) for row in samples)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_overlap_counting_of_adjacent_ranges_double_counts(bam, tmp_path):
    bounds = [*range(0, 50_000, 997), 50_000]
    # Overlap counting of the same ranges counts reads that span a boundary more than once.
    overlap = [item("chr1", a, b, "single") for a, b in zip(bounds, bounds[1:])]
    assert sum(o.count for o in run(overlap, bam, tmp_path)) > samtools_count(bam, "chr1:1-50000")


def test_samtools_error_output_fails_the_item_with_its_message(bam, tmp_path):
    outcomes = run([item("chr1", 0, 50_000, "single", True), item("nope", 0, 10, "single", True)], bam, tmp_path)
    assert outcomes[0].status == "ok"
    assert outcomes[1].status == "error"
    assert 'region "{nope}" specifies an invalid region or unknown reference' in outcomes[1].message


@pytest.mark.parametrize("killed", ['"${@: -1}" != -', '"${@: -1}" == -'], ids=["count", "options-check"])
def test_killed_samtools_is_retryable(bam, tmp_path, killed):
    """A killed counting call, and a killed option check (the call that reads stdin, '-')."""
    samtools = fake_samtools(tmp_path, f'if [[ {killed} ]]; then echo Killed >&2; exit 137; fi\nexec samtools "$@"')
    with pytest.raises(samtools_options.SamtoolsKilled) as failure:
        run([item("chr1", 0, 10, "single")], bam, tmp_path, "-q 20", samtools=samtools)
    assert failure.value.exit_code == 137


@pytest.mark.parametrize("mode", ["pass", "batch"])
@pytest.mark.parametrize("output", ["", "echo 'BAM or SAM?'"], ids=["no-output", "cut-output"])
def test_a_pass_whose_samtools_is_killed_is_retryable(bam, tmp_path, mode, output):
    """A shared pass whose samtools is killed once (out of memory) leaves a cut or empty stream: the task is
    retried (exit 137), its items are not counted one by one as if the file were bad."""
    marker = tmp_path / "killed"
    samtools = fake_samtools(
        tmp_path,
        f'if [[ " $* " != *" - "* && ! -e {marker} ]]; then touch {marker}; {output or ":"}; '
        'echo Killed >&2; exit 137; fi\nexec samtools "$@"',
    )
    items = [item(c, 0, length, mode, True, region_id=c, open_end=True) for c, length in CONTIGS]
    with pytest.raises(samtools_options.SamtoolsKilled) as failure:
        run(items, bam, tmp_path, "-q 20", samtools=samtools)
    assert failure.value.exit_code == 137 and marker.exists()


def test_main_writes_results_and_returns_retry_status(bam, tmp_path):
    unit = tmp_path / "unit_0001.tsv"
    unit.write_text(  # a unit file without the open_end column (written before it existed) still reads
        "sample\tregion_id\tcontig\tstart\tend\twhole\tmode\n"
        "s\t1\tchr1\t0\t50000\t1\tbatch\ns\t2\tempty\t0\t1000\t1\tsingle\n"
        "s\t3\tchr1\t0\t20000\t0\tsingle\ns\t3\tchr1\t20000\t50000\t0\tchunk\n"
    )
    samples = write_manifest(tmp_path / "samples.tsv", [("s", bam, bam + ".bai")])
    out = tmp_path / "unit_0001.result.tsv"
    assert cu.main(["--samples", samples, "--unit", str(unit), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == tf.RESULT_FILE_COLUMNS == RESULT_HEADER
    piece = samtools_count(bam, "chr1:1-20000")
    # Regions 1 and 2, whole and ok, in one run line; the pieces of region 3 in item lines.
    assert lines[1:] == [
        f"run\ts\t1\t\t\t\t\t{samtools_count(bam, '{chr1}')},0\tok\t",
        f"item\ts\t3\tchr1\t0\t20000\tsingle\t{piece}\tok\t",
        f"item\ts\t3\tchr1\t20000\t50000\tchunk\t{samtools_count(bam, 'chr1:1-50000') - piece}\tok\t",
    ]
    os.remove(out)
    samtools = fake_samtools(tmp_path, "exit 140")
    assert cu.main(["--samples", samples, "--unit", str(unit), "--out", str(out), "--samtools", samtools]) == 140
    assert not out.exists()


def run_script(bam, unit, out, *args, samples=None):
    """count_unit.py as the pipeline runs it; by default one sample "s" whose files are bam and its index."""
    if samples is None:
        samples = write_manifest(tmp_folder_of(unit) / "samples.tsv", [("s", bam, bam + ".bai")])
    command = [sys.executable, COUNT_UNIT, "--samples", samples, "--unit", unit, "--out", out]
    return subprocess.run([*command, *args], capture_output=True, text=True)


def tmp_folder_of(path):
    return pathlib.Path(path).parent


@pytest.mark.parametrize("samtools_args", ["-q20", "--expr=mapq>=30", "-F0x10 -emapq<20", "--rf=0x10"])
def test_the_cli_takes_options_starting_with_a_dash_after_equals(bam, tmp_path, samtools_args):
    items = [item(c, 0, length, "batch", True, region_id=str(i)) for i, (c, length) in enumerate(CONTIGS)]
    items += [item("chr1", 100, 20_000, "single", region_id="9")]
    out = str(tmp_path / "u.result.tsv")
    unit = write_unit(tmp_path / "u.tsv", items)
    result = run_script(bam, unit, out, f"--samtools-args={samtools_args}")
    assert result.returncode == 0, result.stderr
    counts = [int(row["count"]) for row in rows_of(out, unit)]
    assert counts == [samtools_count(bam, modes.region_string(it), samtools_args) for it in items]
    assert counts != [samtools_count(bam, modes.region_string(it)) for it in items]


@pytest.mark.parametrize(
    "samtools_args, problem, calls",
    [
        ("--bogus x", "--bogus is not an option of samtools view (1.16.1)", 0),
        ("-o x.sam", "-o is not allowed: it changes what samtools writes, not which reads are counted", 0),
        (
            "--output=x.sam -q 20",
            "--output (-o) is not allowed: it changes what samtools writes, not which reads are counted",
            0,
        ),
        ("-L t.bed", "-L is not allowed: the pipeline's own region handling replaces it: use --regions instead", 0),
        ("-q 20 -e 'mapq >'", "samtools rejects them: [E::sam_passes_filter] Couldn't process filter expression", 1),
        ("-e 'mapq > 1", "cannot be split into words: No closing quotation", 0),
    ],
)
def test_refused_options_stop_the_unit_before_any_region(bam, tmp_path, samtools_args, problem, calls):
    """One line, exit 2, no result file, and at most one samtools call (the check) whatever the unit holds."""
    log = tmp_path / "calls"
    samtools = fake_samtools(tmp_path, f'echo "$*" >> {log}\nexec samtools "$@"')
    items = [
        item(c, 0, length, mode, True, region_id=f"{c}{mode}") for c, length in CONTIGS for mode in ("single", "batch")
    ]
    out = tmp_path / "u.result.tsv"
    result = run_script(
        bam, write_unit(tmp_path / "u.tsv", items), str(out), f"--samtools-args={samtools_args}", "--samtools", samtools
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"[ERROR] --samtools_args '{samtools_args}': {problem}\n"
    assert not out.exists()
    made = log.read_text().splitlines() if log.exists() else []
    assert made == ([" ".join(["view", "-c", *samtools_options.parse(samtools_args).tokens(), "-"])] if calls else [])


def test_harmless_cram_warning_is_not_a_failure():
    result = subprocess.CompletedProcess([], 0, "", "[W::hts_itr_multi_cram] No index entry for region 5:0-10000\n")
    assert pipes.check_exit(result, "x") == ""
    result.stderr += '[main_samview] region "x" specifies an invalid region or unknown reference. Continue anyway.\n'
    assert pipes.check_exit(result, "x").startswith("samtools reported an error: [main_samview] region")


def test_adjacent_ranges_in_one_call_double_count_without_multi_region_iterator(bam):
    """Why sub-contig batches use -M: without it samtools counts a read spanning two listed ranges twice."""
    ranges = ["chr1:1-10000", "chr1:10001-20000"]

    def view_c(*options):
        return int(pysam.view("-c", *options, bam, *ranges))

    merged = samtools_count(bam, "chr1:1-20000")
    assert view_c("-M") == merged
    assert view_c() > merged


def test_a_bed_end_past_every_record_costs_memory_per_contig(tmp_path):
    """Why batched whole contigs are `{name}` arguments and not BED lines reaching past their records:
    samtools -L allocates 4 bytes per 8 kb of BED end, per contig (here 1 MiB x 100 contigs)."""
    contigs = [(f"c{i}", 1000) for i in range(100)]
    path = write_tagged_bam(str(tmp_path / "many.bam"), contigs, [Read("r", 0, "c7", 5000, "10M", length=10)])
    peaks = []
    for end in ("1000", str(2**31 - 1)):
        bed = tmp_path / f"{end}.bed"
        bed.write_text("".join(f"{name}\t0\t{end}\n" for name, _ in contigs))
        # A fresh Python per call: RUSAGE_CHILDREN's peak RSS (kB) is then that samtools' own.
        measure = (
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        command = [sys.executable, "-c", measure, "samtools", "view", "-c", "-M", "-L", str(bed), path]
        peaks.append(int(subprocess.run(command, capture_output=True, text=True, check=True).stdout))
    assert peaks[1] - peaks[0] > 75_000


@pytest.mark.parametrize(
    "failing",
    ['" $* " == *" -M "*', '" $* " == *" {chr1} "* && " $* " == *" {empty} "*', '" $* " == *" -u "*'],
    ids=["interval-pass", "whole-contig-pass", "region-less-pass"],
)
def test_failed_batch_is_recounted_item_by_item(bam, tmp_path, failing):
    """A shared pass that fails (here: a samtools that fails that kind of call) does not fail its items."""
    samtools = fake_samtools(
        tmp_path, f'if [[ {failing} ]]; then echo "[E::bgzf_read] bad block" >&2; exit 1; fi\nexec samtools "$@"'
    )
    items = [
        item("chr1", 0, 50_000, "batch", True),
        item("empty", 0, 1_000, "batch", True, region_id="2"),
        item("chr1", 100, 900, "batch", region_id="3"),
        item("chr1", 0, 50_000, "pass", True, region_id="4", open_end=True),
        item("empty", 0, 1_000, "pass", True, region_id="5", open_end=True),
    ]
    outcomes = run(items, bam, tmp_path, samtools=samtools)
    expected = [samtools_count(bam, "{chr1}"), 0, samtools_count(bam, "chr1:101-900"), samtools_count(bam, "{chr1}"), 0]
    assert [(o.status, o.count) for o in outcomes] == [("ok", n) for n in expected]


# A unit holding items of several samples: each counted in its own files, failures kept to their sample.

SAMPLES = ["s1", "s2", "s3"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Three BAMs of different reads over the same contigs: sample name -> BAM path."""
    folder = tmp_path_factory.mktemp("cohort")
    return {
        sample: write_tagged_bam(str(folder / f"{sample}.bam"), CONTIGS, varied_reads(random.Random(11 + i), n=1500))
        for i, sample in enumerate(SAMPLES)
    }


def cohort_items(samples):
    """Items of every sample, interleaved as a planner may interleave them: singles, batches (whole contigs
    and intervals), passes (every contig) and split regions, each sample with the same regions. A region id
    is the mode and the samtools region its items add up to."""
    items = []
    for c, s, e, whole in INTERVALS:
        for mode in ("single", "batch"):
            for sample in samples:
                items.append(item(c, s, e, mode, whole, region_id=f"{mode} {region_of(c, s, e, whole)}", sample=sample))
    for sample in samples:
        for c, length in CONTIGS:
            items.append(item(c, 0, length, "pass", True, f"pass {{{c}}}", open_end=True, sample=sample))
    for c, first, last, step, whole in SPLIT:
        for sample in samples:
            region_id = f"split {region_of(c, first, last, whole)}"
            items += [
                tf.UnitItem(sample, region_id, p.contig, p.start, p.end, False, p.mode, p.open_end)
                for p in pieces(c, first, last, step, whole)
            ]
    return items


def test_a_unit_of_three_samples_counts_each_in_its_own_bam(cohort, tmp_path):
    """Through the CLI: a manifest of three samples (one index left to samtools to find), a unit whose items
    of the three are interleaved; every region's count is samtools view -c's on that sample's own BAM."""
    items = cohort_items(SAMPLES)
    manifest = [
        (s, os.path.relpath(bam, tmp_path), os.path.relpath(bam, tmp_path) + ".bai") for s, bam in cohort.items()
    ]
    manifest[1] = (manifest[1][0], manifest[1][1], "")  # index beside the BAM: samtools finds it
    samples = write_manifest(tmp_path / "samples.tsv", manifest)  # paths relative to the task folder
    out = str(tmp_path / "u.result.tsv")
    unit = write_unit(tmp_path / "u.tsv", items)
    command = [sys.executable, COUNT_UNIT, "--samples", samples, "--unit", unit]
    result = subprocess.run(
        [*command, "--out", out, "--samtools-args=-F 0x10"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    rows = rows_of(out, unit)
    assert [(r["sample"], r["region_id"], r["mode"]) for r in rows] == [(i.sample, i.region_id, i.mode) for i in items]
    assert all(r["status"] == "ok" for r in rows), rows
    sums = {}
    for row in rows:
        key = (row["sample"], row["region_id"])
        sums[key] = sums.get(key, 0) + int(row["count"])
    expected = {key: samtools_count(cohort[key[0]], key[1].split(" ", 1)[1], "-F 0x10") for key in sums}
    assert sums == expected
    # The samples' reads differ, so a count taken from another sample's BAM would show.
    assert len({tuple(n for (s, _), n in expected.items() if s == sample) for sample in SAMPLES}) == 3


def test_items_of_all_samples_count_in_each_samples_bam(cohort, tmp_path):
    """A shared plan's unit (plan_units.plan_shared): items of sample '*' are counted in the files of every
    sample of the manifest, each sample's rows after the unit's own items, in manifest order; the counts are
    samtools view -c's on each sample's own BAM."""
    own = [item(c, s, e, "batch", whole, region_id=f"own {region_of(c, s, e, whole)}", sample="s2")
           for c, s, e, whole in INTERVALS[:2]]  # fmt: skip
    shared = [
        item(c, s, e, mode, whole, region_id=f"{mode} {region_of(c, s, e, whole)}", sample=tf.ALL_SAMPLES)
        for c, s, e, whole in INTERVALS
        for mode in ("single", "batch")
    ]
    order = ["s3", "s1", "s2"]
    manifest = write_manifest(tmp_path / "samples.tsv", [(s, cohort[s], cohort[s] + ".bai") for s in order])
    out = str(tmp_path / "u.result.tsv")
    unit = write_unit(tmp_path / "u.tsv", own + shared)
    command = [sys.executable, COUNT_UNIT, "--samples", manifest, "--unit", unit, "--out", out]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = rows_of(out, unit)
    expected_rows = [(i.sample, i.region_id) for i in own] + [(s, i.region_id) for s in order for i in shared]
    assert [(r["sample"], r["region_id"]) for r in rows] == expected_rows
    assert all(r["status"] == "ok" for r in rows), rows
    counts = [int(r["count"]) for r in rows]
    assert counts == [samtools_count(cohort[s], rid.split(" ", 1)[1]) for s, rid in expected_rows]
    assert len({tuple(counts[len(own) + k * len(shared) :][: len(shared)]) for k in range(3)}) == 3  # own reads each


def corrupt_middle_block(path, out):
    """A copy of the BAM (and its index) with bytes flipped inside the compressed data of its middle BGZF
    block; the other blocks, the EOF block among them, are left as they are."""
    data = bytearray(open(path, "rb").read())
    blocks, offset = [], 0
    while offset < len(data):
        size = int.from_bytes(data[offset + 16 : offset + 18], "little") + 1  # BSIZE: the block's size - 1
        blocks.append((offset, size))
        offset += size
    offset, size = blocks[len(blocks) // 2]
    middle = offset + 18 + (size - 26) // 2  # inside the deflate data: 18 header bytes, 8 of CRC32 and ISIZE
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    with open(out, "wb") as handle:
        handle.write(data)
    with open(path + ".bai", "rb") as index, open(out + ".bai", "wb") as copy:
        copy.write(index.read())
    return out, len(blocks)


def direct_count(bam, region):
    """(count or None, stderr) of samtools view -c, without failing on a samtools error."""
    result = subprocess.run(["samtools", "view", "-c", bam, region], capture_output=True, text=True)
    ok = result.returncode == 0 and not result.stderr
    return (int(result.stdout) if ok else None), result.stderr


def test_a_corrupt_bam_fails_only_its_samples_items(cohort, tmp_path):
    """s2's BAM has a bad block: the items that read it fail with samtools' error; its other items, and every
    item of s1 and s3, keep samtools' counts."""
    bad, n_blocks = corrupt_middle_block(cohort["s2"], str(tmp_path / "s2_bad.bam"))
    assert n_blocks > 4
    bams = {**cohort, "s2": bad}
    samples = {s: tf.SampleFiles(s, bam, bam + ".bai") for s, bam in bams.items()}
    items = [it for it in cohort_items(SAMPLES) if it.mode != "chunk"]  # singles and batches: one region each
    outcomes = uc.count_unit(items, samples, "samtools", None, 0, "", str(tmp_path))
    failed = 0
    for it, outcome in zip(items, outcomes):
        count, stderr = direct_count(bams[it.sample], modes.region_string(it))
        if it.sample != "s2":
            assert (outcome.status, outcome.count) == ("ok", count), it
        elif count is None:  # samtools fails on this region: so does the item, with samtools' error
            failed += 1
            assert outcome.status == "error" and outcome.count == 0, it
            assert "CRC32 checksum mismatch" in stderr
            assert "[E::bgzf_uncompress] CRC32 checksum mismatch" in outcome.message
        else:
            assert (outcome.status, outcome.count) == ("ok", count), it
    assert failed >= 2  # a single and a batch item at least: the batch pass failed and was recounted


def test_options_are_checked_once_per_unit_not_per_sample(cohort, tmp_path):
    log = tmp_path / "calls"
    samtools = fake_samtools(tmp_path, f'echo "$*" >> {log}\nexec samtools "$@"')
    samples = {s: tf.SampleFiles(s, bam, bam + ".bai") for s, bam in cohort.items()}
    items = [item("chr1", 0, 50_000, "single", True, sample=s) for s in SAMPLES]
    outcomes = uc.count_unit(items, samples, samtools, None, 0, "-q 20", str(tmp_path))
    assert [o.count for o in outcomes] == [samtools_count(cohort[s], "{chr1}", "-q 20") for s in SAMPLES]
    checks = [line for line in log.read_text().splitlines() if line.endswith(" -")]
    assert checks == ["view -c -q 20 -"]


@pytest.mark.parametrize(
    "unit_text, manifest_text, problem",
    [
        (
            "sample\tregion_id\tcontig\tstart\tend\twhole\tmode\topen_end\ns\t1\tchr1\t0\t10\t0\tsingle\t0\n"
            "t\t2\tchr1\t0\t10\t0\tsingle\t0\nu\t3\tchr1\t0\t10\t0\tbatch\t0\n",
            "sample\talignments\tindex\ns\t{bam}\t{bam}.bai\n",
            "samples of the unit missing from the sample manifest: 't', 'u'",
        ),
        (
            "region_id\tcontig\tstart\tend\twhole\tmode\n1\tchr1\t0\t10\t0\tsingle\n",
            "sample\talignments\tindex\ns\t{bam}\t{bam}.bai\n",
            "{unit}: no column sample in the header",
        ),
        (
            "sample\tregion_id\tcontig\tstart\tend\twhole\tmode\ns\t1\tchr1\t0\t10\t0\tsingle\n",
            "sample\tbam\ns\t{bam}\n",
            "{manifest}: no column alignments, index in the header",
        ),
        (
            "sample\tregion_id\tcontig\tstart\tend\twhole\tmode\ns\t1\tchr1\t0\t10\t0\tsingle\n",
            "sample\talignments\tindex\ns\t{bam}\t\ns\t{bam}\t\n",
            "{manifest}: sample 's' is listed twice",
        ),
        (
            "sample\tregion_id\tcontig\tstart\tend\twhole\tmode\ns\t1\tchr1\tzero\t10\t0\tsingle\n",
            "sample\talignments\tindex\ns\t{bam}\t\n",
            "{unit}: line 2 is malformed (ValueError(\"invalid literal for int() with base 10: 'zero'\"))",
        ),
    ],
    ids=["missing-samples", "unit-without-sample", "manifest-columns", "duplicate-sample", "bad-start"],
)
def test_unit_and_manifest_problems_are_one_line_and_exit_2(bam, tmp_path, unit_text, manifest_text, problem):
    """Before any samtools call, with no result file."""
    log = tmp_path / "calls"
    samtools = fake_samtools(tmp_path, f'echo "$*" >> {log}\nexec samtools "$@"')
    unit, manifest, out = tmp_path / "u.tsv", tmp_path / "samples.tsv", tmp_path / "u.result.tsv"
    unit.write_text(unit_text)
    manifest.write_text(manifest_text.format(bam=bam))
    result = run_script(bam, str(unit), str(out), "--samtools-args=-q 1", "--samtools", samtools, samples=str(manifest))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"[ERROR] {problem.format(unit=unit, manifest=manifest)}\n"
    assert not out.exists() and not log.exists()


def test_an_unreadable_manifest_is_one_line_and_exit_2(bam, tmp_path):
    unit = write_unit(tmp_path / "u.tsv", [item("chr1", 0, 10, "single")])
    missing = str(tmp_path / "nope.tsv")
    result = run_script(bam, unit, str(tmp_path / "out.tsv"), samples=missing)
    assert (result.returncode, result.stderr) == (2, f"[ERROR] {missing}: cannot read: No such file or directory\n")


@pytest.mark.parametrize("samtools_args", ["", "-q 1"])
def test_samtools_not_found_is_one_line_and_exit_127(bam, tmp_path, samtools_args):
    """Whichever call first needs samtools (the options check, a count): one line, no traceback, no result."""
    unit = write_unit(tmp_path / "u.tsv", [item("chr1", 0, 10, "single")])
    out = tmp_path / "u.result.tsv"
    missing = str(tmp_path / "no-such-folder" / "samtools")
    result = run_script(bam, unit, str(out), f"--samtools-args={samtools_args}", "--samtools", missing)
    assert (result.returncode, result.stdout) == (127, "")
    assert result.stderr == (
        f"[ERROR] {missing}: not found on this task's PATH: install samtools (`make setup`) or run with "
        "-profile conda, docker or singularity\n"
    )
    assert not out.exists()


def test_a_failed_panel_pass_is_told_apart_in_halves_at_a_bounded_cost(tmp_path):
    """One corrupt block under a 600-region panel: the failed -M -L pass was followed by 600 single calls
    (issue 19, item 14). Halving finds the failing regions in O(failed x log n) calls; every region reported
    has samtools' count, every failed one samtools' own error."""
    rng = random.Random(5)
    reads = [Read(f"r{i}", 0, "chr1", rng.randrange(0, 199_900), "100M", 30) for i in range(30_000)]
    bam = write_tagged_bam(str(tmp_path / "panel.bam"), [("chr1", 200_000)], reads)
    bad, n_blocks = corrupt_middle_block(bam, str(tmp_path / "bad.bam"))
    assert n_blocks > 50
    calls = tmp_path / "calls"
    samtools = fake_samtools(tmp_path, f'echo "$*" >> {calls}\nexec samtools "$@"')
    items = [item("chr1", s, s + 80, "batch", region_id=str(s)) for s in range(0, 198_000, 330)]
    outcomes = run(items, bad, tmp_path, samtools=samtools)
    failed = 0
    for it, outcome in zip(items, outcomes):
        count, stderr = direct_count(bad, modes.region_string(it))
        if count is None:
            failed += 1
            assert (outcome.status, outcome.count) == ("error", 0), it
            assert "CRC32 checksum mismatch" in stderr
            assert "[E::bgzf_uncompress] CRC32 checksum mismatch" in outcome.message
        else:
            assert (outcome.status, outcome.count) == ("ok", count), it
    n_calls = len(calls.read_text().splitlines()) - 1  # the options check of the unit
    assert 0 < failed < len(items) // 4
    # 1 pass + at most 2 calls per failed region per halving level (log2 600 < 10): far below 600 singles.
    assert n_calls <= 1 + 2 * failed * 10 and n_calls < len(items) // 3, (n_calls, failed)


def test_after_its_call_budget_a_failed_pass_fails_its_remaining_regions_with_the_passs_error():
    """A file corrupt everywhere costs max_calls calls, then the regions not told apart fail, never a count."""
    error = "samtools exited with status 1: [E::bgzf_read] bad block"
    failing = [tf.Outcome(0, "error", error)]
    calls = []

    def together(part):
        calls.append(len(part))
        return failing * len(part)

    def alone(one):
        calls.append(1)
        return tf.Outcome(0, "error", "alone: " + error)

    items = list(range(64))
    outcomes = uc.recount_failed_pass(items, error, together, alone, max_calls=5)
    assert calls == [32, 16, 8, 4, 2]  # depth first: the first half of each failed half
    assert [o.status for o in outcomes] == ["error"] * 64 and all(o.count == 0 for o in outcomes)
    assert outcomes[0].message == f"not counted alone: a pass over 1 regions with it failed ({error})"
    assert outcomes[63].message == f"not counted alone: a pass over 32 regions with it failed ({error})"
    ok = uc.recount_failed_pass(items, error, lambda part: [tf.Outcome(i) for i in part], alone)
    assert [o.count for o in ok] == items and len(calls) == 5  # the halves of a transient failure: 2 calls


def test_merged_intervals_join_gaps_expected_to_hold_few_records():
    """A gap is merged when it is expected to hold at most MERGE_GAP_RECORDS records at its contig's density."""
    density = 0.001  # one record per kb
    gap = modes.MERGE_GAP_RECORDS * 1000  # the longest gap merged
    items = [item("c", 0, 100, "batch"), item("c", 100 + gap, 200 + gap, "batch"),
             item("c", 150 + gap, 160 + gap, "batch"), item("c", 201 + 2 * gap, 300 + 2 * gap, "batch"),
             item("d", 0, 10, "batch"), item("e", 0, 10, "batch"), item("e", 100, 110, "batch")]  # fmt: skip
    assert modes.merged_intervals(list(reversed(items)), {"c": density, "d": density}) == [
        ["c", 0, 200 + gap],  # a gap of exactly MERGE_GAP_RECORDS expected records; a nested item
        ["c", 201 + 2 * gap, 300 + 2 * gap],  # one base more: apart
        ["d", 0, 10],
        ["e", 0, 10],  # no statistics for e: nothing merged
        ["e", 100, 110],
    ]
    # No statistics at all: only items that overlap or touch share a stretch.
    assert modes.merged_intervals(items, {}) == [
        ["c", 0, 100], ["c", 100 + gap, 200 + gap], ["c", 201 + 2 * gap, 300 + 2 * gap], ["d", 0, 10], ["e", 0, 10],
        ["e", 100, 110],
    ]  # fmt: skip


def test_merged_intervals_by_bisection_are_the_stretches_merged_item_by_item():
    """merged_intervals picks each sample's breaks from the gaps of the items (contig_stretches, made once per
    list of items); the stretches are those merged one item at a time, for nested, touching, overlapping and
    equal-start items, in and out of order, at any density; an item ending before it starts is merged item by
    item."""
    rng = random.Random(5)
    for _ in range(200):
        items = []
        for contig in rng.sample(["a", "b", "c"], rng.randint(1, 3)):
            start = 0
            for _ in range(rng.randint(1, 30)):
                start += rng.choice([0, 0, 1, 5, 50, 500, 5000])
                items.append(item(contig, start, start + rng.choice([0, 1, 10, 100, 3000]), "batch"))
        if rng.random() < 0.3:
            rng.shuffle(items)
        densities = {contig: rng.choice([0.0, 1e-4, 1e-3, 0.01, 0.5, 3.0]) for contig in "ab"}
        assert modes.merged_intervals(items, densities) == modes.merged_item_by_item(items, densities)
    backwards = [item("c", 0, 100, "batch"), item("c", 500, 10, "batch"), item("c", 600, 700, "batch")]
    assert modes.contig_stretches(backwards) is None
    assert modes.merged_intervals(backwards, {"c": 0.1}) == [["c", 0, 100], ["c", 500, 10], ["c", 600, 700]]


def test_a_list_of_items_is_looked_at_once_for_all_samples():
    """same_list_cache: the same list object gets the value made for it, another list (even equal) a new one."""
    calls = []
    cached = modes.same_list_cache(lambda items: calls.append(len(items)) or len(calls))
    first, equal = [1, 2], [1, 2]
    assert [cached(first), cached(first), cached(equal), cached(equal), cached(first)] == [1, 1, 2, 2, 3]


def test_counted_outcomes_are_the_outcomes_of_the_counts():
    counts = [0, 1, 9_999, 10_000, 2**40, 7]
    assert pipes.counted_outcomes(counts) == [tf.Outcome(count) for count in counts]
    assert pipes.counted_outcomes(counts[:2]) == [tf.Outcome(0, "ok", ""), tf.Outcome(1, "ok", "")]


@pytest.mark.parametrize("way", ["index", "stream"])
@pytest.mark.parametrize("reader", ["bam", "sam"])
def test_a_large_panel_is_streamed_in_merged_stretches_and_counts_as_samtools(tmp_path, monkeypatch, way, reader):
    """1,200 small regions on a shallow BAM: -L gets fewer, merged stretches (logged by a fake samtools),
    read through the index (-M, with a block cache) or in full over one span per contig (stream_spans; forced
    here both ways, and read as BAM or as SAM text), and every region still equals `samtools view -c` with the
    user's options, with and without them."""
    monkeypatch.setattr(modes, "STREAM_RECORD_US", 0.0 if way == "stream" else 1e9)
    if reader == "sam":
        monkeypatch.setattr(modes, "bam_records", None)
    rng = random.Random(21)
    contigs = [("chr1", 3_000_000), ("chr2", 1_000_000)]
    reads = []
    for i in range(6_000):
        contig, length = rng.choice(contigs)
        flag = rng.choice([0, 0x10, 0x4, 0x400])
        cigar = None if flag & 0x4 else rng.choice(["100M", "50M2000N50M", "20S80M"])
        reads.append(Read(f"r{i}", flag, contig, rng.randrange(0, length - 3000), cigar, rng.randint(0, 60)))
    bam = write_tagged_bam(str(tmp_path / "shallow.bam"), contigs, reads)
    items = []
    for number in range(1_200):
        contig, length = rng.choice(contigs)
        start = rng.randrange(0, length - 300)
        items.append(item(contig, start, start + rng.randrange(1, 300), "batch", region_id=str(number)))
    beds, calls = tmp_path / "beds", tmp_path / "calls"
    logging_samtools = fake_samtools(
        tmp_path,
        f'for a in "$@"; do [[ $a == *.bed ]] && wc -l < "$a" >> {beds}; done\n'
        f'[[ " $* " == *" -L "* ]] && echo "$*" >> {calls}\nexec samtools "$@"',
    )
    pipes.idxstats_rows.cache_clear()
    for samtools_args in ("", "-q 20 -F 0x404"):
        outcomes = run(items, bam, tmp_path, samtools_args, samtools=logging_samtools)
        for it, outcome in zip(items, outcomes):
            expected = samtools_count(bam, modes.region_string(it), samtools_args)
            assert (outcome.status, outcome.count) == ("ok", expected), it
    n_lines = [int(n) for n in beds.read_text().split()]
    assert len(n_lines) == 2 and all(n < len(items) for n in n_lines), n_lines
    for call in calls.read_text().splitlines():
        words = call.split()
        regions = [word for word in words if word.startswith("{chr")]
        if way == "stream":  # one span per contig, from its first stretch to its last, after the file
            assert "-M" not in words and words[-2:] == regions and len(regions) == 2, call
        else:  # with htslib's block cache (count_modes.index_options): a BAM
            assert "-M" in words and not regions, call
            assert f"--input-fmt-option cache_size={modes.INDEX_BLOCK_CACHE_BYTES} -M" in call, call


def test_stream_spans_read_a_sparse_file_in_full_and_others_through_the_index(tmp_path):
    """The model's pick on the densities of the two units it was fitted on (count_modes.py), a span per contig
    from its first stretch to its last; for a BAM only with densities; for a CRAM always (samtools 1.16.1's
    multi-region iterator can return a CRAM's records twice: tests/test_cram_batches.py)."""
    bam = write_tagged_bam(str(tmp_path / "a.bam"), [("c1", 20_000_000), ("c2", 20_000_000)], [])
    cram = tmp_path / "a.cram"
    cram.write_bytes(b"CRAM\x03\x00" + bytes(20))
    # 4,000 stretches of 2,000 bases 10 kb apart on two contigs of 20 Mb.
    stretches = [[contig, start, start + 2_000] for contig in ("c1", "c2") for start in range(0, 20_000_000, 10_000)]
    sparse = {"c1": 1 / 30_000, "c2": 1 / 30_000}  # 100k records over 3 Gb: a third of a record between two
    shallow = {"c1": 1 / 3_000, "c2": 1 / 3_000}  # 1M records over 3 Gb: ~3 between two stretches
    deep = {"c1": 1 / 30, "c2": 1 / 30}  # 100M records over 3 Gb: ~270 between two stretches
    assert modes.stream_spans(stretches, sparse, str(bam)) == ["{c1}:1-19992000", "{c2}:1-19992000"]
    assert modes.stream_spans(stretches, shallow, str(bam)) is None
    assert modes.stream_spans(stretches, deep, str(bam)) is None
    assert modes.stream_spans(stretches, {}, str(bam)) is None
    # The shape of the shallow unit it was fitted on (half the exome panel on 1M records: 3,943 stretches,
    # ~131,000 records in them, ~477,000 in the spans): through the index with its block cache, 0.25 s of
    # samtools against 0.37 s streamed. Streamed before the refit (120 us a stretch, measured without the cache).
    fitted = [["c1", start, start + 3_328] for start in range(0, 3_943 * 12_102, 12_102)]
    assert modes.stream_spans(fitted, {"c1": 1 / 100}, str(bam)) is None
    # The same span in 9,856 stretches (that unit with MERGE_GAP_RECORDS 6): through the index too (0.23-0.25 s of
    # samtools); at 40 us a stretch it was streamed, its 8 samples' task 1.4 s slower.
    split = [["c1", start, start + 1_330] for start in range(0, 9_856 * 4_842, 4_842)]
    assert modes.stream_spans(split, {"c1": 1 / 100}, str(bam)) is None
    for densities in (shallow, deep, {}):
        assert modes.stream_spans(stretches, densities, str(cram)) == ["{c1}:1-19992000", "{c2}:1-19992000"]
