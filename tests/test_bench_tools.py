"""Unit tests for the benchmark helpers benchmarks/make_bed.py and benchmarks/oracle.py (no Nextflow).

The oracle (pysam's count per region) must equal the real `samtools view -c` on a small BAM written here
with every kind of record a region query meets: unmapped reads placed at a mate, secondary,
supplementary, duplicate and QC-fail records, deletions, skips, insertions and clips, a contig whose
name holds ':' and fully unmapped reads at the end.
"""

import os
import random
import subprocess
import sys

import pysam
import pytest
from conftest import ROOT, samtools_count

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import make_bed  # noqa: E402
import oracle  # noqa: E402
import run_bench  # noqa: E402

MAKE_BED = os.path.join(ROOT, "benchmarks", "make_bed.py")
CONTIGS = [("chr1", 20_000), ("HLA-A*01:01", 3_000), ("chr2", 6_000)]


@pytest.fixture(scope="module")
def exome():
    return make_bed.panel_regions("exome", seed=1)


@pytest.fixture(scope="module")
def genes():
    return make_bed.panel_regions("genes", seed=1)


def neighbours(regions):
    """Counts of (overlapping, nested, adjacent, identical) consecutive pairs on one contig."""
    overlap = nested = adjacent = same = 0
    for a, b in zip(regions, regions[1:]):
        if a.contig != b.contig:
            continue
        same += (a.start, a.end) == (b.start, b.end)
        overlap += b.start < a.end
        nested += b.start < a.end and b.end <= a.end
        adjacent += b.start == a.end
    return overlap, nested, adjacent, same


def check_panel(regions, n, low, high):
    lengths = dict(make_bed.panel_contigs())
    assert len(regions) == n
    assert {r.contig for r in regions} == set(make_bed.PANEL_CONTIGS)
    assert all(low <= r.end - r.start <= high and 0 <= r.start and r.end <= lengths[r.contig] for r in regions)
    assert regions == make_bed.sort_regions(regions)
    names = [r.name for r in regions]
    assert all(names) and len(set(names)) < len(names)  # named, some names repeated


def test_exome_panel(exome):
    check_panel(exome, 200_000, 100, 300)
    overlap, nested, adjacent, same = neighbours(exome)
    assert overlap > 1_000 and nested > 500 and adjacent > 500 and same > 50


def test_genes_panel(genes):
    check_panel(genes, 20_000, 10_000, 100_000)
    overlap, nested, _, _ = neighbours(genes)
    assert overlap > 1_000 and nested > 500


def test_make_bed_is_deterministic(exome, tmp_path):
    """Same bytes from another process with another hash seed; another seed gives another panel."""
    out = tmp_path / "exome.bed"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, MAKE_BED, "--panel", "exome", "--out", str(out)], check=True, env=env)
    assert out.read_text() == make_bed.bed_text(exome)
    assert make_bed.gene_regions(seed=2) != make_bed.gene_regions(seed=1)
    assert make_bed.gene_regions(seed=1) == make_bed.gene_regions(seed=1)


def test_saf_and_union():
    R = make_bed.Region
    regions = [R("chr1", 0, 100, "A"), R("chr1", 50, 80, "A"), R("chr1", 100, 150, "B"), R("chr1", 200, 300, "A"),
               R("chr2", 10, 20, "C")]  # fmt: skip
    saf = make_bed.saf_text(regions).splitlines()
    assert saf[0] == "GeneID\tChr\tStart\tEnd\tStrand"
    assert saf[1:3] == ["A|1\tchr1\t1\t100\t+", "A|2\tchr1\t51\t80\t+"]  # 1-based inclusive, one ID per line
    assert len({line.split("\t")[0] for line in saf[1:]}) == len(regions)
    assert make_bed.union_regions(regions) == [("chr1", 0, 150), ("chr1", 200, 300), ("chr2", 10, 20)]


def random_cigar(rng):
    """(cigartuples, reference span) of a 20-400 bp read with clips, insertions, deletions or skips."""
    ops = [(4, rng.randint(1, 20))] if rng.random() < 0.2 else []
    for _ in range(rng.randint(1, 3)):
        ops.append((0, rng.randint(10, 150)))
        kind = rng.random()
        if kind < 0.2:
            ops.append((2, rng.randint(1, 30)))  # deletion
        elif kind < 0.3:
            ops.append((3, rng.randint(100, 2_000)))  # skip (spliced)
        elif kind < 0.4:
            ops.append((1, rng.randint(1, 5)))  # insertion
    ops.append((0, rng.randint(10, 100)))
    return ops, sum(n for op, n in ops if op in (0, 2, 3))


