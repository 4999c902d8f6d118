#!/usr/bin/env python3
"""Read a sample's regions and plan the counting work units.

Regions come from the BAM/CRAM header (@SQ lines, header order) or from a BED file. Each region
becomes one or more items; items are packed into a bounded number of work units balanced by the
expected number of reads (the index statistics give records per contig at no cost):

- a region holding more than one unit's share of the reads is split into chunks (of at most
  --split-size bp); a chunk counts the records whose leftmost position lies in it, so the chunks of a
  region add up to exactly the count of the whole region;
- a region expected to hold many reads is counted by its own ``samtools view -c``;
- small regions are batched: one samtools pass over all of them (one index load).

Outputs: ``<sample>.regions.tsv`` (one row per region, in order) and ``units/unit_NNNN.tsv``
(one file per work unit). The plan depends only on the inputs and parameters, so ``-resume`` caches.
"""

import argparse
import gzip
import logging
import math
import os
import sys
import zlib
from dataclasses import dataclass

from tsv_files import write_tsv

log = logging.getLogger("plan_units")

REGION_COLUMNS = ["region_id", "name", "contig", "start", "end", "length", "items"]
UNIT_COLUMNS = ["region_id", "contig", "start", "end", "whole", "mode", "open_end"]
# open_end 1: the item reaches past `end` to the contig's last record (a whole contig, or its last piece):
# htslib's `{name}` counts records placed past the @SQ length too.
# How an item is counted (see count_unit.py):
#   single - samtools view -c over the interval (records overlapping it); also a split region's first piece
#   chunk  - records whose leftmost position lies in the interval (the later pieces of a split region)
#   batch  - one multi-region samtools pass shared by every batch item of the unit
CHUNKS_PER_SHARE = 3
# BED header/comment lines start with these, unless their first field is a contig of the header (bed_regions).
# samtools skips such lines whatever they hold, so these contigs must never go into a batch BED (plan_items).
BED_SKIPPED_PREFIXES = ("#", "track", "browser")
GZIP_MAGIC = b"\x1f\x8b"
# bgzip ends every file with this empty block: a BGZF file cut at a block boundary lacks it, and the gzip
# module, which sees only complete members, would read the rest without a word.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


class InputError(Exception):
    """Bad input: the message names the file and the problem."""


@dataclass(frozen=True)
class Region:
    region_id: int
    name: str
    contig: str
    start: int  # 0-based, half-open
    end: int


@dataclass(frozen=True)
class Item:
    region_id: int
    contig: str
    start: int
    end: int
    mode: str
    expected_reads: float
    whole_contig: bool
    open_end: bool = False


def header_regions(contigs):
    """Whole-contig regions, in header order, from (name, length) pairs."""
    return [Region(i, name, name, 0, length) for i, (name, length) in enumerate(contigs, start=1)]


def is_bgzf(head):
    """Whether a gzip header (the first 14 bytes or more) is BGZF's: an extra field with the 'BC' subfield."""
    return len(head) >= 14 and bool(head[3] & 4) and head[12:14] == b"BC"


