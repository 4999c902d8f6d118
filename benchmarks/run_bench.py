#!/usr/bin/env python3
"""Time the pipeline against the tools users would pick instead, side by side on the same files (`make bench`).

Whole-contig datasets (a BAM made by make_bam.py when missing, cached in --workdir):
- the pipeline (`nextflow run . --input BAM`, Nextflow's start-up included; --skip_multiqc, see below);
- the reference pool: one `samtools view -c BAM CONTIG` per contig in a Pool of --cpus processes;
- the serial loop: the same calls one after the other;
- the whole-file pass: `samtools view -c -@ CPUS BAM` (the floor for reading every record once);
- on `tiny`, the pipeline only: its fixed engine cost.
Every pipeline count file must equal the reference pool's output (`samtools view -c` per contig).

Target panels on the 10M-record GRCh38-like BAM (BED from make_bed.py, written again on every run):
- the pipeline with `--regions BED`;
- featureCounts on the panel as SAF, counting pairs (`-p --countReadPairs`, what subread 2.0.3 needs
  to count fragments) and reads (`-p` alone: 2.0.3 then assigns reads in single-end mode);
- `samtools bedcov -c` (exome panel only: on 10-100 kb genes it sums depth over a third of the genome);
- one `samtools view -c -M -L union.bed` pass over the merged union of the panel;
- the exactness oracle (oracle.py, once per run): htslib's iterator per region through pysam, itself
  checked against `samtools view -c` on ~50 random regions and at the edges of special reads. Every
  region of every pipeline run must equal it, in counts.tsv and in the count file.

Cohorts (the pipeline on a samplesheet `sample,bam,bai`):
- cohort16: 16 GRCh38-like BAMs of 1M records (make_bam.py, seeds 1-16), counted per contig; against a
  `samtools view -c -@ CPUS` loop over the files. Every sample's count file is checked against the
  oracle per contig (itself checked against `samtools view -c` on random contigs) and its total against
  the loop's count minus the unplaced reads; --pool-check random samples are also compared with
  reference_pool.py's output byte for byte;
- cohort200: the bundled assets/test-data/test1.bam and its index hard-linked (or copied) under 200
  names; also timed: the pipeline on one of those BAMs alone. Every count file must equal
  reference_pool.py's output for test1.bam.

Panels on cohorts and large panels:
- cohort16-panel: the 16 cohort16 BAMs (distinct files, seeds 1-16) on the 200k exome panel: the pipeline on
  the samplesheet with `--regions BED`; featureCounts `-p -O -T CPUS` given all 16 BAMs in one call; the
  whole-file loop. Every region of every sample must equal the oracle (16 x 200,000 queries, once per run),
  itself checked against `samtools view -c` on 4 random regions of each sample and the probes of the first;
- cohort64-panel: the same 16 BAMs under 64 names (hard links with their indexes, 4 names each) on the same
  panel, once whatever --repeats: a cohort the pipeline plans, counts and reduces in several groups (2 with
  --max_group_regions 8,000,000 on 2 CPUs; 8 with the earlier 2,000,000). featureCounts is given the 64 names
  in one call. The oracle is the 16 files' (each name checked against its file's);
- regions1M: 1,000,000 regions (the exome panels of seeds 1-5 concatenated, then sorted) on one grch38 BAM
  of 1M records: the pipeline once (whatever --repeats), every region = the oracle; the ratio lines give
  each task's peak RSS against its memory request (trace columns peak_rss and memory).

Start-up reference:
- hello: benchmarks/hello/main.nf, four trivial processes one after another, run with the same Nextflow
  in a fresh launch folder (its output line is checked); and again with the pipeline's nextflow.config
  (`-c`, --outdir as the pipeline is given it): the configuration and the execution reports it turns on
  (nf-core's report, timeline, trace and DAG), apart from the pipeline's own scripts, checks and tasks.

--scale F multiplies every generated BAM's records and every panel's regions by F (smoke tests, e.g.
0.001) and keeps its files in WORKDIR/scale-F, apart from the full-size ones; tiny and hello are unscaled.

Each method runs --repeats times, interleaved (all methods of a dataset, then again), and the table
shows the median. When `tiny` is among the datasets, every other dataset whose ratio subtracts it (and
hello) also runs the pipeline on the tiny BAM once a round, just before its own run ("pipeline tiny
alongside"), and its ratios subtract the median of those: a machine whose speed drifts by 10-40% over a
bench then moves both terms of a difference together, not one (the tiny runs at the start of a bench gave
6.6-8.9 s over one day's runs of the same code). MultiQC is left out of the timed runs (--skip_multiqc): it
renders a report in a fixed ~10 s whatever the data, which says nothing about counting.
"""

import argparse
import csv
import glob
import os
import random
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_bed  # noqa: E402
import oracle  # noqa: E402

# name -> (layout, records): one BAM, counted per contig
DATASETS = {
    "tiny": ("balanced24", 2_000),
    "grch38_10M": ("grch38", 10_000_000),
    "balanced24_10M": ("balanced24", 10_000_000),
    "grch38_30M": ("grch38", 30_000_000),
}
# name -> (make_bed panel, BAM dataset): one BAM, counted per BED region
PANELS = {"exome_10M": ("exome", "grch38_10M"), "genes_10M": ("genes", "grch38_10M")}
COHORTS = ("cohort16", "cohort200")
# name -> (make_bed panel, samples) counted on the cohort16 BAMs, all samples in one run: 16 distinct files, or
# more names for them (hard links, as one BAM under several names in the issue): a cohort of several groups
COHORT_PANELS = {"cohort16-panel": ("exome", 16), "cohort64-panel": ("exome", 64)}
COHORT_PANELS_ONCE = ("cohort64-panel",)  # run once whatever --repeats: minutes each
COHORT_PANEL_TARGETS = {"cohort16-panel": "target <= 1.0"}  # the issue's; the larger cohort shows the groups
HELLO = "hello"
HELLO_PIPELINE = os.path.join(HERE, "hello", "main.nf")
HELLO_OUTPUT = "hello WORLD (12 characters)"  # what its last process prints
HELLO_METHOD = "hello-world"
HELLO_CONFIGURED = "hello-world + our config"  # with the pipeline's nextflow.config
MILLION = "regions1M"
MILLION_SEEDS = (1, 2, 3, 4, 5)  # exome panels concatenated: 5 x 200,000 regions
MILLION_BAM = ("grch38", 1_000_000)
ALL_DATASETS = ["tiny", HELLO, *list(DATASETS)[1:], *PANELS, *COHORTS, *COHORT_PANELS, MILLION]
COHORT16 = {"samples": 16, "records": 1_000_000, "layout": "grch38"}
COHORT200_SAMPLES = 200
TEST_BAM = os.path.join(ROOT, "assets", "test-data", "test1.bam")
GB = 1 << 30