@pytest.fixture(scope="module")
def small_bam(tmp_path_factory):
    rng = random.Random(7)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": n_} for n, n_ in CONTIGS]}
    path = str(tmp_path_factory.mktemp("bam") / "small.bam")
    records = []
    for i in range(3_000):
        tid = rng.choice((0, 0, 1, 2))
        length = CONTIGS[tid][1]
        cigar, span = random_cigar(rng)
        pos = rng.randint(0, max(0, length - span))
        flag = rng.choice((0, 16, 99, 147, 256, 2048, 1024, 512, 4 | 1 | 128, 0))
        records.append((tid, pos, i, flag, cigar))
    records.sort()
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for tid, pos, i, flag, cigar in records:
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.reference_id, read.reference_start = f"r{i}", flag, tid, pos
            if flag & 4:  # unmapped, placed at its mate's position: no CIGAR
                read.query_sequence = "A" * 50
            else:
                read.cigartuples = cigar
                read.query_sequence = "A" * sum(n for op, n in cigar if op in (0, 1, 4))
                read.mapping_quality = 60
            out.write(read)
        for i in range(5):  # fully unmapped, no contig
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.reference_id, read.reference_start = f"u{i}", 4, -1, -1
            read.query_sequence = "C" * 50
            out.write(read)
    pysam.index(path)
    return path


def test_oracle_equals_samtools_view_c(small_bam):
    rng = random.Random(3)
    intervals = []
    for _ in range(2_500):
        name, length = rng.choice(CONTIGS)
        start = rng.randint(0, length - 1)
        intervals.append((name, start, min(length, start + rng.choice((1, 2, 50, 300, 5_000)))))
    intervals += [(name, 0, length) for name, length in CONTIGS]
    counts = oracle.oracle_counts(small_bam, intervals, procs=1)
    assert oracle.oracle_counts(small_bam, intervals, procs=2) == counts
    assert sum(counts) > 5_000
    for interval, count in list(zip(intervals, counts))[-203:]:
        assert samtools_count(small_bam, oracle.region_string(*interval)) == count, interval
    # the probes at the edges of unmapped-but-placed, secondary, supplementary, duplicate, indel reads
    assert oracle.validate(small_bam, intervals, counts, sample=20, rng=rng) > 20


def test_oracle_counts_unmapped_placed_reads(small_bam):
    with pysam.AlignmentFile(small_bam) as aln:
        read = next(r for r in aln.fetch("chr1") if r.is_unmapped)
    interval = ("chr1", read.reference_start, read.reference_start + 1)
    assert oracle.oracle_counts(small_bam, [interval])[0] >= 1
    assert oracle.oracle_counts(small_bam, [interval]) == [samtools_count(small_bam, oracle.region_string(*interval))]


def test_validate_and_compare_report_differences(small_bam, tmp_path):
    intervals = [("chr1", 0, 20_000), ("chr2", 0, 3_000)]
    counts = oracle.oracle_counts(small_bam, intervals)
    with pytest.raises(oracle.Mismatch, match="samtools view -c says"):
        oracle.validate(small_bam, intervals, [counts[0] + 1, counts[1]], probes=False)
    regions = [("chr1", 0, 20_000, "A"), ("chr2", 0, 3_000, "A")]
    tsv = tmp_path / "s.counts.tsv"
    tsv.write_text(f"region\tlength\tcount\nA\t20000\t{counts[0]}\nA\t3000\t{counts[1]}\n")
    oracle.compare_counts_tsv(str(tsv), regions, counts)
    txt = tmp_path / "s_count.txt"
    txt.write_text(f"Region A: {counts[0]}\nRegion A: {counts[1]}\nTotal reads: {sum(counts)}\n")
    oracle.compare_count_txt(str(txt), regions, counts)
    with pytest.raises(oracle.Mismatch, match="(?s)1 of 2 regions differ.*BED line 2 chr2"):
        oracle.compare_counts_tsv(str(tsv), regions, [counts[0], counts[1] + 1])
    with pytest.raises(oracle.Mismatch, match="lines"):
        oracle.compare_count_txt(str(txt), regions[:1], counts[:1])


def test_trace_memory_values():
    assert run_bench.parse_memory("512 KB") == 512 << 10
    assert run_bench.parse_memory("1.5 GB") == 3 << 29
    assert run_bench.parse_memory("-") == run_bench.parse_memory("") == 0


