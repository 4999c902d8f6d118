#!/usr/bin/env python3
"""Count BAM records per contig the way users often do by hand: one ``samtools view -c`` per contig.

Contig names come from the ``SN:`` fields of ``samtools view -H``.  Each contig is counted by a separate
``samtools view -c BAM CONTIG`` process, run from a ``multiprocessing.Pool`` (or a plain loop with
``--serial``).  A contig name containing ``:`` is passed as ``{name}`` so that samtools does not read
it as a ``name:start-end`` range (``HLA-A*01:01:01:01`` style names).  Every exit code is checked.

Output: one ``Region <name>: <count>`` line per contig in header order, then ``Total reads: <sum>``.
Records with no contig (RNAME ``*``) are not counted, as with any region query.

Example::

    benchmarks/reference_pool.py /tmp/bench/grch38_1M.bam --procs 2 --samtools-args "-F 0x904 -q 20"
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CountResult:
    """The outcome of counting one contig."""

    name: str
    count: int | None
    returncode: int
    stderr: str


def parse_contig_names(header: str) -> list[str]:
    """Return the ``SN:`` values of the ``@SQ`` lines of a SAM header, in order."""
    names = []
    for line in header.splitlines():
        if not line.startswith("@SQ\t"):
            continue
        for field in line.split("\t")[1:]:
            if field.startswith("SN:"):
                names.append(field[3:])
                break
    return names


def region_arg(name: str) -> str:
    """Return the region argument selecting a whole contig (``{name}`` if the name contains ':')."""
    return f"{{{name}}}" if ":" in name else name


def count_command(samtools: str, bam: str, name: str, extra_args: Sequence[str]) -> list[str]:
    """Return the argv counting the records of one contig."""
    return [samtools, "view", "-c", *extra_args, bam, region_arg(name)]


def read_header(samtools: str, bam: str) -> str:
    """Return the SAM header text of a BAM file (raises CalledProcessError on failure)."""
    return subprocess.run([samtools, "view", "-H", bam], check=True, capture_output=True, text=True).stdout


def count_contig(task: tuple[str, str, str, tuple[str, ...]]) -> CountResult:
    """Run ``samtools view -c`` for one contig; task is (samtools, bam, contig name, extra args)."""
    samtools, bam, name, extra_args = task
    proc = subprocess.run(count_command(samtools, bam, name, extra_args), capture_output=True, text=True)
    count = None
    if proc.returncode == 0:
        try:
            count = int(proc.stdout.strip())
        except ValueError:
            count = None
    return CountResult(name, count, proc.returncode, proc.stderr.strip())


def count_all(tasks: list[tuple[str, str, str, tuple[str, ...]]], procs: int, serial: bool) -> list[CountResult]:
    """Count every contig, in a process pool or (``serial``) in a plain loop; results keep task order."""
    if serial:
        return [count_contig(task) for task in tasks]
    with multiprocessing.Pool(procs) as pool:
        return pool.map(count_contig, tasks)


def failures(results: Iterable[CountResult]) -> list[CountResult]:
    """Return the results whose samtools run failed or printed no integer."""
    return [r for r in results if r.returncode != 0 or r.count is None]


def format_report(results: Iterable[CountResult]) -> str:
    """Return the ``Region <name>: <count>`` lines followed by ``Total reads: <sum>``."""
    lines = []
    total = 0
    for r in results:
        lines.append(f"Region {r.name}: {r.count}")
        total += r.count or 0
    lines.append(f"Total reads: {total}")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bam", help="coordinate-sorted, indexed BAM")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="pool size [all CPUs]")
    parser.add_argument("--serial", action="store_true", help="count contigs one after another in this process")
    parser.add_argument("--samtools-args", default="", help="extra samtools view options, e.g. '-F 0x904 -q 20'")
    parser.add_argument("--samtools", default="samtools", help="samtools executable")
    args = parser.parse_args(argv)
    if args.procs < 1:
        parser.error("--procs must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Count records per contig and print the report; exit 1 if any samtools call failed."""
    args = parse_args(argv)
    extra = tuple(shlex.split(args.samtools_args))
    try:
        names = parse_contig_names(read_header(args.samtools, args.bam))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        print(f"error: cannot read header of {args.bam}: {detail.strip()}", file=sys.stderr)
        return 1
    tasks = [(args.samtools, args.bam, name, extra) for name in names]
    results = count_all(tasks, args.procs, args.serial)
    failed = failures(results)
    for r in failed:
        print(f"error: samtools view -c failed for {r.name} (exit {r.returncode}): {r.stderr}", file=sys.stderr)
    if failed:
        return 1
    sys.stdout.write(format_report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