@dataclass
class Timing:
    dataset: str
    method: str
    seconds: float
    note: str = ""
    facts: dict = field(default_factory=dict)  # task counts and peak RSS, for the ratio lines


@dataclass
class Bench:
    """The options every dataset is run with."""

    workdir: str
    cpus: int
    extra: list  # pipeline options (--pipeline-args)
    repeats: int
    rng: random.Random  # picks the samples of the random checks
    pipeline: str = ROOT  # the pipeline folder run with nextflow
    serial: bool = True
    pool_check: int = 1
    scale: float = 1.0  # of records and regions (--scale, smoke tests)
    tiny_alongside: bool = False  # run the tiny BAM once a round beside each dataset (see the module's text)


@dataclass
class PipelineRun:
    seconds: float
    outdir: str
    processes: list  # one process name per trace row
    peak_rss: int  # bytes, the largest of any task
    rows: list = field(default_factory=list)  # the trace's rows (dicts)


def timed(command, **kwargs):
    """(seconds, CompletedProcess) of a command that must succeed."""
    seconds, _, result = timed_cpu(command, **kwargs)
    return seconds, result


def timed_cpu(command, **kwargs):
    """(seconds, CPU seconds of the command and its children, CompletedProcess) of a command that must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds, cpu, result


def make_bam(path, layout, records, seed):
    if os.path.exists(path + ".bai"):
        return path
    print(f"[bench] generating {path} ({layout}, {records:,} records, seed {seed})", flush=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run(
        [sys.executable, os.path.join(HERE, "make_bam.py"), "--layout", layout, "--records", str(records),
         "--seed", str(seed), "--out", path],
        check=True,
    )  # fmt: skip
    return path


def scaled(n, scale, floor):
    """n times --scale, at least floor (n itself at scale 1)."""
    return n if scale == 1 else max(floor, round(n * scale))


def ensure_bam(bench, name):
    layout, records = DATASETS[name]
    records = records if name == "tiny" else scaled(records, bench.scale, 2_000)
    return make_bam(os.path.join(bench.workdir, f"{name}.bam"), layout, records, 1)


def parse_memory(text):
    """Bytes of a Nextflow trace memory value ('123.4 MB', '2 GB', '0', '-': 0)."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGTP]?B)?\s*", text or "")
    if not match:
        return 0
    scale = {None: 1, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}
    return int(float(match.group(1)) * scale[match.group(2)])


def parse_duration(text):
    """Seconds of a Nextflow trace duration ('671ms', '5.3s', '1m 2s', '1h 3m 4s', '-': 0)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"([\d.]+)\s*(ms|s|m|h|d)", text or "")
    return sum(float(value) * units[unit] for value, unit in parts)


def cpu_seconds(rows):
    """{process: CPU seconds} of trace rows (realtime x %cpu), in the order the processes first appear."""
    cpu = {}
    for row in rows:
        process = row["process"].split(":")[-1]
        percent = row.get("%cpu", "-").rstrip("%")
        share = float(percent) / 100 if percent not in ("-", "") else 0.0
        cpu[process] = cpu.get(process, 0.0) + parse_duration(row.get("realtime")) * share
    return cpu


def format_memory(n):
    return f"{n / GB:.2f} GB" if n >= GB else f"{n / (1 << 20):.0f} MB"


def trace_rows(outdir):
    """The rows (dicts) of this run's trace."""
    trace = sorted(glob.glob(os.path.join(outdir, "pipeline_info", "execution_trace_*.txt")))[-1]
    with open(trace) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def read_trace(outdir):
    """(process names, largest peak_rss in bytes, rows) of this run's trace."""
    rows = trace_rows(outdir)
    processes = [row["process"].split(":")[-1] for row in rows]
    return processes, max((parse_memory(r["peak_rss"]) for r in rows), default=0), rows


def tasks_per_stage(processes):
    """{process: tasks}, in the order the stages first appear in the trace."""
    stages = {}
    for process in processes:
        stages[process] = stages.get(process, 0) + 1
    return stages


def memory_against_request(rows):
    """Each task's peak RSS against its memory request, from trace rows: {"tasks", "over" (the tasks whose
    peak exceeds a request), "worst" (process, peak, request) of the largest peak/request, "largest_request"}.
    A task without a request ('-') has no share and is not counted as over."""
    tasks = []
    for row in rows:
        peak, request = parse_memory(row.get("peak_rss")), parse_memory(row.get("memory"))
        tasks.append((row["process"].split(":")[-1], peak, request))
    with_request = [t for t in tasks if t[2]]
    worst = max(with_request, key=lambda t: t[1] / t[2], default=None)
    over = [t for t in with_request if t[1] > t[2]]
    return {"tasks": len(tasks), "over": over, "worst": worst, "largest_request": max((t[2] for t in tasks), default=0)}