def test_featurecounts_command_one_call_for_a_cohort():
    bams = [f"/d/s{i:02d}.bam" for i in range(1, 17)]
    command = run_bench.featurecounts_command("/p/exome.saf", "/o/counts.txt", bams, 2, pairs=False)
    assert command[:9] == ["featureCounts", "-p", "-O", "-T", "2", "-F", "SAF", "-a", "/p/exome.saf"]
    assert command[9:11] == ["-o", "/o/counts.txt"] and command[11:] == bams
    pairs = run_bench.featurecounts_command("x.saf", "out", ["a.bam"], 4, pairs=True)
    assert pairs == ["featureCounts", "-p", "--countReadPairs", "-O", "-T", "4", "-F", "SAF", "-a", "x.saf", "-o",
                     "out", "a.bam"]  # fmt: skip


def test_featurecounts_assigned_adds_up_the_bams(tmp_path):
    summary = tmp_path / "counts.txt.summary"
    summary.write_text("Status\ta.bam\tb.bam\tc.bam\nAssigned\t10\t0\t7\nUnassigned_Unmapped\t3\t4\t5\n")
    assert run_bench.featurecounts_assigned(str(summary)) == 17


def test_scaled_sizes_and_the_million_region_panel():
    assert run_bench.scaled(1_000_000, 1.0, 1_000) == 1_000_000
    assert run_bench.scaled(1_000_000, 0.001, 2_000) == 2_000
    assert run_bench.scaled(200_000, 0.01, 50) == 2_000
    panel = run_bench.million_regions(scale=0.002)  # five exome panels of 400 regions
    parts = [make_bed.exome_regions(seed, 400) for seed in run_bench.MILLION_SEEDS]
    assert len(panel) == 2_000 and sorted(panel) == sorted(r for part in parts for r in part)
    assert panel == make_bed.sort_regions(panel)
    assert len(make_bed.PANELS) == 2 and make_bed.PANELS["exome"] * len(run_bench.MILLION_SEEDS) == 1_000_000


def trace_row(process, peak_rss, memory):
    return {"process": f"REGIONCOUNT:{process}", "peak_rss": peak_rss, "memory": memory}


def test_tasks_per_stage_and_memory_against_request():
    rows = [trace_row("PLAN_UNITS", "300 MB", "1 GB"), trace_row("COUNT_UNIT", "1.5 GB", "1 GB"),
            trace_row("COUNT_UNIT", "200 MB", "2 GB"), trace_row("REDUCE_COUNTS", "-", "-"),
            trace_row("PLAN_UNITS", "100 MB", "1 GB")]  # fmt: skip
    processes = [r["process"].split(":")[-1] for r in rows]
    assert run_bench.tasks_per_stage(processes) == {"PLAN_UNITS": 2, "COUNT_UNIT": 2, "REDUCE_COUNTS": 1}
    assert list(run_bench.tasks_per_stage(processes)) == ["PLAN_UNITS", "COUNT_UNIT", "REDUCE_COUNTS"]
    memory = run_bench.memory_against_request(rows)
    assert memory["tasks"] == 5 and memory["largest_request"] == 2 << 30
    assert memory["worst"] == ("COUNT_UNIT", 3 << 29, 1 << 30)
    assert memory["over"] == [("COUNT_UNIT", 3 << 29, 1 << 30)]
    assert run_bench.memory_lines("regions1M", memory) == [
        "peak RSS / memory request, regions1M: worst 1.50 (COUNT_UNIT, 1.50 GB of 1.00 GB); tasks over their "
        "request: 1 of 5 (target 0)",
        "largest memory request, regions1M: 2.00 GB (target <= 2 GB)",
    ]


def timing(dataset, method, seconds, **facts):
    return run_bench.Timing(dataset, method, seconds, "", facts)


