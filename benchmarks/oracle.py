#!/usr/bin/env python3
"""An exactness oracle for region counts: htslib's own region iterator, one query per region, via pysam.

``AlignmentFile.count(contig, start, end, read_callback="nofilter")`` (0-based, half-open) returns what
``samtools view -c BAM '{contig}:start+1-end'`` prints: every record the index iterator yields for the
region, unmapped-but-placed, secondary, supplementary, duplicate and QC-fail records included. Nothing
is cached: each call counts the BAM again. ``validate`` checks that claim against the real
``samtools view -c`` on a random sample of regions plus probes at the edges of special reads (run_bench
does this on every run); ``compare_counts_tsv`` and ``compare_count_txt`` check the pipeline's
``<sample>.counts.tsv`` and ``<sample>_count.txt`` against the oracle, region by region in BED order.

Standalone (prints ``region<TAB>length<TAB>count`` as the pipeline's counts.tsv, header included)::

    benchmarks/oracle.py BAM BED [--procs 2] [--validate 50]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import subprocess
import sys
from collections.abc import Sequence

import pysam

Interval = tuple[str, int, int]  # contig, 0-based start, end (half-open)


class Mismatch(RuntimeError):
    """The pipeline's counts, or the oracle, disagree with the reference."""


def region_string(contig: str, start: int, end: int) -> str:
    """samtools' 1-based inclusive region text; ``{contig}`` when the name holds a ':'."""
    name = f"{{{contig}}}" if ":" in contig else contig
    return f"{name}:{start + 1}-{end}"


def _count_chunk(task: tuple[str, Sequence[Interval]]) -> list[int]:
    bam, intervals = task
    with pysam.AlignmentFile(bam) as aln:  # one open file, one index load, per process
        count = aln.count
        return [count(contig, start, end, read_callback="nofilter") for contig, start, end in intervals]