def run_pipeline(bench, input_path, run_name, regions=None):
    """Run the pipeline in a fresh launch folder (its own work/, no cache); time it."""
    launch = os.path.join(bench.workdir, f"run_{run_name}")
    shutil.rmtree(launch, ignore_errors=True)
    os.makedirs(launch)
    outdir = os.path.join(launch, "results")
    command = ["nextflow", "run", bench.pipeline, "-ansi-log", "false", "--input", input_path, "--outdir", outdir]
    if regions:
        command += ["--regions", regions]
    seconds, _ = timed([*command, "--skip_multiqc", *bench.extra], cwd=launch)
    processes, peak_rss, rows = read_trace(outdir)
    return PipelineRun(seconds, outdir, processes, peak_rss, rows)


TINY_ALONGSIDE = "pipeline tiny alongside"


def run_tiny_alongside(bench, runs):
    """The pipeline on the tiny BAM once, added to runs[TINY_ALONGSIDE] (when the bench runs tiny): the fixed
    cost a dataset's ratio subtracts, timed in the same minutes as the dataset's own run."""
    if bench.tiny_alongside:
        runs.setdefault(TINY_ALONGSIDE, []).append(run_pipeline(bench, ensure_bam(bench, "tiny"), "tiny").seconds)


def count_file(outdir, sample, suffix="_count.txt"):
    with open(os.path.join(outdir, sample, f"{sample}{suffix}")) as handle:
        return handle.read()


def task_facts(run):
    return {"count_tasks": run.processes.count("COUNT_UNIT"), "tasks": len(run.processes), "peak_rss": run.peak_rss,
            "stages": tasks_per_stage(run.processes), "memory": memory_against_request(run.rows),
            "cpu": cpu_seconds(run.rows)}  # fmt: skip


def task_note(facts):
    return f"{facts['count_tasks']} counting tasks of {facts['tasks']}, peak RSS {format_memory(facts['peak_rss'])}"


def warm_page_cache(path):
    """Read a file once so that every method is timed on cached data, whichever runs first."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(name, method, runs, note="", facts=None):
    """One table row: the median of the runs, and their spread when there are several."""
    spread = f"{len(runs)} runs, {min(runs):.2f}-{max(runs):.2f} s" if len(runs) > 1 else ""
    return Timing(name, method, median(runs), ", ".join(part for part in (spread, note) if part), facts or {})


def run_dataset(bench, name):
    """Time every method on one BAM, per contig. The repeats are interleaved (pipeline, pool, whole pass,
    then again) so that a slow spell of a noisy machine does not fall on one method only."""
    bam, cpus = ensure_bam(bench, name), bench.cpus
    warm_page_cache(bam)
    runs = {}
    pool_command = [sys.executable, os.path.join(HERE, "reference_pool.py"), bam]
    for _ in range(bench.repeats):
        if name != "tiny":
            run_tiny_alongside(bench, runs)
        run = run_pipeline(bench, bam, name)
        runs.setdefault("pipeline", []).append(run.seconds)
        if name == "tiny":
            continue
        seconds, pool = timed([*pool_command, "--procs", str(cpus)])
        runs.setdefault("reference pool", []).append(seconds)
        if pool.stdout != count_file(run.outdir, name):
            raise RuntimeError(f"{name}: pipeline counts differ from samtools view -c per contig")
        seconds, whole = timed(["samtools", "view", "-c", "-@", str(cpus), bam])
        runs.setdefault(f"whole-file pass -@{cpus}", []).append(seconds)
    if bench.serial and name != "tiny":  # minutes on grch38: once
        seconds, _ = timed([*pool_command, "--serial"])
        runs["serial loop"] = [seconds]
    facts = task_facts(run)
    notes = {"pipeline": task_note(facts)}
    if name != "tiny":
        notes["pipeline"] += ", counts identical to samtools view -c per contig"
        notes[f"whole-file pass -@{cpus}"] = f"{int(whole.stdout):,} records"
    return [
        summarise(name, method, seconds, notes.get(method, ""), facts if method == "pipeline" else None)
        for method, seconds in runs.items()
    ]


# ------------------------------------------------------------------------------------------------
# Target panels
# ------------------------------------------------------------------------------------------------


def panel_regions(panel, scale=1.0, seed=1):
    """make_bed's panel (make_bed.py --panel PANEL --seed SEED), its size times --scale."""
    make = {"exome": make_bed.exome_regions, "genes": make_bed.gene_regions}[panel]
    return make(seed, scaled(make_bed.PANELS[panel], scale, 50))


def million_regions(scale=1.0):
    """The exome panels of MILLION_SEEDS concatenated and sorted (contig, start, end; equal intervals in
    seed order): 1,000,000 regions at scale 1, with the overlaps, nesting and duplicates of each."""
    return make_bed.sort_regions(r for seed in MILLION_SEEDS for r in panel_regions("exome", scale, seed))


def write_panel(workdir, panel, scale=1.0):
    """BED, SAF and merged-union BED of a panel, written again on every run (make_bed.py is
    deterministic; nothing stale survives a change to it). Returns (regions, bed, saf, union)."""
    folder = os.path.join(workdir, "panels")
    os.makedirs(folder, exist_ok=True)
    regions = million_regions(scale) if panel == MILLION else panel_regions(panel, scale)
    paths = [os.path.join(folder, f"{panel}{suffix}") for suffix in (".bed", ".saf", ".union.bed")]
    for path, text in zip(paths, (make_bed.bed_text, make_bed.saf_text, make_bed.union_text)):
        make_bed.write_text(path, text(regions))
    return [tuple(r) for r in regions], *paths


def featurecounts_assigned(summary_path):
    """Reads (or pairs) assigned, added up over the BAMs of the call (one column each)."""
    with open(summary_path) as handle:
        for line in handle:
            if line.startswith("Assigned\t"):
                return sum(int(n) for n in line.rstrip("\n").split("\t")[1:])
    return None