def test_cpu_seconds_of_the_trace_rows_by_process():
    """Nextflow's trace durations as it prints them, times %cpu; a task without figures counts 0."""
    assert [run_bench.parse_duration(d) for d in ("671ms", "5.3s", "1m 2s", "1h 3m 4s", "-", "")] == [
        0.671,
        5.3,
        62.0,
        3784.0,
        0,
        0,
    ]
    rows = [
        {"process": "REGIONCOUNT:PLAN_UNITS", "realtime": "2.2s", "%cpu": "91.1%"},
        {"process": "REGIONCOUNT:COUNT_UNIT", "realtime": "5.1s", "%cpu": "100.0%"},
        {"process": "REGIONCOUNT:COUNT_UNIT", "realtime": "1m 0s", "%cpu": "50.0%"},
        {"process": "REGIONCOUNT:REDUCE_COUNTS", "realtime": "-", "%cpu": "-"},
    ]
    cpu = run_bench.cpu_seconds(rows)
    assert list(cpu) == ["PLAN_UNITS", "COUNT_UNIT", "REDUCE_COUNTS"]
    assert cpu["PLAN_UNITS"] == pytest.approx(2.2 * 0.911) and cpu["COUNT_UNIT"] == pytest.approx(35.1)
    assert cpu["REDUCE_COUNTS"] == 0.0


def test_ratio_lines_of_issue_20():
    stages = {"PLAN_UNITS": 15, "COUNT_UNIT": 16, "REDUCE_COUNTS": 4, "COUNTS_MATRIX": 1}
    memory = run_bench.memory_against_request([trace_row("COUNT_UNIT", "512 MB", "2 GB")])
    timings = [
        timing("tiny", "pipeline", 10.0),
        timing("hello", "hello-world", 4.0),
        timing("hello", "hello-world + our config", 6.0),
        timing("grch38_10M", "pipeline", 19.0),
        timing("grch38_10M", "reference pool", 20.0),
        timing("grch38_10M", "whole-file pass -@2", 6.0),
        timing("grch38_30M", "pipeline", 30.0),
        timing("grch38_30M", "reference pool", 40.0),
        timing("grch38_30M", "whole-file pass -@2", 16.0),
        timing("exome_10M", "pipeline", 18.0, peak_rss=300 << 20),
        timing("exome_10M", "featureCounts pairs", 12.5),
        timing("exome_10M", "featureCounts reads", 10.0),
        timing(
            "cohort16-panel",
            "pipeline",
            34.0,
            stages=stages,
            cpus=2,
            featurecounts_cpu=40.0,
            cpu={"PLAN_UNITS": 4.0, "COUNT_UNIT": 36.0, "REDUCE_COUNTS": 1.0, "COUNTS_MATRIX": 1.5},
        ),
        timing("cohort16-panel", "featureCounts reads", 24.0),
        timing("cohort16-panel", "whole-file loop -@2", 12.0),
        timing("regions1M", "pipeline", 60.0, memory=memory),
    ]
    assert run_bench.ratio_lines(timings) == [
        "pipeline tiny / hello-world: 2.50 (target <= 2)",
        "hello-world with the pipeline's nextflow.config / hello-world: 1.50 (the configuration and the reports it "
        "turns on); pipeline tiny / that: 1.67 (the pipeline's scripts, checks and tasks)",
        "pipeline / reference pool, grch38_10M: 0.95 (target <= 0.8)",
        "pipeline / reference pool, grch38_30M: 0.75 (target <= 0.8)",
        "(pipeline grch38_10M - pipeline tiny) / whole-file pass: 1.50 (target <= 1.3)",
        "(pipeline grch38_30M - pipeline tiny) / whole-file pass: 1.25 (target <= 1.3; earlier target <= 1.15)",
        "(pipeline exome_10M - pipeline tiny) / featureCounts -p -O (reads): 0.80 (target <= 0.8; "
        "/ featureCounts pairs: 0.64, earlier target <= 1.0)",
        "peak RSS of the pipeline's tasks, exome_10M: 300 MB (target <= 1 GB)",
        "(pipeline cohort16-panel - pipeline tiny) / featureCounts -p -O, all BAMs in one call: 1.00 "
        "(target <= 1.0; / whole-file loop: 2.00)",
        "tasks per stage, cohort16-panel: PLAN_UNITS 15, COUNT_UNIT 16, REDUCE_COUNTS 4, COUNTS_MATRIX 1 "
        "(target <= 2 per CPU slot: 4 on 2 CPUs; over: PLAN_UNITS, COUNT_UNIT)",
        "CPU seconds, cohort16-panel: tasks 42.5 (PLAN_UNITS 4.0, COUNT_UNIT 36.0, REDUCE_COUNTS 1.0, "
        "COUNTS_MATRIX 1.5), featureCounts 40.0; COUNT_UNIT / featureCounts: 0.90",
        "peak RSS / memory request, regions1M: worst 0.25 (COUNT_UNIT, 512 MB of 2.00 GB); tasks over their "
        "request: 0 of 1 (target 0)",
        "largest memory request, regions1M: 2.00 GB (target <= 2 GB)",
    ]
    without_tiny = run_bench.ratio_lines([t for t in timings if t.dataset != "tiny"])
    assert not any(line.startswith("pipeline tiny") for line in without_tiny)
    assert "(pipeline cohort16-panel - pipeline tiny) / featureCounts: needs the tiny dataset in the same run" in (
        without_tiny
    )