def read_bed_bytes(path, shown_name):
    """The lines of a BED file as bytes: plain, gzip or bgzip, told by the magic bytes (not the name)."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(18)
            compressed = head[:2] == GZIP_MAGIC
            if compressed and is_bgzf(head):
                raw.seek(max(0, os.fstat(raw.fileno()).st_size - len(BGZF_EOF)))
                if raw.read() != BGZF_EOF:
                    raise EOFError("no BGZF end-of-file block")
        with (gzip.open if compressed else open)(path, "rb") as handle:
            return list(handle)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # BadGzipFile is an OSError: caught first
        raise InputError(f"{shown_name}: truncated or corrupt gzip file ({err})") from None
    except OSError as err:
        raise InputError(f"{shown_name}: cannot read: {err.strerror or err}") from None


def bed_text_lines(lines, shown_name):
    """BED lines (bytes) as text: UTF-8, a leading byte-order mark dropped; binary data is refused."""
    text = []
    for lineno, line in enumerate(lines, start=1):
        try:
            decoded = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError:
            decoded = None
        if decoded is None or "\0" in decoded:  # NUL is valid UTF-8 but never in text
            raise InputError(f"{shown_name}: not a BED text file (line {lineno} holds binary data, not UTF-8 text)")
        text.append(decoded)
    return text


def is_bed_header(line, contig_lengths):
    """Blank, comment and track/browser lines; a line whose first field is a contig of the header is data."""
    if not line.strip():
        return True
    return line.startswith(BED_SKIPPED_PREFIXES) and line.split("\t", 1)[0] not in contig_lengths


def bed_regions(lines, contig_lengths, path):
    """Regions from BED lines (0-based, half-open). All problems are collected and raised together."""
    regions, problems = [], []
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if is_bed_header(line, contig_lengths):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            problems.append(f"line {lineno}: expected at least 3 tab-separated columns, got {len(fields)}")
            continue
        contig, start_text, end_text = fields[0], fields[1].strip(), fields[2].strip()
        if not (start_text.isdigit() and end_text.isdigit()):
            problems.append(
                f"line {lineno}: start and end must be non-negative integers, got '{start_text}', '{end_text}'"
            )
            continue
        start, end = int(start_text), int(end_text)
        if contig not in contig_lengths:
            problems.append(f"line {lineno}: contig '{contig}' is not in the BAM header")
            continue
        if start >= end:
            problems.append(f"line {lineno}: start {start} is not less than end {end}")
            continue
        if end > contig_lengths[contig]:
            problems.append(f"line {lineno}: end {end} is past the end of '{contig}' (length {contig_lengths[contig]})")
            continue
        name = fields[3].strip() if len(fields) > 3 else ""
        if name in ("", "."):  # BED's "." is "no name"
            name = f"{contig}:{start + 1}-{end}"
        regions.append(Region(len(regions) + 1, name, contig, start, end))
    if problems:
        raise InputError(f"{path}: invalid BED: " + "; ".join(problems))
    if not regions:
        raise InputError(f"{path}: BED file has no regions")
    return regions


def expected_reads(region, contig_reads, contig_lengths):
    """Reads expected in a region: the contig's indexed record count, prorated by length."""
    length = contig_lengths[region.contig]
    if length <= 0:
        return 0.0
    return contig_reads.get(region.contig, 0) * (region.end - region.start) / length