def featurecounts_command(saf, out, bams, cpus, pairs):
    """One featureCounts call on every BAM of `bams` (a list: a cohort is counted in one call, one column
    per BAM). `-p` alone counts reads in subread 2.0.3 (see the README); `pairs` adds --countReadPairs."""
    mode = ["-p", "--countReadPairs"] if pairs else ["-p"]
    return ["featureCounts", *mode, "-O", "-T", str(cpus), "-F", "SAF", "-a", saf, "-o", out, *bams]


def run_panel(bench, name):
    panel, bam_name = PANELS[name]
    workdir, cpus = bench.workdir, bench.cpus
    bam = ensure_bam(bench, bam_name)
    regions, bed, saf, union = write_panel(workdir, panel, bench.scale)
    intervals = [(c, s, e) for c, s, e, _ in regions]
    warm_page_cache(bam)
    print(f"[bench] {name}: oracle on {len(regions):,} regions ({cpus} processes)", flush=True)
    start = time.monotonic()
    truth = oracle.oracle_counts(bam, intervals, procs=cpus)
    oracle_seconds = time.monotonic() - start
    checked = oracle.validate(bam, intervals, truth, sample=50, rng=bench.rng)
    print(f"[bench] {name}: oracle took {oracle_seconds:.1f} s, agrees with samtools view -c on {checked} "
          f"regions (50 random, the rest at the edges of special reads)", flush=True)  # fmt: skip
    fc_dir = os.path.join(workdir, f"featurecounts_{name}")
    runs, facts, notes = {}, [], {}
    for _ in range(bench.repeats):
        run_tiny_alongside(bench, runs)
        run = run_pipeline(bench, bam, name, regions=bed)
        runs.setdefault("pipeline", []).append(run.seconds)
        sample = bam_name
        oracle.compare_counts_tsv(os.path.join(run.outdir, sample, f"{sample}.counts.tsv"), regions, truth)
        oracle.compare_count_txt(os.path.join(run.outdir, sample, f"{sample}_count.txt"), regions, truth)
        facts.append(task_facts(run))
        for label, pairs in (("featureCounts pairs", True), ("featureCounts reads", False)):
            shutil.rmtree(fc_dir, ignore_errors=True)
            os.makedirs(fc_dir)
            out = os.path.join(fc_dir, "counts.txt")
            seconds, _ = timed(featurecounts_command(saf, out, [bam], cpus, pairs), cwd=fc_dir)
            runs.setdefault(label, []).append(seconds)
            notes[label] = f"{featurecounts_assigned(out + '.summary'):,} assigned"
        if panel == "exome":
            seconds, _ = timed(["samtools", "bedcov", "-c", bed, bam])
            runs.setdefault("samtools bedcov -c", []).append(seconds)
        seconds, union_count = timed(["samtools", "view", "-c", "-M", "-L", union, bam])
        runs.setdefault("view -c -M -L union", []).append(seconds)
        notes["view -c -M -L union"] = f"{int(union_count.stdout):,} records"
    runs["oracle (pysam/region)"] = [oracle_seconds]
    notes["oracle (pysam/region)"] = f"once, {cpus} processes"
    worst = max(facts, key=lambda f: f["peak_rss"])
    worst = {**worst, "count_tasks": facts[-1]["count_tasks"], "tasks": facts[-1]["tasks"]}
    notes["pipeline"] = f"{task_note(worst)}, all {len(regions):,} regions = oracle"
    return [
        summarise(name, method, seconds, notes.get(method, ""), worst if method == "pipeline" else None)
        for method, seconds in runs.items()
    ]


# ------------------------------------------------------------------------------------------------
# Cohorts
# ------------------------------------------------------------------------------------------------