def test_ratios_subtract_the_tiny_runs_made_alongside():
    """A dataset with tiny runs of its own rounds subtracts their median, not the tiny dataset's, and says so;
    a dataset without them (or a bench without the tiny dataset) is as before."""
    alongside = run_bench.TINY_ALONGSIDE
    timings = [
        timing("tiny", "pipeline", 10.0),
        timing("hello", alongside, 8.0),
        timing("hello", "hello-world", 4.0),
        timing("grch38_10M", alongside, 7.0),
        timing("grch38_10M", "pipeline", 19.0),
        timing("grch38_10M", "reference pool", 20.0),
        timing("grch38_10M", "whole-file pass -@2", 6.0),
        timing("exome_10M", alongside, 9.0),
        timing("exome_10M", "pipeline", 18.0, peak_rss=300 << 20),
        timing("exome_10M", "featureCounts pairs", 12.5),
        timing("exome_10M", "featureCounts reads", 10.0),
        timing("genes_10M", "pipeline", 18.0, peak_rss=100 << 20),
        timing("genes_10M", "featureCounts pairs", 12.5),
        timing("genes_10M", "featureCounts reads", 10.0),
    ]
    lines = run_bench.ratio_lines(timings)
    assert lines[0] == "pipeline tiny / hello-world: 2.00 (target <= 2) [tiny alongside: 8.00 s]"
    assert "(pipeline grch38_10M - pipeline tiny) / whole-file pass: 2.00 (target <= 1.3) [tiny alongside: 7.00 s]" in (
        lines
    )
    assert (
        "(pipeline exome_10M - pipeline tiny) / featureCounts -p -O (reads): 0.90 (target <= 0.8; / featureCounts "
        "pairs: 0.72, earlier target <= 1.0) [tiny alongside: 9.00 s]"
    ) in lines
    assert (
        "(pipeline genes_10M - pipeline tiny) / featureCounts -p -O (reads): 0.80 (target <= 0.8; / featureCounts "
        "pairs: 0.64, earlier target <= 1.0)"
    ) in lines
    without_tiny = run_bench.ratio_lines([t for t in timings if t.dataset != "tiny"])
    assert not any(line.startswith("pipeline tiny") for line in without_tiny)
    assert (
        "(pipeline exome_10M - pipeline tiny) / featureCounts: needs the tiny dataset in the same run" in without_tiny
    )


def test_tiny_alongside_runs_only_when_the_bench_runs_tiny(tmp_path, monkeypatch):
    """run_tiny_alongside adds one tiny run a call when the bench has the tiny dataset, none otherwise."""
    ran = []
    monkeypatch.setattr(run_bench, "ensure_bam", lambda bench, name: f"{name}.bam")
    monkeypatch.setattr(
        run_bench,
        "run_pipeline",
        lambda bench, path, name: ran.append((path, name)) or run_bench.PipelineRun(5.0, "", [], 0),
    )
    runs = {}
    for flag in (False, True, True):
        bench = run_bench.Bench(str(tmp_path), 2, [], 1, None, tiny_alongside=flag)
        run_bench.run_tiny_alongside(bench, runs)
    assert runs == {run_bench.TINY_ALONGSIDE: [5.0, 5.0]} and ran == [("tiny.bam", "tiny")] * 2


def test_bench_options_scale_and_datasets(tmp_path):
    args = run_bench.parse_args(["--workdir", str(tmp_path), "--scale", "0.001", "--datasets", "hello", "regions1M"])
    assert args.workdir == os.path.join(str(tmp_path), "scale-0.001") and args.scale == 0.001
    assert run_bench.parse_args(["--workdir", str(tmp_path)]).workdir == str(tmp_path)
    assert run_bench.ALL_DATASETS[:2] == ["tiny", "hello"]
    assert run_bench.ALL_DATASETS[-3:] == ["cohort16-panel", "cohort64-panel", "regions1M"]
    for bad in ("0", "2"):
        with pytest.raises(SystemExit):
            run_bench.parse_args(["--scale", bad])