def split_region(region, split_size, reads, target_reads):
    """Chunks of a region holding more than target_reads reads, so that no unit is left with the whole
    of a busy contig: at least reads / target_reads chunks, and chunks of at most split_size bp. A region
    within target stays whole: one samtools call is cheapest."""
    length = region.end - region.start
    if split_size <= 0 or reads <= target_reads or length < 2:
        return [(region.start, region.end, reads)]
    n_chunks = min(length, max(math.ceil(reads / target_reads), math.ceil(length / split_size)))
    bounds = [region.start + length * i // n_chunks for i in range(n_chunks + 1)]
    return [(bounds[i], bounds[i + 1], reads / n_chunks) for i in range(n_chunks)]


def plan_items(regions, region_reads, contig_lengths, split_size, target_reads, batch_max_reads):
    """Turn regions (with their expected reads) into items with a counting mode and expected reads."""
    items = []
    for region, reads in zip(regions, region_reads):
        pieces = split_region(region, split_size, reads, target_reads)
        for number, (start, end, piece_reads) in enumerate(pieces):
            if number > 0:
                mode = "chunk"  # counts the reads starting in it; the first piece counts all overlapping
            elif piece_reads <= batch_max_reads and not region.contig.startswith(BED_SKIPPED_PREFIXES):
                mode = "batch"
            else:
                mode = "single"
            covers_contig = region.start == 0 and region.end == contig_lengths[region.contig]
            whole = covers_contig and len(pieces) == 1
            # Its last piece reaches as far as `{name}` does, past the length: the pieces add up to the whole.
            open_end = covers_contig and number == len(pieces) - 1
            items.append(Item(region.region_id, region.contig, start, end, mode, piece_reads, whole, open_end))
    return items


def item_cost(item, fixed_cost_reads):
    """Cost of an item in read units; every samtools call also pays a fixed cost (index load, start)."""
    return item.expected_reads + (0 if item.mode == "batch" else fixed_cost_reads)


def unit_count(total_reads, max_units, min_unit_reads):
    """How many units: enough that each holds about min_unit_reads (a task must be worth its start-up
    cost), and at most max_units."""
    if max_units < 1:
        raise ValueError("max_units must be at least 1")
    wanted = math.ceil(total_reads / min_unit_reads) if min_unit_reads > 0 else max_units
    return max(1, min(max_units, wanted))


def pack_units(items, n_units, fixed_cost_reads):
    """Greedy longest-first packing into n_units units, balanced by cost. Deterministic.

    Units are returned with their items in plan (region) order and numbered by first item.
    """
    order = sorted(range(len(items)), key=lambda i: (-item_cost(items[i], fixed_cost_reads), i))
    loads = [0.0] * n_units
    members = [[] for _ in range(n_units)]
    for i in order:
        target = min(range(n_units), key=lambda u: (loads[u], u))
        loads[target] += item_cost(items[i], fixed_cost_reads)
        members[target].append(i)
    units = [[items[i] for i in sorted(m)] for m in members if m]
    return sorted(units, key=lambda unit: items.index(unit[0]))


def region_rows(regions, items):
    """Rows of the regions table: each region with the number of items that count it."""
    n_items = {}
    for item in items:
        n_items[item.region_id] = n_items.get(item.region_id, 0) + 1
    return [[r.region_id, r.name, r.contig, r.start, r.end, r.end - r.start, n_items[r.region_id]] for r in regions]


def read_alignment_header(path, index, reference, shown_name):
    """(contigs as (name, length) in header order, records per contig from the index)."""
    try:
        import pysam
    except ImportError:
        message = "pysam is not installed: run `make setup` and activate .venv, or use -profile conda/docker"
        raise InputError(message) from None
    try:  # mode "r": htslib tells BAM from CRAM by the content
        with pysam.AlignmentFile(path, "r", index_filename=index, reference_filename=reference, check_sq=False) as aln:
            contigs = list(zip(aln.references, aln.lengths))
            try:
                reads = {s.contig: s.total for s in aln.get_index_statistics()}
            except (ValueError, AttributeError):
                reads = {}  # CRAM indexes have no per-contig counts: fall back to length only
    except (ValueError, OSError) as err:
        raise InputError(f"{shown_name}: cannot read as BAM/CRAM: {err}") from None
    return contigs, reads


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alignments", required=True, help="BAM or CRAM file")
    parser.add_argument("--index", help="its index (.bai/.crai)")
    parser.add_argument("--reference", help="FASTA reference (CRAM)")
    parser.add_argument("--bed", help="BED file of regions (default: every @SQ contig)")
    # User file names may start with '-': pass them as --bed-name=NAME, which argparse never reads as an option.
    parser.add_argument("--bed-name", help="BED file name to use in messages (default: --bed)")
    parser.add_argument("--input-name", help="file name to use in messages (default: --alignments)")
    parser.add_argument("--sample", required=True)
    parser.add_argument(
        "--split-size", type=int, default=0, help="max chunk length when a busy region is split (0: never)"
    )
    parser.add_argument("--max-units", type=int, default=16, help="upper bound on work units for this sample")
    parser.add_argument(
        "--batch-max-reads",
        type=float,
        default=20000,
        help="regions expected to hold at most this many reads are batched",
    )
    parser.add_argument(
        "--min-unit-reads",
        type=float,
        default=1_000_000,
        help="fewer units for small inputs: about this many reads each",
    )
    parser.add_argument("--fixed-cost-reads", type=float, default=50000, help="cost of one samtools call, in reads")
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    shown_name = args.input_name or args.alignments
    try:
        contigs, contig_reads = read_alignment_header(args.alignments, args.index, args.reference, shown_name)
        if not contigs:
            raise InputError(f"{shown_name}: the header has no @SQ lines (no reference sequences to count on)")
        contig_lengths = dict(contigs)
        if args.bed:
            bed_name = args.bed_name or args.bed
            lines = bed_text_lines(read_bed_bytes(args.bed, bed_name), bed_name)
            regions = bed_regions(lines, contig_lengths, bed_name)
        else:
            regions = header_regions(contigs)
    except InputError as err:
        log.error("%s", err)
        return 2
    if not contig_reads:
        # No index statistics (CRAM indexes have none): guess reads from length, one per 100 bp.
        contig_reads = {name: length / 100 for name, length in contigs}
    region_reads = [expected_reads(region, contig_reads, contig_lengths) for region in regions]
    n_units = unit_count(sum(region_reads), args.max_units, args.min_unit_reads)
    # Chunks of at most a third of a unit's share keep the packing within ~1.33x of perfect balance
    # (greedy packing ends within one item of the mean); one unit needs no chunks at all.
    target_reads = sum(region_reads) / n_units / CHUNKS_PER_SHARE if n_units > 1 else math.inf
    items = plan_items(regions, region_reads, contig_lengths, args.split_size, target_reads, args.batch_max_reads)
    units = pack_units(items, min(n_units, len(items)), args.fixed_cost_reads)
    os.makedirs(os.path.join(args.outdir, "units"), exist_ok=True)
    write_tsv(os.path.join(args.outdir, f"{args.sample}.regions.tsv"), REGION_COLUMNS, region_rows(regions, items))
    for number, unit in enumerate(units, start=1):
        rows = [[i.region_id, i.contig, i.start, i.end, int(i.whole_contig), i.mode, int(i.open_end)] for i in unit]
        write_tsv(os.path.join(args.outdir, "units", f"unit_{number:04d}.tsv"), UNIT_COLUMNS, rows)
    log.info("%s: %d regions, %d items, %d work units", args.sample, len(regions), len(items), len(units))
    return 0


if __name__ == "__main__":
    sys.exit(main())
