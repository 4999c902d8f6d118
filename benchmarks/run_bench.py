#!/usr/bin/env python3
"""Time the pipeline against the hand-written approaches, side by side on the same files (`make bench`).

For each benchmark BAM (made by make_bam.py when missing, cached in --workdir) it times:
- the pipeline (`nextflow run . --input BAM`, Nextflow's start-up included; --skip_multiqc, see below);
- the reference pool: one `samtools view -c BAM CONTIG` per contig in a Pool of --cpus processes;
- the serial loop: the same calls one after the other;
- the whole-file pass: `samtools view -c -@ CPUS BAM` (the floor for reading every record once);
and the pipeline on a tiny BAM (its fixed engine cost). Each method but the serial loop runs --repeats
times, interleaved, and the table shows the median. It checks every pipeline count file against the
reference pool's (which is `samtools view -c` per contig), counts the counting tasks per sample, and
prints a table of wall times and the ratios the targets are about.

MultiQC is left out of the timed runs (--skip_multiqc): it renders a report in a fixed ~10 s whatever
the data, which says nothing about counting.
"""

import argparse
import csv
import glob
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name -> (layout, records)
DATASETS = {
    "tiny": ("balanced24", 2_000),
    "grch38_10M": ("grch38", 10_000_000),
    "balanced24_10M": ("balanced24", 10_000_000),
    "grch38_30M": ("grch38", 30_000_000),
}


@dataclass
class Timing:
    dataset: str
    method: str
    seconds: float
    note: str = ""


def timed(command, **kwargs):
    """(seconds, CompletedProcess) of a command that must succeed."""
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return seconds, result


def ensure_bam(workdir, name):
    layout, records = DATASETS[name]
    path = os.path.join(workdir, f"{name}.bam")
    if not os.path.exists(path + ".bai"):
        print(f"[bench] generating {path} ({layout}, {records:,} records)", flush=True)
        subprocess.run(
            [
                sys.executable,
                os.path.join(HERE, "make_bam.py"),
                "--layout",
                layout,
                "--records",
                str(records),
                "--seed",
                "1",
                "--out",
                path,
            ],
            check=True,
        )
    return path


def run_pipeline(bam, workdir, name, extra):
    launch = os.path.join(workdir, f"run_{name}")
    shutil.rmtree(launch, ignore_errors=True)
    os.makedirs(launch)
    outdir = os.path.join(launch, "results")
    command = [
        "nextflow",
        "run",
        ROOT,
        "-ansi-log",
        "false",
        "--input",
        bam,
        "--outdir",
        outdir,
        "--skip_multiqc",
        *extra,
    ]
    seconds, _ = timed(command, cwd=launch)
    sample = os.path.basename(bam).removesuffix(".bam")
    with open(os.path.join(outdir, sample, f"{sample}_count.txt")) as handle:
        counts = handle.read()
    trace = sorted(glob.glob(os.path.join(outdir, "pipeline_info", "execution_trace_*.txt")))[-1]
    with open(trace) as handle:
        tasks = [row["process"] for row in csv.DictReader(handle, delimiter="\t")]
    return seconds, counts, tasks.count("COUNT_UNIT")


def warm_page_cache(path):
    """Read a file once so that every method is timed on cached data, whichever runs first."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(name, method, runs, note=""):
    """One table row: the median of the runs, and their spread when there are several."""
    spread = f"{len(runs)} runs, {min(runs):.2f}-{max(runs):.2f} s" if len(runs) > 1 else ""
    return Timing(name, method, median(runs), ", ".join(part for part in (spread, note) if part))


def run_dataset(name, workdir, cpus, extra, with_serial, repeats):
    """Time every method on one BAM. The repeats are interleaved (pipeline, pool, whole pass, then
    again) so that a slow spell of a noisy machine does not fall on one method only."""
    bam = ensure_bam(workdir, name)
    warm_page_cache(bam)
    runs = {}
    pool_command = [sys.executable, os.path.join(HERE, "reference_pool.py"), bam]
    for _ in range(repeats):
        seconds, pipeline_counts, n_tasks = run_pipeline(bam, workdir, name, extra)
        runs.setdefault("pipeline", []).append(seconds)
        if name == "tiny":
            continue
        seconds, pool = timed([*pool_command, "--procs", str(cpus)])
        runs.setdefault("reference pool", []).append(seconds)
        if pool.stdout != pipeline_counts:
            raise RuntimeError(f"{name}: pipeline counts differ from samtools view -c per contig")
        seconds, whole = timed(["samtools", "view", "-c", "-@", str(cpus), bam])
        runs.setdefault(f"whole-file pass -@{cpus}", []).append(seconds)
    if with_serial and name != "tiny":  # minutes on grch38: once
        seconds, _ = timed([*pool_command, "--serial"])
        runs["serial loop"] = [seconds]
    notes = {"pipeline": f"{n_tasks} counting tasks"}
    if name != "tiny":
        notes["pipeline"] += ", counts identical to samtools view -c per contig"
        notes[f"whole-file pass -@{cpus}"] = f"{int(whole.stdout):,} records"
    return [summarise(name, method, seconds, notes.get(method, "")) for method, seconds in runs.items()]


def ratio_lines(timings):
    """The target ratios from the table's figures."""
    t = {(x.dataset, x.method.split(" -@")[0]): x.seconds for x in timings}
    lines = []
    for name in ("grch38_10M", "grch38_30M", "balanced24_10M"):
        if (name, "pipeline") in t and (name, "reference pool") in t:
            ratio = t[name, "pipeline"] / t[name, "reference pool"]
            lines.append(
                f"pipeline / reference pool, {name}: {ratio:.2f}" + (" (target <= 0.8)" if "grch38" in name else "")
            )
    if ("grch38_30M", "pipeline") in t and ("tiny", "pipeline") in t:
        ratio = (t["grch38_30M", "pipeline"] - t["tiny", "pipeline"]) / t["grch38_30M", "whole-file pass"]
        lines.append(f"(pipeline 30M - pipeline tiny) / whole-file pass 30M: {ratio:.2f} (target <= 1.15)")
    if ("grch38_10M", "pipeline") in t and ("balanced24_10M", "pipeline") in t:
        ratio = t["grch38_10M", "pipeline"] / t["balanced24_10M", "pipeline"]
        pool = t["grch38_10M", "reference pool"] / t["balanced24_10M", "reference pool"]
        lines.append(f"pipeline grch38_10M / balanced24_10M: {ratio:.2f} (target <= 1.15; reference pool: {pool:.1f})")
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--workdir", default=os.path.join(ROOT, ".bench"), help="BAM cache and run folders")
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument(
        "--no-serial", dest="serial", action="store_false", help="skip the serial loop (minutes on grch38)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each method (the table shows the median)")
    parser.add_argument("--pipeline-args", default="", help="extra pipeline options, e.g. '--max_units 8'")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    timings = []
    for name in args.datasets:
        timings.extend(
            run_dataset(name, args.workdir, args.cpus, shlex.split(args.pipeline_args), args.serial, args.repeats)
        )
        print(f"[bench] {name} done", flush=True)
    print(f"\n{'dataset':<16} {'method':<24} {'wall s':>8}  note")
    for x in timings:
        print(f"{x.dataset:<16} {x.method:<24} {x.seconds:>8.2f}  {x.note}")
    print()
    print("\n".join(ratio_lines(timings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