def write_samplesheet(path, samples):
    """samples: (name, bam) pairs; the index is BAM.bai."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample", "bam", "bai"])
        writer.writerows((name, bam, bam + ".bai") for name, bam in samples)
    return path


def ensure_cohort16(workdir, scale=1.0):
    folder = os.path.join(workdir, "cohort16")
    samples = []
    for i in range(1, COHORT16["samples"] + 1):
        path = os.path.join(folder, f"s{i:02d}.bam")
        make_bam(path, COHORT16["layout"], scaled(COHORT16["records"], scale, 1_000), seed=i)
        samples.append((f"s{i:02d}", path))
    return samples, write_samplesheet(os.path.join(folder, "samplesheet.csv"), samples)


def link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def ensure_cohort200(workdir):
    """200 names for the bundled test1.bam, each with its own index; linked again on every run."""
    folder = os.path.join(workdir, "cohort200")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    samples = []
    for i in range(1, COHORT200_SAMPLES + 1):
        path = os.path.join(folder, f"s{i:03d}.bam")
        link_or_copy(TEST_BAM, path)
        link_or_copy(TEST_BAM + ".bai", path + ".bai")
        samples.append((f"s{i:03d}", path))
    return samples, write_samplesheet(os.path.join(folder, "samplesheet.csv"), samples)


def whole_file_loop(bams, cpus):
    """(seconds, records per file) of `samtools view -c -@ CPUS` on each file, one after the other."""
    start = time.monotonic()
    totals = [int(timed(["samtools", "view", "-c", "-@", str(cpus), bam])[1].stdout) for bam in bams]
    return time.monotonic() - start, totals


def unplaced_reads(bam):
    """Records with no contig (RNAME '*'), from the index: the '*' line of samtools idxstats."""
    _, result = timed(["samtools", "idxstats", bam])
    last = result.stdout.splitlines()[-1].split("\t")
    assert last[0] == "*", last
    return int(last[3])


def contig_lengths(bam):
    """(name, length) of the @SQ lines, in header order."""
    with oracle.pysam.AlignmentFile(bam) as aln:
        return list(zip(aln.references, aln.lengths))


def check_cohort16(run, samples, loop_totals, cpus, pool_checks, rng):
    """Every sample: count file = oracle per contig, total = whole-file count - unplaced reads; the oracle
    checked against samtools view -c on random contigs of each; pool_checks random samples against
    reference_pool.py byte for byte. Returns the number of contigs checked with samtools."""
    checked = 0
    for (sample, bam), total in zip(samples, loop_totals):
        contigs = [(name, 0, length) for name, length in contig_lengths(bam)]
        truth = oracle.oracle_counts(bam, contigs, procs=1)
        regions = [(name, 0, length, name) for name, _, length in contigs]
        oracle.compare_count_txt(os.path.join(run.outdir, sample, f"{sample}_count.txt"), regions, truth)
        unplaced = unplaced_reads(bam)
        if sum(truth) != total - unplaced:
            raise oracle.Mismatch(f"{sample}: per-contig counts add up to {sum(truth)}, but samtools view -c "
                                  f"counts {total} records of which {unplaced} have no contig")  # fmt: skip
        checked += oracle.validate(bam, contigs, truth, sample=4, rng=rng, probes=False)
    for sample, bam in rng.sample(samples, min(pool_checks, len(samples))):
        _, pool = timed([sys.executable, os.path.join(HERE, "reference_pool.py"), bam, "--procs", str(cpus)])
        if pool.stdout != count_file(run.outdir, sample):
            raise oracle.Mismatch(f"cohort16 {sample}: pipeline counts differ from reference_pool.py's")
    return checked


def run_cohort(bench, name):
    cpus = bench.cpus
    if name == "cohort16":
        samples, sheet = ensure_cohort16(bench.workdir, bench.scale)
    else:
        samples, sheet = ensure_cohort200(bench.workdir)
    bams = [bam for _, bam in samples]
    for bam in dict.fromkeys(os.path.realpath(b) for b in bams):
        warm_page_cache(bam)
    if name == "cohort200":  # identical copies: one reference for all
        _, pool = timed([sys.executable, os.path.join(HERE, "reference_pool.py"), TEST_BAM, "--procs", str(cpus)])
        reference = pool.stdout
    runs, notes, facts = {}, {}, {}
    loop_label = f"whole-file loop -@{cpus}"
    for _ in range(bench.repeats):
        run_tiny_alongside(bench, runs)
        run = run_pipeline(bench, sheet, name)
        runs.setdefault("pipeline", []).append(run.seconds)
        facts = task_facts(run)
        seconds, totals = whole_file_loop(bams, cpus)
        runs.setdefault(loop_label, []).append(seconds)
        notes[loop_label] = f"{len(bams)} files, {sum(totals):,} records"
        if name == "cohort16":
            checked = check_cohort16(run, samples, totals, cpus, bench.pool_check, bench.rng)
            notes["pipeline"] = (f"every sample = oracle per contig (checked against samtools view -c on "
                                 f"{checked} contigs), {bench.pool_check} = reference_pool.py")  # fmt: skip
        else:
            differ = [s for s, _ in samples if count_file(run.outdir, s) != reference]
            if differ:
                raise oracle.Mismatch(f"cohort200: {len(differ)} samples differ from reference_pool.py: {differ[:5]}")
            one = run_pipeline(bench, bams[0], f"{name}_one")
            runs.setdefault("pipeline, 1 BAM", []).append(one.seconds)
            if count_file(one.outdir, samples[0][0]) != reference:
                raise oracle.Mismatch("cohort200: the one-BAM run differs from reference_pool.py")
            notes["pipeline, 1 BAM"] = task_note(task_facts(one))
            notes["pipeline"] = f"all {len(samples)} = reference_pool.py"
    notes["pipeline"] = f"{task_note(facts)}, {notes['pipeline']}"
    return [
        summarise(name, method, seconds, notes.get(method, ""), facts if method == "pipeline" else None)
        for method, seconds in runs.items()
    ]


# ------------------------------------------------------------------------------------------------
# A panel on a cohort, a 1,000,000-region panel, the start-up reference
# ------------------------------------------------------------------------------------------------


# (BAM paths, intervals) -> the oracle's (truths, checked) of a cohort already asked in this bench run: the
# cohort panels share their 16 files (~6 minutes of oracle).
COHORT_ORACLES = {}


def cohort_oracle(bench, samples, intervals):
    """The oracle's counts of every interval in every sample ({sample: counts}), each sample's checked against
    samtools view -c on 4 random intervals (and the first sample's on the probes at special reads).
    Returns (truths, intervals checked with samtools, seconds: 0 when this run asked it already)."""
    key = (tuple(bam for _, bam in samples), tuple(intervals))
    if key in COHORT_ORACLES:
        return (*COHORT_ORACLES[key], 0.0)
    start, truths, checked = time.monotonic(), {}, 0
    for i, (sample, bam) in enumerate(samples):
        truths[sample] = oracle.oracle_counts(bam, intervals, procs=bench.cpus)
        checked += oracle.validate(bam, intervals, truths[sample], sample=4, rng=bench.rng, probes=i == 0)
    COHORT_ORACLES[key] = (truths, checked)
    return truths, checked, time.monotonic() - start


def check_samples_against_oracle(run, regions, truths):
    """Every region of every sample's counts.tsv and count file = the oracle (raises oracle.Mismatch)."""
    for sample, truth in truths.items():
        oracle.compare_counts_tsv(os.path.join(run.outdir, sample, f"{sample}.counts.tsv"), regions, truth)
        oracle.compare_count_txt(os.path.join(run.outdir, sample, f"{sample}_count.txt"), regions, truth)


def ensure_cohort_names(workdir, samples, n_names):
    """n_names (sample, BAM) names for the cohort16 BAMs, each a hard link (or a copy) of one of them with its
    index, 'c01'... in turn over the 16 files; and the samplesheet of them."""
    folder = os.path.join(workdir, f"cohort{n_names}")
    os.makedirs(folder, exist_ok=True)
    named = []
    for i in range(n_names):
        source = samples[i % len(samples)][1]
        name = f"c{i + 1:02d}"
        path = os.path.join(folder, f"{name}.bam")
        for src, dst in ((source, path), (source + ".bai", path + ".bai")):
            if not os.path.exists(dst) or not os.path.samefile(src, dst):
                if os.path.exists(dst):
                    os.remove(dst)
                link_or_copy(src, dst)
        named.append((name, path))
    return named, write_samplesheet(os.path.join(folder, "samplesheet.csv"), named)


def run_cohort_panel(bench, name):
    """The cohort16 BAMs (or more names for them) on a panel: the pipeline on the samplesheet with --regions,
    featureCounts on all the BAMs in one call (-p -O -T CPUS, as in the issue), the whole-file loop; every
    region of every sample checked against the oracle."""
    (panel, n_names), cpus = COHORT_PANELS[name], bench.cpus
    distinct, sheet = ensure_cohort16(bench.workdir, bench.scale)
    samples = distinct if n_names == len(distinct) else ensure_cohort_names(bench.workdir, distinct, n_names)[0]
    if n_names != len(distinct):
        sheet = os.path.join(bench.workdir, f"cohort{n_names}", "samplesheet.csv")
    bams = [bam for _, bam in samples]
    regions, bed, saf, _ = write_panel(bench.workdir, panel, bench.scale)
    for bam in bams:
        warm_page_cache(bam)
    intervals = [(c, s, e) for c, s, e, _ in regions]
    print(f"[bench] {name}: oracle on {len(distinct)} files x {len(regions):,} regions", flush=True)
    truths, checked, oracle_seconds = cohort_oracle(bench, distinct, intervals)
    truths = {sample: truths[distinct[i % len(distinct)][0]] for i, (sample, _) in enumerate(samples)}
    print(f"[bench] {name}: oracle took {oracle_seconds:.1f} s, agrees with samtools view -c on {checked} "
          f"regions", flush=True)  # fmt: skip
    fc_dir = os.path.join(bench.workdir, f"featurecounts_{name}")
    fc_label, loop_label = "featureCounts reads", f"whole-file loop -@{cpus}"
    runs, notes, fc_cpu, pipeline_cpu = {}, {}, [], []
    for _ in range(1 if name in COHORT_PANELS_ONCE else bench.repeats):
        run_tiny_alongside(bench, runs)
        run = run_pipeline(bench, sheet, name, regions=bed)
        runs.setdefault("pipeline", []).append(run.seconds)
        check_samples_against_oracle(run, regions, truths)
        facts = {**task_facts(run), "cpus": cpus}
        pipeline_cpu.append(facts["cpu"])
        shutil.rmtree(fc_dir, ignore_errors=True)
        os.makedirs(fc_dir)
        out = os.path.join(fc_dir, "counts.txt")
        seconds, cpu, _ = timed_cpu(featurecounts_command(saf, out, bams, cpus, pairs=False), cwd=fc_dir)
        runs.setdefault(fc_label, []).append(seconds)
        fc_cpu.append(cpu)
        notes[fc_label] = f"{len(bams)} BAMs in one call, {featurecounts_assigned(out + '.summary'):,} assigned"
        seconds, totals = whole_file_loop(bams, cpus)
        runs.setdefault(loop_label, []).append(seconds)
        notes[loop_label] = f"{len(bams)} files, {sum(totals):,} records"
    runs["oracle (pysam/region)"] = [oracle_seconds]
    notes["oracle (pysam/region)"] = f"once, {cpus} processes, {len(distinct)} files"
    notes["pipeline"] = f"{task_note(facts)}, all {len(regions):,} regions of all {len(samples)} samples = oracle"
    # CPU seconds, medians of the runs: the tasks' (per process, from the traces) and featureCounts'.
    facts["cpu"] = {process: median([cpu.get(process, 0.0) for cpu in pipeline_cpu]) for process in facts["cpu"]}
    facts["featurecounts_cpu"] = median(fc_cpu)
    return [
        summarise(name, method, seconds, notes.get(method, ""), facts if method == "pipeline" else None)
        for method, seconds in runs.items()
    ]


def run_million(bench, name):
    """1,000,000 regions on one 1M-record BAM: the pipeline once (the figure is each task's peak RSS against
    its request, not the time), every region checked against the oracle."""
    layout, records = MILLION_BAM
    bam = make_bam(os.path.join(bench.workdir, "grch38_1M.bam"), layout, scaled(records, bench.scale, 1_000), 1)
    regions, bed, _, _ = write_panel(bench.workdir, MILLION, bench.scale)
    warm_page_cache(bam)
    intervals = [(c, s, e) for c, s, e, _ in regions]
    print(f"[bench] {name}: oracle on {len(regions):,} regions", flush=True)
    start = time.monotonic()
    truth = oracle.oracle_counts(bam, intervals, procs=bench.cpus)
    oracle_seconds = time.monotonic() - start
    checked = oracle.validate(bam, intervals, truth, sample=50, rng=bench.rng)
    run = run_pipeline(bench, bam, name, regions=bed)
    sample = os.path.basename(bam).removesuffix(".bam")
    check_samples_against_oracle(run, regions, {sample: truth})
    facts = task_facts(run)
    note = f"once, {task_note(facts)}, all {len(regions):,} regions = oracle"
    return [
        Timing(name, "pipeline", run.seconds, note, facts),
        Timing(name, "oracle (pysam/region)", oracle_seconds, f"once, {bench.cpus} processes, {checked} checked"),
    ]


def run_hello(bench, name):
    """The four-process hello-world pipeline, in a fresh launch folder each time (no cache): alone, and with
    the pipeline's nextflow.config and an --outdir (the reports it turns on are written there), interleaved."""
    launch = os.path.join(bench.workdir, "run_hello")
    configured = ["-c", os.path.join(bench.pipeline, "nextflow.config"), "--outdir", os.path.join(launch, "results")]
    runs = {HELLO_METHOD: [], HELLO_CONFIGURED: []}
    for _ in range(bench.repeats):
        run_tiny_alongside(bench, runs)
        for method, options in ((HELLO_METHOD, []), (HELLO_CONFIGURED, configured)):
            shutil.rmtree(launch, ignore_errors=True)
            os.makedirs(launch)
            seconds, result = timed(["nextflow", "run", HELLO_PIPELINE, "-ansi-log", "false", *options], cwd=launch)
            if HELLO_OUTPUT not in result.stdout:
                raise RuntimeError(f"{method}: expected {HELLO_OUTPUT!r} in its output:\n{result.stdout[-2000:]}")
            runs[method].append(seconds)
    notes = {
        HELLO_METHOD: "4 processes one after another",
        HELLO_CONFIGURED: "-c the pipeline's nextflow.config, --outdir",
    }
    return [summarise(name, method, seconds, notes.get(method, "")) for method, seconds in runs.items()]


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def stage_line(name, facts):
    """Tasks per stage of a run against the issue's bound: at most 2 tasks per CPU slot per stage (the
    groups' own bound is not known to the bench, so it is not added; the stages over 2 x CPUs are named)."""
    limit = 2 * facts["cpus"]
    stages = ", ".join(f"{process} {n}" for process, n in facts["stages"].items())
    over = [process for process, n in facts["stages"].items() if n > limit]
    tail = f"; over: {', '.join(over)}" if over else ""
    return f"tasks per stage, {name}: {stages} (target <= 2 per CPU slot: {limit} on {facts['cpus']} CPUs{tail})"


def cpu_line(name, facts):
    """CPU seconds of the pipeline's tasks by process against featureCounts' (medians): what the counting
    itself costs beside the other stages, whatever the waits between tasks."""
    cpu, fc = facts["cpu"], facts["featurecounts_cpu"]
    stages = ", ".join(f"{process} {seconds:.1f}" for process, seconds in cpu.items())
    count = cpu.get("COUNT_UNIT", 0.0)
    return (f"CPU seconds, {name}: tasks {sum(cpu.values()):.1f} ({stages}), featureCounts {fc:.1f}; "
            f"COUNT_UNIT / featureCounts: {count / fc:.2f}")  # fmt: skip


def memory_lines(name, memory):
    """Peak RSS of every task against its memory request, and the largest request (target <= 2 GB)."""
    lines = []
    if memory["worst"]:
        process, peak, request = memory["worst"]
        lines.append(f"peak RSS / memory request, {name}: worst {peak / request:.2f} ({process}, {format_memory(peak)} "
                     f"of {format_memory(request)}); tasks over their request: {len(memory['over'])} of "
                     f"{memory['tasks']} (target 0)")  # fmt: skip
    else:
        lines.append(f"peak RSS / memory request, {name}: no task has a memory request in the trace")
    lines.append(f"largest memory request, {name}: {format_memory(memory['largest_request'])} (target <= 2 GB)")
    return lines


def featurecounts_ratio_line(t, name, tiny, how, details, needs_tiny):
    """'(pipeline NAME - pipeline tiny) / featureCounts HOW: R (DETAILS)', R against the featureCounts reads
    run; details(net seconds) gives the parenthesis. Without the tiny run: what is needed instead."""
    if not tiny:
        return f"(pipeline {name} - pipeline tiny) / featureCounts: {needs_tiny}"
    net = t[name, "pipeline"] - tiny
    return (
        f"(pipeline {name} - pipeline tiny) / featureCounts {how}: {net / t[name, 'featureCounts reads']:.2f} "
        f"({details(net)}){alongside_note(t, name)}"
    )


def alongside_note(t, name):
    """' [tiny alongside: S s]' when NAME's ratios subtract the tiny runs made beside its own, else ''."""
    return f" [tiny alongside: {t[name, TINY_ALONGSIDE]:.2f} s]" if (name, TINY_ALONGSIDE) in t else ""


def ratio_lines(timings):
    """The target ratios from the table's figures."""
    t = {(x.dataset, x.method.split(" -@")[0]): x.seconds for x in timings}
    facts = {x.dataset: x.facts for x in timings if x.method == "pipeline"}
    tiny = t.get(("tiny", "pipeline"))

    def fixed(name):
        """The tiny run a dataset's ratios subtract: the runs made beside its own when there are any."""
        return t.get((name, TINY_ALONGSIDE), tiny) if tiny else None

    needs_tiny = "needs the tiny dataset in the same run"
    lines = []
    if tiny and (HELLO, HELLO_METHOD) in t:
        start_up = fixed(HELLO)
        ratio = start_up / t[HELLO, HELLO_METHOD]
        lines.append(f"pipeline tiny / hello-world: {ratio:.2f} (target <= 2){alongside_note(t, HELLO)}")
        if (HELLO, HELLO_CONFIGURED) in t:
            configured = t[HELLO, HELLO_CONFIGURED]
            lines.append(
                "hello-world with the pipeline's nextflow.config / hello-world: "
                f"{configured / t[HELLO, HELLO_METHOD]:.2f} (the configuration and the reports it turns on); "
                f"pipeline tiny / that: {start_up / configured:.2f} (the pipeline's scripts, checks and tasks)"
            )
    for name in ("grch38_10M", "grch38_30M", "balanced24_10M"):
        if (name, "pipeline") in t and (name, "reference pool") in t:
            ratio = t[name, "pipeline"] / t[name, "reference pool"]
            lines.append(
                f"pipeline / reference pool, {name}: {ratio:.2f}" + (" (target <= 0.8)" if "grch38" in name else "")
            )
    for name, earlier in (("grch38_10M", ""), ("grch38_30M", "; earlier target <= 1.15")):
        if (name, "pipeline") in t and (name, "whole-file pass") in t:
            head = f"(pipeline {name} - pipeline tiny) / whole-file pass"
            if tiny:
                ratio = (t[name, "pipeline"] - fixed(name)) / t[name, "whole-file pass"]
                lines.append(f"{head}: {ratio:.2f} (target <= 1.3{earlier}){alongside_note(t, name)}")
            else:
                lines.append(f"{head}: {needs_tiny}")
    if ("grch38_10M", "pipeline") in t and ("balanced24_10M", "pipeline") in t:
        ratio = t["grch38_10M", "pipeline"] / t["balanced24_10M", "pipeline"]
        pool = t["grch38_10M", "reference pool"] / t["balanced24_10M", "reference pool"]
        lines.append(f"pipeline grch38_10M / balanced24_10M: {ratio:.2f} (target <= 1.15; reference pool: {pool:.1f})")
    for name in PANELS:
        if (name, "pipeline") not in t:
            continue
        pairs = t[name, "featureCounts pairs"]
        lines.append(featurecounts_ratio_line(
            t, name, fixed(name), "-p -O (reads)",
            lambda net, pairs=pairs: f"target <= 0.8; / featureCounts pairs: {net / pairs:.2f}, earlier target <= 1.0",
            needs_tiny,
        ))  # fmt: skip
        rss = facts[name]["peak_rss"]
        target = " (target <= 1 GB)" if name == "exome_10M" else ""
        lines.append(f"peak RSS of the pipeline's tasks, {name}: {format_memory(rss)}{target}")
    if ("cohort16", "pipeline") in t:
        if tiny:
            ratio = (t["cohort16", "pipeline"] - fixed("cohort16")) / t["cohort16", "whole-file loop"]
            lines.append(
                f"(pipeline cohort16 - pipeline tiny) / whole-file loop: {ratio:.2f} (target <= 1.5)"
                f"{alongside_note(t, 'cohort16')}"
            )
        else:
            lines.append(f"(pipeline cohort16 - pipeline tiny) / whole-file loop: {needs_tiny}")
    if ("cohort200", "pipeline") in t:
        f = facts["cohort200"]
        lines.append(f"cohort200 counting tasks (COUNT_UNIT): {f['count_tasks']} (target <= 12)")
        lines.append(f"cohort200 tasks in all: {f['tasks']} (target <= 20)")
        ratio = t["cohort200", "pipeline"] / t["cohort200", "pipeline, 1 BAM"]
        lines.append(f"pipeline cohort200 / pipeline on one of its BAMs: {ratio:.2f} (target <= 2)")
    for name in COHORT_PANELS:
        if (name, "pipeline") not in t:
            continue
        loop = t[name, "whole-file loop"]
        target = COHORT_PANEL_TARGETS.get(name, "no target")
        lines.append(featurecounts_ratio_line(
            t, name, fixed(name), "-p -O, all BAMs in one call",
            lambda net, loop=loop, target=target: f"{target}; / whole-file loop: {net / loop:.2f}", needs_tiny,
        ))  # fmt: skip
        lines.append(stage_line(name, facts[name]))
        if facts[name].get("featurecounts_cpu"):
            lines.append(cpu_line(name, facts[name]))
    if (MILLION, "pipeline") in t:
        lines.extend(memory_lines(MILLION, facts[MILLION]["memory"]))
    return lines


# the datasets with a runner of their own (the others: by PANELS, COHORTS, DATASETS)
RUNNERS = {HELLO: run_hello, MILLION: run_million, **dict.fromkeys(COHORT_PANELS, run_cohort_panel)}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=ALL_DATASETS, choices=ALL_DATASETS)
    parser.add_argument("--workdir", default=os.path.join(ROOT, ".bench"), help="BAM cache and run folders")
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument(
        "--no-serial", dest="serial", action="store_false", help="skip the serial loop (minutes on grch38)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method (the table shows the median)")
    parser.add_argument("--pipeline-args", default="", help="extra pipeline options, e.g. '--max_units 8'")
    parser.add_argument(
        "--pool-check", type=int, default=1, help="cohort16 samples also checked with reference_pool.py [1]"
    )
    parser.add_argument("--pipeline", default=ROOT, help="pipeline folder to run [this repository]")
    parser.add_argument("--seed", type=int, help="seed of the random checks (default: a new one, printed)")
    parser.add_argument(
        "--scale", type=float, default=1.0,
        help="records of the generated BAMs and regions of the panels times F, files in WORKDIR/scale-F (smoke tests)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not 0 < args.scale <= 1:
        parser.error("--scale must be above 0 and at most 1")
    if args.scale != 1:  # scaled files never mix with the full-size ones of the same names
        args.workdir = os.path.join(args.workdir, f"scale-{args.scale:g}")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"[bench] random checks with --seed {seed}, pipeline {os.path.abspath(args.pipeline)}", flush=True)
    bench = Bench(
        os.path.abspath(args.workdir), args.cpus, shlex.split(args.pipeline_args), args.repeats,
        random.Random(seed), os.path.abspath(args.pipeline), args.serial, args.pool_check, args.scale,
        "tiny" in args.datasets,
    )  # fmt: skip
    start = time.monotonic()
    timings = []
    for name in args.datasets:
        run = RUNNERS.get(name) or (run_panel if name in PANELS else run_cohort if name in COHORTS else run_dataset)
        timings.extend(run(bench, name))
        print(f"[bench] {name} done ({time.monotonic() - start:.0f} s so far)", flush=True)
    print(f"\n{'dataset':<16} {'method':<24} {'wall s':>8}  note")
    for x in timings:
        print(f"{x.dataset:<16} {x.method:<24} {x.seconds:>8.2f}  {x.note}")
    print()
    print("\n".join(ratio_lines(timings)))
    print(f"\nbench took {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
