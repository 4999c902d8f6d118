#!/usr/bin/env python3
"""Write the bundled test dataset (assets/test-data) deterministically, and the BAM writer the tests use.

The dataset: two coordinate-sorted BAMs of paired 100 bp reads over contigs whose names a pipeline must
not mangle (`:` `,` `*`), a contig with no reads, duplicates, secondary and supplementary records,
unmapped mates placed at their mate's position and fully unmapped pairs. ``test1.bam`` ships with its
index, ``test2.bam`` without (the pipeline indexes it).
"""

import argparse
import os
import random
import sys
from dataclasses import dataclass

import pysam

TEST_CONTIGS = [
    ("chr1", 400_000),
    ("chr2", 250_000),
    ("chr3:100-200", 20_000),
    ("HLA-A*01:01:01:01", 3_503),
    ("chrUn,alt", 8_000),
    ("chrEmpty", 10_000),
    ("chrM", 16_569),
]
FLAG_PAIRED, FLAG_PROPER, FLAG_UNMAPPED, FLAG_MATE_UNMAPPED = 0x1, 0x2, 0x4, 0x8
FLAG_REVERSE, FLAG_MATE_REVERSE, FLAG_READ1, FLAG_READ2 = 0x10, 0x20, 0x40, 0x80
FLAG_SECONDARY, FLAG_DUPLICATE, FLAG_SUPPLEMENTARY = 0x100, 0x400, 0x800


@dataclass
class Read:
    name: str
    flag: int
    contig: str | None  # None: unplaced
    pos: int  # 0-based; -1 when unplaced
    cigar: str | None
    mapq: int = 60
    mate_contig: str | None = None
    mate_pos: int = -1
    tlen: int = 0
    length: int = 100


def header_for(contigs):
    return {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": ln} for n, ln in contigs]}


def to_segment(read, header, rng):
    segment = pysam.AlignedSegment(header)
    segment.query_name = read.name
    segment.flag = read.flag
    segment.reference_name = read.contig
    segment.reference_start = read.pos
    segment.mapping_quality = read.mapq if read.cigar else 0
    if read.cigar:
        segment.cigarstring = read.cigar
    segment.next_reference_name = read.mate_contig
    segment.next_reference_start = read.mate_pos
    segment.template_length = read.tlen
    segment.query_sequence = "".join(rng.choice("ACGT") for _ in range(read.length))
    segment.query_qualities = pysam.qualitystring_to_array(
        "".join(chr(33 + rng.randint(2, 40)) for _ in range(read.length))
    )
    return segment


def sort_key(read, contig_order):
    return (contig_order.get(read.contig, len(contig_order)), read.pos if read.contig else 0, read.name, read.flag)


def write_bam(path, contigs, reads, seed=1, index=True):
    """Write reads (sorted here by coordinate) to a BAM; optionally index it as path.bai."""
    rng = random.Random(seed)
    contig_order = {name: i for i, (name, _) in enumerate(contigs)}
    with pysam.AlignmentFile(path, "wb", header=header_for(contigs)) as out:
        for read in sorted(reads, key=lambda r: sort_key(r, contig_order)):
            out.write(to_segment(read, out.header, rng))
    if index:
        pysam.index(path)
    return path


def random_pairs(contigs, n_pairs, rng, read_length=100, prefix="p"):
    """Paired reads with the record kinds a counter must handle. Contigs with length < 1 kb get none."""
    weights = [length for _, length in contigs]
    reads = []
    for i in range(n_pairs):
        contig, length = rng.choices(contigs, weights=weights)[0]
        if length < 1000 or contig.startswith("chrEmpty"):
            continue
        name = f"{prefix}{i:06d}"
        pos1 = rng.randrange(0, length - read_length)
        pos2 = min(length - read_length, pos1 + rng.randrange(0, 400))
        kind = rng.random()
        if kind < 0.03:  # fully unmapped pair
            reads.append(Read(name, 0x1 | 0x4 | 0x8 | 0x40, None, -1, None))
            reads.append(Read(name, 0x1 | 0x4 | 0x8 | 0x80, None, -1, None))
            continue
        if kind < 0.08:  # read 2 unmapped, placed at its mate's position
            reads.append(Read(name, 0x1 | 0x8 | 0x40, contig, pos1, f"{read_length}M", 50, contig, pos1))
            reads.append(Read(name, 0x1 | 0x4 | 0x80, contig, pos1, None, 0, contig, pos1))
            continue
        flag_extra = FLAG_DUPLICATE if kind < 0.13 else 0
        tlen = pos2 + read_length - pos1
        mapq = rng.choice([0, 3, 20, 35, 60, 60, 60])
        reads.append(
            Read(name, 0x1 | 0x2 | 0x20 | 0x40 | flag_extra, contig, pos1, f"{read_length}M", mapq, contig, pos2, tlen)
        )
        reads.append(
            Read(name, 0x1 | 0x2 | 0x10 | 0x80 | flag_extra, contig, pos2, f"{read_length}M", mapq, contig, pos1, -tlen)
        )
        if kind > 0.97:  # a secondary and a supplementary alignment elsewhere
            other, other_length = rng.choices(contigs, weights=weights)[0]
            if other_length >= 1000 and not other.startswith("chrEmpty"):
                spos = rng.randrange(0, other_length - read_length)
                reads.append(Read(name, 0x1 | 0x40 | FLAG_SECONDARY, other, spos, f"{read_length}M", 0, contig, pos2))
                reads.append(Read(name, 0x1 | 0x40 | FLAG_SUPPLEMENTARY, other, spos, "40M60S", 15, contig, pos2))
    return reads


def make_dataset(outdir, n_pairs=1500):
    os.makedirs(outdir, exist_ok=True)
    for number, index in ((1, True), (2, False)):
        rng = random.Random(number)
        path = os.path.join(outdir, f"test{number}.bam")
        write_bam(path, TEST_CONTIGS, random_pairs(TEST_CONTIGS, n_pairs, rng), seed=number, index=index)
    return outdir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-data"))
    parser.add_argument("--pairs", type=int, default=1500)
    args = parser.parse_args(argv)
    make_dataset(args.outdir, args.pairs)
    print(f"test data written to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