def oracle_counts(bam: str, intervals: Sequence[Interval], procs: int = 2) -> list[int]:
    """The count of every interval, in order; ``procs`` processes each take one contiguous slice."""
    intervals = list(intervals)
    procs = max(1, min(procs, len(intervals) // 1000 or 1))
    if procs == 1:
        return _count_chunk((bam, intervals))
    step = -(-len(intervals) // procs)
    tasks = [(bam, intervals[i : i + step]) for i in range(0, len(intervals), step)]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        return [n for part in pool.map(_count_chunk, tasks) for n in part]


def samtools_count(bam: str, interval: Interval, samtools: str = "samtools") -> int:
    """``samtools view -c BAM REGION`` for one interval."""
    result = subprocess.run(
        [samtools, "view", "-c", bam, region_string(*interval)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or result.stderr.strip():
        raise Mismatch(f"samtools view -c {bam} {region_string(*interval)} failed: {result.stderr.strip()}")
    return int(result.stdout)


def probe_intervals(bam: str, limit: int = 4) -> list[Interval]:
    """Intervals at the edges of special records (unmapped but placed, secondary, supplementary,
    duplicate, spliced/deleted): the first and last base of each, and the bases just outside it."""
    wanted = {"unmapped-placed": [], "secondary": [], "supplementary": [], "duplicate": [], "indel": []}
    with pysam.AlignmentFile(bam) as aln:
        for read in aln.fetch(until_eof=True):
            if read.reference_id < 0:
                break
            kinds = []
            if read.is_unmapped:
                kinds.append("unmapped-placed")
            if read.is_secondary:
                kinds.append("secondary")
            if read.is_supplementary:
                kinds.append("supplementary")
            if read.is_duplicate:
                kinds.append("duplicate")
            if not read.is_unmapped and any(op in (1, 2, 3) for op, _ in read.cigartuples or ()):
                kinds.append("indel")
            for kind in kinds:
                if len(wanted[kind]) < limit:
                    wanted[kind].append(read)
            if all(len(v) >= limit for v in wanted.values()):
                break
        intervals: list[Interval] = []
        for reads in wanted.values():
            for read in reads:
                contig = read.reference_name
                start = read.reference_start
                end = read.reference_end if read.reference_end is not None else start + 1
                for a, b in ((start, start + 1), (end - 1, end), (max(0, start - 10), start), (end, end + 10)):
                    if a < b:
                        intervals.append((contig, a, b))
    return intervals


def validate(
    bam: str,
    intervals: Sequence[Interval],
    counts: Sequence[int],
    sample: int = 50,
    rng: random.Random | None = None,
    samtools: str = "samtools",
    probes: bool = True,
) -> int:
    """Check the oracle against ``samtools view -c`` on ``sample`` random intervals (and, with ``probes``,
    at the edges of special reads); raise Mismatch on any difference. Returns the number checked."""
    rng = rng or random.Random()
    picked = rng.sample(range(len(intervals)), min(sample, len(intervals)))
    pairs = [(intervals[i], counts[i]) for i in picked]
    if probes:
        extra = probe_intervals(bam)
        pairs += list(zip(extra, oracle_counts(bam, extra, procs=1)))
    for interval, expected in pairs:
        got = samtools_count(bam, interval, samtools)
        if got != expected:
            raise Mismatch(
                f"oracle (pysam count) says {expected} but samtools view -c says {got} for "
                f"{region_string(*interval)} in {bam}: the oracle is not samtools' semantics"
            )
    return len(pairs)


def _describe(differences: list[str], total: int, what: str) -> str:
    shown = "\n  ".join(differences[:10])
    more = f"\n  ... and {len(differences) - 10} more" if len(differences) > 10 else ""
    return f"{what}: {len(differences)} of {total} regions differ from the oracle:\n  {shown}{more}"


def compare_counts_tsv(path: str, regions: Sequence[tuple[str, int, int, str]], counts: Sequence[int]) -> None:
    """Check ``<sample>.counts.tsv`` (header region, length, count; BED order) row by row."""
    with open(path) as handle:
        lines = handle.read().splitlines()
    if not lines or lines[0].split("\t") != ["region", "length", "count"]:
        raise Mismatch(f"{path}: header is {lines[:1]}, expected region, length, count")
    rows = [line.split("\t") for line in lines[1:]]
    if len(rows) != len(regions):
        raise Mismatch(f"{path}: {len(rows)} rows for {len(regions)} BED regions")
    differences = []
    for i, (row, (contig, start, end, name), count) in enumerate(zip(rows, regions, counts), 1):
        expected = [name or f"{contig}:{start}-{end}", str(end - start), str(count)]
        if row != expected:
            differences.append(f"BED line {i} {contig}:{start}-{end}: pipeline {row}, oracle {expected}")
    if differences:
        raise Mismatch(_describe(differences, len(regions), path))


def compare_count_txt(path: str, regions: Sequence[tuple[str, int, int, str]], counts: Sequence[int]) -> None:
    """Check ``<sample>_count.txt`` (``Region <name>: <count>`` per region, then ``Total reads: <sum>``)."""
    with open(path) as handle:
        lines = handle.read().splitlines()
    expected = [f"Region {name or f'{c}:{s}-{e}'}: {n}" for (c, s, e, name), n in zip(regions, counts)]
    expected.append(f"Total reads: {sum(counts)}")
    if len(lines) != len(expected):
        raise Mismatch(f"{path}: {len(lines)} lines, expected {len(expected)} ({len(regions)} regions + total)")
    differences = [
        f"line {i}: pipeline {a!r}, oracle {b!r}" for i, (a, b) in enumerate(zip(lines, expected), 1) if a != b
    ]
    if differences:
        raise Mismatch(_describe(differences, len(expected), path))


def read_bed(path: str) -> list[tuple[str, int, int, str]]:
    """(contig, start, end, name) of a plain BED file ('' when it has no name column)."""
    regions = []
    with open(path) as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if not line.strip() or fields[0].startswith(("#", "track", "browser")):
                continue
            name = fields[3] if len(fields) > 3 and fields[3] not in ("", ".") else ""
            regions.append((fields[0], int(fields[1]), int(fields[2]), name))
    return regions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bam")
    parser.add_argument("bed")
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--validate", type=int, default=50, help="regions checked against samtools view -c")
    args = parser.parse_args(argv)
    regions = read_bed(args.bed)
    intervals = [(c, s, e) for c, s, e, _ in regions]
    counts = oracle_counts(args.bam, intervals, args.procs)
    try:
        checked = validate(args.bam, intervals, counts, args.validate)
    except Mismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"oracle agrees with samtools view -c on {checked} regions", file=sys.stderr)
    out = ["region\tlength\tcount\n"]
    out += [f"{n or f'{c}:{s}-{e}'}\t{e - s}\t{k}\n" for (c, s, e, n), k in zip(regions, counts)]
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
