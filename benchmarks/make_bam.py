#!/usr/bin/env python3
"""Generate realistic, deterministic, coordinate-sorted and indexed BAM files for benchmarks.

Two header layouts are available:

* ``grch38``: a GRCh38-like header (hs38DH style) of exactly 3,366 ``@SQ`` lines: the 25 primary
  sequences with their real lengths, unlocalized ``*_random`` and unplaced ``chrUn_*`` contigs,
  ``chrEBV``, ``*_alt`` contigs, ``chrUn_JTFH*_decoy`` contigs and HLA allele contigs such as
  ``HLA-A*01:01:01:01`` (names containing ``*`` and ``:``).  Most reads land on the primary
  chromosomes in proportion to their length; a small share is spread over the small contigs so that
  thousands of them hold a few reads and some hold none.
* ``balanced24``: 24 equal contigs (chr1..chr22, chrX, chrY) with reads spread evenly.

Records are paired 150 bp reads with random SEQ and Illumina-like QUAL, proper-pair flags, mate fields
and TLEN, a MAPQ spread over 0-60, duplicates (0x400), discordant pairs, pairs whose mates lie on
different contigs, secondary (0x100) and supplementary (0x800) records, unmapped mates placed at their
mate's position and a few fully unmapped pairs (RNAME ``*``) at the end.

SAM text is generated in coordinate order (per-contig sorted positions plus a small heap for mates)
and streamed into ``samtools view -b``.  The contigs are cut into a fixed number of parts that
``--jobs`` processes write in parallel; ``samtools cat`` joins them and ``samtools index`` indexes the
result.  The output depends only on ``--layout``, ``--records``, ``--seed`` and ``--level`` (each
contig has its own random stream, the part cut is fixed), so it is byte-for-byte reproducible.
``--out -`` writes the same records as SAM text to stdout instead.

Example::

    benchmarks/make_bam.py --layout grch38 --records 1000000 --seed 1 --out /tmp/bench/grch38_1M.bam
"""

from __future__ import annotations

import argparse
import bisect
import functools
import heapq
import itertools
import math
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

READ_LEN = 150
MIN_CONTIG_LEN = 1_000
MIN_PROPER_INSERT = 160  # > the longest reference span of a read, so mates never start left of pos
MAX_PROPER_INSERT = 800
POOL_LEN = 1 << 22
READ_GROUP = "bench1"
NAME_PREFIX = "SIM:1:HBNCHDSXX:1:"
CHUNK_LINES = 20_000
N_PARTS = 8  # BAM parts generated independently and joined with samtools cat (fixed: output bytes stay the same)

# Fractions of the generated data (all deterministic given the seed).
UNPLACED_PAIR_FRACTION = 0.002  # fully unmapped pairs at the end of the file (RNAME '*')
EXTRA_FRACTION = 0.02  # secondary + supplementary records among placed records
SECONDARY_SHARE = 0.5  # share of the extra records that are secondary (rest are supplementary)
DUP_RATE = 0.04  # pairs marked as PCR/optical duplicates
MATE_UNMAPPED_RATE = 0.006  # pairs whose second read is unmapped and placed at its mate
DISCORDANT_RATE = 0.01  # pairs without the proper-pair flag
INTERCONTIG_RATE = 0.008  # pairs whose mates lie on different contigs
CHRM_SHARE = 0.003  # chrM gets far more reads than its length suggests
SMALL_CONTIG_SHARE = 0.03  # share of pairs on the non-primary GRCh38 contigs
SMALL_CONTIG_EMPTY = 0.12  # share of non-primary contigs that get no reads at all

GRCH38_PRIMARY: tuple[tuple[str, int], ...] = (
    ("chr1", 248_956_422),
    ("chr2", 242_193_529),
    ("chr3", 198_295_559),
    ("chr4", 190_214_555),
    ("chr5", 181_538_259),
    ("chr6", 170_805_979),
    ("chr7", 159_345_973),
    ("chr8", 145_138_636),
    ("chr9", 138_394_717),
    ("chr10", 133_797_422),
    ("chr11", 135_086_622),
    ("chr12", 133_275_309),
    ("chr13", 114_364_328),
    ("chr14", 107_043_718),
    ("chr15", 101_991_189),
    ("chr16", 90_338_345),
    ("chr17", 83_257_441),
    ("chr18", 80_373_285),
    ("chr19", 58_617_616),
    ("chr20", 64_444_167),
    ("chr21", 46_709_983),
    ("chr22", 50_818_468),
    ("chrX", 156_040_895),
    ("chrY", 57_227_415),
    ("chrM", 16_569),
)
GRCH38_CONTIG_COUNT = 3_366
# Unlocalized (chrN_*_random) contigs per chromosome: 42 in total, as in GRCh38.
GRCH38_RANDOM_PER_CHROM: tuple[tuple[str, int], ...] = (
    ("chr1", 9),
    ("chr2", 2),
    ("chr3", 1),
    ("chr4", 1),
    ("chr5", 1),
    ("chr9", 4),
    ("chr11", 1),
    ("chr14", 3),
    ("chr15", 1),
    ("chr16", 3),
    ("chr17", 5),
    ("chr22", 10),
    ("chrY", 1),
)
GRCH38_UNPLACED = 127
GRCH38_ALT = 261
GRCH38_HLA = 525
GRCH38_DECOY = GRCH38_CONTIG_COUNT - len(GRCH38_PRIMARY) - 42 - GRCH38_UNPLACED - 1 - GRCH38_ALT - GRCH38_HLA
HLA_GENES: tuple[tuple[str, int], ...] = (
    ("A", 90),
    ("B", 120),
    ("C", 95),
    ("DQA1", 40),
    ("DQB1", 70),
    ("DRB1", 110),
)
BALANCED24_NAMES = tuple(f"chr{i}" for i in range(1, 23)) + ("chrX", "chrY")

# Proper-pair flag pairs: (leftmost read flag, rightmost read flag).
PROPER_FLAGS = ((99, 147), (163, 83))
DISCORDANT_FLAGS = ((97, 145), (161, 81), (65, 129), (113, 177))


class CigarChoice(NamedTuple):
    """A CIGAR string, its reference span and its pre-formatted ``NM``/``AS`` tags."""

    cigar: str
    ref_span: int
    score_tags: str


@dataclass(frozen=True)
class Pools:
    """Pre-generated random material that per-record code slices cheaply."""

    seq: str
    qual: str
    cigars: tuple[CigarChoice, ...]
    mapqs: tuple[int, ...]
    inserts: tuple[int, ...]


@dataclass(frozen=True)
class ContigPlan:
    """What goes on one contig: pairs, extra (secondary/supplementary) records and inter-contig mates.

    ``foreign`` holds the ends of pairs whose mate lies on another contig, as
    (pos, name, flag, cigar, mapq, mate contig, mate pos, mate cigar, mate mapq) tuples.
    """

    index: int
    name: str
    length: int
    pairs: int
    extras: int
    first_pair_id: int
    foreign: tuple[tuple[int, str, int, CigarChoice, int, str, int, str, int], ...] = ()

    @property
    def records(self) -> int:
        """Number of records this contig holds."""
        return 2 * self.pairs + self.extras + len(self.foreign)


# --------------------------------------------------------------------------------------------------
# Header layouts
# --------------------------------------------------------------------------------------------------


def log_uniform_int(rng: random.Random, low: int, high: int) -> int:
    """Return an integer drawn log-uniformly from [low, high]."""
    return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))


def hla_allele_names(rng: random.Random) -> list[str]:
    """Return GRCH38_HLA unique, sorted IMGT-style allele names such as ``HLA-A*01:01:01:01``."""
    names: list[str] = []
    for gene, count in HLA_GENES:
        alleles: set[str] = set()
        while len(alleles) < count:
            group = rng.randint(1, 80)
            protein = rng.randint(1, 60)
            fields = rng.choices((2, 3, 4), weights=(2, 3, 5))[0]
            name = f"{group:02d}:{protein:02d}"
            if fields >= 3:
                name += f":{rng.randint(1, 12):02d}"
            if fields == 4:
                name += f":{rng.randint(1, 9):02d}"
            if rng.random() < 0.04:
                name += rng.choice("NLQ")
            alleles.add(name)
        names.extend(f"HLA-{gene}*{allele}" for allele in sorted(alleles))
    return names


def grch38_contigs() -> list[tuple[str, int]]:
    """Return the fixed GRCh38-like (hs38DH style) contig list of exactly 3,366 (name, length) pairs.

    Names and lengths of the non-primary contigs are synthetic but follow the real naming schemes and
    size ranges; the list does not depend on the read seed.
    """
    rng = random.Random("grch38-header-v1")
    accessions = iter(rng.sample(range(270_000, 271_000), 42 + GRCH38_UNPLACED + GRCH38_ALT))
    chrom_rank = {name: rank for rank, (name, _) in enumerate(GRCH38_PRIMARY)}
    contigs = list(GRCH38_PRIMARY)
    for chrom, count in GRCH38_RANDOM_PER_CHROM:
        for _ in range(count):
            contigs.append((f"{chrom}_KI{next(accessions)}v1_random", log_uniform_int(rng, 2_000, 200_000)))
    for _ in range(GRCH38_UNPLACED):
        prefix = "GL000" if rng.random() < 0.2 else "KI"
        number = next(accessions) % 1000 if prefix == "GL000" else next(accessions)
        contigs.append((f"chrUn_{prefix}{number:03d}v1", log_uniform_int(rng, MIN_CONTIG_LEN, 180_000)))
    contigs.append(("chrEBV", 171_823))
    alts = []
    for _ in range(GRCH38_ALT):
        chrom = rng.choice(GRCH38_PRIMARY[:24])[0]
        length = log_uniform_int(rng, 4_000, 600_000)
        if chrom == "chr6" and rng.random() < 0.5:  # MHC alternate haplotypes are megabases long
            length = rng.randint(4_600_000, 5_000_000)
        alts.append((chrom_rank[chrom], f"{chrom}_KI{next(accessions)}v1_alt", length))
    contigs.extend((name, length) for _, name, length in sorted(alts))
    for number in range(1, GRCH38_DECOY + 1):
        contigs.append((f"chrUn_JTFH01{number:06d}_decoy", log_uniform_int(rng, MIN_CONTIG_LEN, 60_000)))
    for name in hla_allele_names(rng):
        contigs.append((name, rng.randint(MIN_CONTIG_LEN, 7_500)))
    return contigs


def balanced24_contigs(length: int = 100_000_000) -> list[tuple[str, int]]:
    """Return 24 equal-length contigs chr1..chr22, chrX, chrY."""
    return [(name, length) for name in BALANCED24_NAMES]


def layout_contigs(layout: str) -> list[tuple[str, int]]:
    """Return the (name, length) list for a layout name."""
    if layout == "grch38":
        return grch38_contigs()
    if layout == "balanced24":
        return balanced24_contigs()
    raise ValueError(f"unknown layout: {layout}")


def sam_header(contigs: Sequence[tuple[str, int]]) -> str:
    """Return the SAM header text (@HD, @SQ lines, @RG, @PG) for a contig list."""
    lines = ["@HD\tVN:1.6\tSO:coordinate"]
    lines.extend(f"@SQ\tSN:{name}\tLN:{length}" for name, length in contigs)
    lines.append(f"@RG\tID:{READ_GROUP}\tSM:BENCH\tLB:lib1\tPL:ILLUMINA\tPU:HBNCHDSXX.1")
    lines.append("@PG\tID:make_bam\tPN:make_bam.py\tVN:1")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------
# Read allocation
# --------------------------------------------------------------------------------------------------


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder method)."""
    weight_sum = float(sum(weights))
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    exact = [total * w / weight_sum for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def weighted_counts(rng: random.Random, total: int, weights: Sequence[float]) -> list[int]:
    """Draw ``total`` items into bins with probabilities proportional to ``weights`` (multinomial)."""
    counts = [0] * len(weights)
    if total <= 0 or not weights:
        return counts
    cum = list(itertools.accumulate(weights))
    for i in rng.choices(range(len(weights)), cum_weights=cum, k=total):
        counts[i] += 1
    return counts


def split_records(n_records: int) -> tuple[int, int, int]:
    """Split a record budget into (placed pairs, extra records, unplaced pairs); sums back exactly."""
    unplaced_pairs = int(n_records * UNPLACED_PAIR_FRACTION / 2) if n_records >= 1_000 else 0
    placed = n_records - 2 * unplaced_pairs
    extras = int(placed * EXTRA_FRACTION)
    if (placed - extras) % 2:
        extras += 1
    return (placed - extras) // 2, extras, unplaced_pairs


def pair_weights(layout: str, contigs: Sequence[tuple[str, int]], rng: random.Random) -> list[float]:
    """Return per-contig weights for placing read pairs under a layout."""
    if layout != "grch38":
        return [float(length) for _, length in contigs]
    primary_total = sum(length for name, length in GRCH38_PRIMARY if name != "chrM")
    main_share = 1.0 - SMALL_CONTIG_SHARE - CHRM_SHARE
    weights: list[float] = []
    small: list[float] = []
    for index, (name, length) in enumerate(contigs):
        if index < len(GRCH38_PRIMARY):
            share = CHRM_SHARE if name == "chrM" else main_share * length / primary_total
            weights.append(share)
            small.append(0.0)
        else:
            weights.append(0.0)
            small.append(0.0 if rng.random() < SMALL_CONTIG_EMPTY else math.sqrt(length))
    small_total = sum(small)
    return [w + SMALL_CONTIG_SHARE * s / small_total for w, s in zip(weights, small)]


def intercontig_ends(
    rng: random.Random, contigs: Sequence[tuple[str, int]], weights: Sequence[float], n_pairs: int
) -> list[list[tuple[int, str, int, CigarChoice, int, str, int, str, int]]]:
    """Draw ``n_pairs`` pairs whose two reads lie on different contigs; return the ends per contig."""
    ends: list[list[tuple[int, str, int, CigarChoice, int, str, int, str, int]]] = [[] for _ in contigs]
    if n_pairs == 0 or sum(1 for w in weights if w > 0) < 2:
        return ends
    cum = list(itertools.accumulate(weights))
    cigars, mapqs = cigar_choices(), mapq_table()
    for k in range(n_pairs):
        x, y = rng.choices(range(len(contigs)), cum_weights=cum, k=2)
        while x == y:
            y = rng.choices(range(len(contigs)), cum_weights=cum)[0]
        (x_name, x_len), (y_name, y_len) = contigs[x], contigs[y]
        x_pos, y_pos = rng.randint(1, x_len - READ_LEN + 1), rng.randint(1, y_len - READ_LEN + 1)
        x_rev, y_rev = rng.random() < 0.5, rng.random() < 0.5
        x_cig, y_cig = rng.choice(cigars), rng.choice(cigars)
        x_q, y_q = rng.choice(mapqs), rng.choice(mapqs)
        x_flag = 1 | 64 | (16 if x_rev else 0) | (32 if y_rev else 0)
        y_flag = 1 | 128 | (16 if y_rev else 0) | (32 if x_rev else 0)
        name = f"{NAME_PREFIX}c{k}"
        ends[x].append((x_pos, name, x_flag, x_cig, x_q, y_name, y_pos, y_cig.cigar, y_q))
        ends[y].append((y_pos, name, y_flag, y_cig, y_q, x_name, x_pos, x_cig.cigar, x_q))
    return ends


def plan_contigs(layout: str, contigs: Sequence[tuple[str, int]], n_records: int, seed: int) -> list[ContigPlan]:
    """Decide deterministically how many pairs and extra records each contig receives."""
    rng = random.Random(f"{seed}:plan")
    n_pairs, n_extras, _ = split_records(n_records)
    weights = pair_weights(layout, contigs, rng)
    n_inter = int(n_pairs * INTERCONTIG_RATE)
    n_local = n_pairs - n_inter
    if layout == "grch38":
        n_primary = len(GRCH38_PRIMARY)
        main_pairs = round(n_local * sum(weights[:n_primary]))
        pairs = apportion(main_pairs, weights[:n_primary])
        pairs += weighted_counts(rng, n_local - main_pairs, weights[n_primary:])
    else:
        pairs = apportion(n_local, weights)
    extras = weighted_counts(rng, n_extras, pairs if any(pairs) else weights)
    foreign = intercontig_ends(rng, contigs, weights, n_inter)
    plans = []
    first = 0
    for index, ((name, length), n_p, n_x) in enumerate(zip(contigs, pairs, extras)):
        plans.append(ContigPlan(index, name, length, n_p, n_x, first, tuple(sorted(foreign[index]))))
        first += n_p + n_x
    return plans


# --------------------------------------------------------------------------------------------------
# Record generation
# --------------------------------------------------------------------------------------------------


def quality_pool(rng: random.Random, n: int) -> str:
    """Return ``n`` Phred+33 quality characters from a Markov chain (Illumina-like, not binned).

    Qualities mostly sit at Q30-41 and change by one step at a time, with occasional dips to
    Q2-20 that recover gradually, so runs are correlated and compress like real data.
    """
    rnd = rng.random
    q = 37
    out = bytearray(n)
    for i in range(n):
        r = rnd()
        if r < 0.62:
            pass
        elif r < 0.80:
            q = min(41, q + (3 if q < 25 else 1))
        elif r < 0.955:
            q = max(2, q - 1)
        elif r < 0.996:
            q = 30 + int(rnd() * 12)
        else:
            q = 2 + int(rnd() * 19)
        out[i] = 33 + q
    return out.decode()


def cigar_choice(cigar: str, ref_span: int, nm: int) -> CigarChoice:
    """Return a CigarChoice with NM and a bwa-like alignment score (AS) pre-formatted."""
    return CigarChoice(cigar, ref_span, f"NM:i:{nm}\tAS:i:{ref_span - 5 * nm}")


def cigar_choices() -> tuple[CigarChoice, ...]:
    """Return a weighted 128-entry table of 150-query-base CIGARs (mostly 150M, some clips and indels)."""
    table = [cigar_choice(f"{READ_LEN}M", READ_LEN, 0)] * 108
    table += [cigar_choice(f"{READ_LEN}M", READ_LEN, nm) for nm in (1, 1, 1, 2, 2, 3, 4, 5)]
    for clip in (3, 12, 27, 45):
        table.append(cigar_choice(f"{clip}S{READ_LEN - clip}M", READ_LEN - clip, 0))
        table.append(cigar_choice(f"{READ_LEN - clip}M{clip}S", READ_LEN - clip, 1))
    table.append(cigar_choice(f"71M2D{READ_LEN - 71}M", READ_LEN + 2, 2))
    table.append(cigar_choice(f"40M1D{READ_LEN - 40}M", READ_LEN + 1, 1))
    table.append(cigar_choice(f"95M3I{READ_LEN - 98}M", READ_LEN - 3, 3))
    table.append(cigar_choice(f"120M1I{READ_LEN - 121}M", READ_LEN - 1, 2))
    assert len(table) == 128
    return tuple(table)


def mapq_table() -> tuple[int, ...]:
    """Return a 1024-entry MAPQ table: ~86% MAPQ 60, ~4% MAPQ 0, the rest spread over 1-59."""
    table = [60] * 880 + [0] * 40
    table += [1 + (i * 37) % 59 for i in range(1024 - len(table))]
    return tuple(table)


def insert_table(rng: random.Random) -> tuple[int, ...]:
    """Return 4096 fragment lengths ~ N(350, 60) clamped to [MIN_PROPER_INSERT, MAX_PROPER_INSERT]."""
    return tuple(min(MAX_PROPER_INSERT, max(MIN_PROPER_INSERT, int(rng.gauss(350, 60)))) for _ in range(4096))


@functools.lru_cache(maxsize=2)
def make_pools(seed: int) -> Pools:
    """Build the random sequence/quality pools and lookup tables for a seed."""
    rng = random.Random(f"{seed}:pools")
    seq = rng.randbytes(POOL_LEN).translate(bytes(b"ACGT"[i & 3] for i in range(256))).decode()
    qual = quality_pool(rng, POOL_LEN)
    return Pools(seq, qual, cigar_choices(), mapq_table(), insert_table(rng))


def extra_record(
    rng: random.Random, pools: Pools, rname: str, length: int, name: str, read: tuple[int, int, int, int, str, int]
) -> tuple[int, str, str]:
    """Return (position, SAM line, SA tag for the primary or '') for a secondary/supplementary hit.

    ``read`` is (flag, position, MAPQ, pool offset, CIGAR, mate position) of the primary read the
    extra record belongs to; the hit is placed up to 20 kb to its right on the same contig.
    """
    flag, at, mapq, offset, cigar, mate_at = read
    rnd = rng.random
    xpos = min(at + int(rnd() * 20_000), length - READ_LEN + 1)
    mate_flags = flag & 0xE1  # paired, mate reverse, first/second in pair
    rg = f"RG:Z:{READ_GROUP}"
    if rnd() < SECONDARY_SHARE:
        line = (
            f"{name}\t{256 | mate_flags}\t{rname}\t{xpos}\t0\t{READ_LEN}M\t=\t{mate_at}\t0\t*\t*\t"
            f"NM:i:3\tAS:i:135\t{rg}\n"
        )
        return xpos, line, ""
    clip = 30 + int(rnd() * 70)
    strand = "-" if flag & 16 else "+"
    xq = pools.mapqs[int(rnd() * len(pools.mapqs))]
    seq = pools.seq[offset + clip : offset + READ_LEN]
    qual = pools.qual[offset + clip : offset + READ_LEN]
    line = (
        f"{name}\t{2048 | mate_flags | (flag & 16)}\t{rname}\t{xpos}\t{xq}\t{clip}H{READ_LEN - clip}M\t"
        f"=\t{mate_at}\t0\t{seq}\t{qual}\tNM:i:0\tAS:i:{READ_LEN - clip}\t"
        f"SA:Z:{rname},{at},{strand},{cigar},{mapq},0;\t{rg}\n"
    )
    return xpos, line, f"\tSA:Z:{rname},{xpos},{strand},{clip}S{READ_LEN - clip}M,{xq},0;"


def orphan_secondaries(plan: ContigPlan, rng: random.Random, count: int, after: int) -> list[tuple[int, str]]:
    """Return ``count`` (position, line) secondary hits at or after ``after`` for reads placed elsewhere."""
    top = plan.length - READ_LEN + 1
    positions = sorted(min(top, after + int(rng.random() * (top - after + 1))) for _ in range(count))
    return [
        (
            pos,
            f"{NAME_PREFIX}x{plan.index}_{k}\t{256 | 1 | 64}\t{plan.name}\t{pos}\t0\t{READ_LEN}M\t*\t0\t0\t*\t*\t"
            f"AS:i:140\tRG:Z:{READ_GROUP}\n",
        )
        for k, pos in enumerate(positions)
    ]


def contig_records(plan: ContigPlan, pools: Pools, seed: int) -> Iterator[str]:
    """Yield coordinate-sorted SAM text chunks for one contig.

    Pair start positions are drawn and sorted up front; records that start later than the current
    position (right mates, secondary and supplementary alignments) wait in a heap until the
    sweep passes them, so the output is sorted without sorting the whole contig.
    """
    if plan.records == 0:
        return
    rng = random.Random(f"{seed}:contig:{plan.index}")
    rnd = rng.random
    push = heapq.heappush
    pop = heapq.heappop
    rname, length, pairs = plan.name, plan.length, plan.pairs
    seq_pool, qual_pool = pools.seq, pools.qual
    cigars, mapqs, inserts = pools.cigars, pools.mapqs, pools.inserts
    n_cig, n_mapq, n_ins = len(cigars), len(mapqs), len(inserts)
    pool_span = len(seq_pool) - READ_LEN
    rg = f"\tRG:Z:{READ_GROUP}\n"
    heap: list[tuple[int, int, str]] = []
    tick = itertools.count()
    out: list[str] = []
    extras_left = plan.extras
    for xpos, xname, flag, (cig, _, tags), mapq, mate_rname, mate_pos, mate_cig, mate_q in plan.foreign:
        off = int(rnd() * pool_span)
        line = (
            f"{xname}\t{flag}\t{rname}\t{xpos}\t{mapq}\t{cig}\t{mate_rname}\t{mate_pos}\t0\t"
            f"{seq_pool[off : off + READ_LEN]}\t{qual_pool[off : off + READ_LEN]}\t{tags}\tMC:Z:{mate_cig}\t"
            f"MQ:i:{mate_q}{rg}"
        )
        push(heap, (xpos, next(tick), line))
    positions = sorted(int(rnd() * (length - MAX_PROPER_INSERT - 1)) + 1 for _ in range(pairs))
    pos = ins = 1
    for i, next_pos in enumerate(positions):
        dup = 0
        if i and rnd() < DUP_RATE:
            dup = 1024  # same fragment as the previous pair
        else:
            pos = next_pos
            ins = inserts[int(rnd() * n_ins)]
        while heap and heap[0][0] <= pos:
            out.append(pop(heap)[2])
        if len(out) >= CHUNK_LINES:
            yield "".join(out)
            out = []
        name = f"{NAME_PREFIX}{plan.first_pair_id + i}"
        cig1, _, tags1 = cigars[int(rnd() * n_cig)]
        cig2, span2, tags2 = cigars[int(rnd() * n_cig)]
        q1 = mapqs[int(rnd() * n_mapq)]
        q2 = mapqs[int(rnd() * n_mapq)]
        o1 = int(rnd() * pool_span)
        o2 = int(rnd() * pool_span)
        seq1 = seq_pool[o1 : o1 + READ_LEN]
        qual1 = qual_pool[o1 : o1 + READ_LEN]
        seq2 = seq_pool[o2 : o2 + READ_LEN]
        qual2 = qual_pool[o2 : o2 + READ_LEN]
        kind = rnd()
        if kind < MATE_UNMAPPED_RATE:
            flag1 = (73, 137, 89, 153)[int(rnd() * 4)] | dup  # mapped read whose mate is unmapped
            flag2 = ((flag1 & 0xC0) ^ 0xC0) | 5 | ((flag1 & 16) << 1) | dup
            out.append(f"{name}\t{flag1}\t{rname}\t{pos}\t{q1}\t{cig1}\t=\t{pos}\t0\t{seq1}\t{qual1}\t{tags1}{rg}")
            out.append(f"{name}\t{flag2}\t{rname}\t{pos}\t0\t*\t=\t{pos}\t0\t{seq2}\t{qual2}\tMC:Z:{cig1}{rg}")
            continue
        if kind < MATE_UNMAPPED_RATE + DISCORDANT_RATE:
            flag1, flag2 = DISCORDANT_FLAGS[int(rnd() * 4)]
            mpos = min(pos + 1_000 + int(rnd() * 40_000), length - span2 + 1)
        else:
            flag1, flag2 = PROPER_FLAGS[int(rnd() * 2)]
            mpos = pos + ins - span2
        flag1 |= dup
        flag2 |= dup
        tlen = mpos + span2 - pos
        sa1 = sa2 = ""
        while extras_left and rnd() * (pairs - i) < extras_left:
            extras_left -= 1
            if rnd() < 0.5:
                xpos, line, sa1 = extra_record(rng, pools, rname, length, name, (flag1, pos, q1, o1, cig1, mpos))
            else:
                xpos, line, sa2 = extra_record(rng, pools, rname, length, name, (flag2, mpos, q2, o2, cig2, pos))
            push(heap, (xpos, next(tick), line))
        out.append(
            f"{name}\t{flag1}\t{rname}\t{pos}\t{q1}\t{cig1}\t=\t{mpos}\t{tlen}\t{seq1}\t{qual1}\t{tags1}\t"
            f"MC:Z:{cig2}\tMQ:i:{q2}{sa1}{rg}"
        )
        push(
            heap,
            (
                mpos,
                next(tick),
                f"{name}\t{flag2}\t{rname}\t{mpos}\t{q2}\t{cig2}\t=\t{pos}\t{-tlen}\t{seq2}\t{qual2}\t{tags2}\t"
                f"MC:Z:{cig1}\tMQ:i:{q1}{sa2}{rg}",
            ),
        )
    # Extras not attached to a pair (contig without pairs, or last pairs had unmapped mates).
    for item in orphan_secondaries(plan, rng, extras_left, pos):
        push(heap, (item[0], next(tick), item[1]))
    while heap:
        out.append(pop(heap)[2])
    yield "".join(out)


def unplaced_records(n_pairs: int, first_pair_id: int, pools: Pools, seed: int) -> Iterator[str]:
    """Yield SAM text for fully unmapped pairs (RNAME '*', POS 0), which sort after all contigs."""
    rng = random.Random(f"{seed}:unplaced")
    span = len(pools.seq) - READ_LEN
    out: list[str] = []
    for i in range(n_pairs):
        name = f"{NAME_PREFIX}{first_pair_id + i}"
        for flag in (77, 141):
            o = int(rng.random() * span)
            out.append(
                f"{name}\t{flag}\t*\t0\t0\t*\t*\t0\t0\t{pools.seq[o : o + READ_LEN]}\t"
                f"{pools.qual[o : o + READ_LEN]}\tAS:i:0\tRG:Z:{READ_GROUP}\n"
            )
        if len(out) >= CHUNK_LINES:
            yield "".join(out)
            out = []
    if out:
        yield "".join(out)


@functools.lru_cache(maxsize=4)
def build_plan(layout: str, n_records: int, seed: int) -> tuple[str, tuple[ContigPlan, ...], int, int]:
    """Return (SAM header, per-contig plans, unplaced pair count, first unplaced pair id); cached."""
    contigs = layout_contigs(layout)
    plans = tuple(plan_contigs(layout, contigs, n_records, seed))
    unplaced_pairs = split_records(n_records)[2]
    first_unplaced = plans[-1].first_pair_id + plans[-1].pairs + plans[-1].extras if plans else 0
    return sam_header(contigs), plans, unplaced_pairs, first_unplaced


def part_bounds(plans: Sequence[ContigPlan], n_parts: int) -> list[tuple[int, int]]:
    """Split the contig list into ``n_parts`` contiguous (start, stop) ranges of similar record counts."""
    sizes = [p.records for p in plans]
    total = sum(sizes)
    cum = list(itertools.accumulate(sizes))
    cuts = [0]
    for k in range(1, n_parts):
        cuts.append(max(cuts[-1], min(len(plans), bisect.bisect_left(cum, total * k / n_parts) + 1)))
    cuts.append(len(plans))
    return list(zip(cuts[:-1], cuts[1:]))


def sam_stream(layout: str, n_records: int, seed: int, part: int = 0, n_parts: int = 1) -> Iterator[str]:
    """Yield SAM text (header first) for one part of the output; part 0 of 1 is the whole file.

    Parts are contiguous runs of contigs; the fully unmapped pairs belong to the last part.
    """
    header, plans, unplaced_pairs, first_unplaced = build_plan(layout, n_records, seed)
    pools = make_pools(seed)
    yield header
    start, stop = part_bounds(plans, n_parts)[part]
    for plan in plans[start:stop]:
        yield from contig_records(plan, pools, seed)
    if part == n_parts - 1:
        yield from unplaced_records(unplaced_pairs, first_unplaced, pools, seed)


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def samtools_view_cmd(samtools: str, out: str, threads: int, level: int | None) -> list[str]:
    """Return the samtools command that turns SAM on stdin into a BAM file."""
    cmd = [samtools, "view", "--no-PG", "-b", "-@", str(threads), "-o", out]
    if level is not None:
        cmd += ["--output-fmt-option", f"level={level}"]
    return cmd + ["-"]


@dataclass(frozen=True)
class PartTask:
    """Everything a worker process needs to write one part BAM."""

    layout: str
    records: int
    seed: int
    part: int
    path: str
    samtools: str
    threads: int
    level: int | None


def write_part(task: PartTask) -> str:
    """Stream one part's SAM text through ``samtools view`` into ``task.path``; return the path."""
    cmd = samtools_view_cmd(task.samtools, task.path, task.threads, task.level)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for chunk in sam_stream(task.layout, task.records, task.seed, task.part, N_PARTS):
            proc.stdin.write(chunk.encode())
    except BrokenPipeError:
        pass
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"samtools view exited with {proc.returncode} for {task.path}")
    return task.path


def write_bam(args: argparse.Namespace) -> None:
    """Write the parts (in ``--jobs`` processes), concatenate them into ``args.out`` and index it."""
    out_dir = os.path.dirname(os.path.abspath(args.out))
    tmp_dir = tempfile.mkdtemp(prefix=".make_bam.", dir=out_dir)
    try:
        tasks = [
            PartTask(
                args.layout,
                args.records,
                args.seed,
                part,
                os.path.join(tmp_dir, f"part{part:02d}.bam"),
                args.samtools,
                args.threads,
                args.level,
            )
            for part in range(N_PARTS)
        ]
        if args.jobs == 1:
            paths = [write_part(task) for task in tasks]
        else:
            with multiprocessing.Pool(args.jobs) as pool:
                paths = pool.map(write_part, tasks, chunksize=1)
        subprocess.run([args.samtools, "cat", "--no-PG", "-o", args.out, *paths], check=True)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    subprocess.run([args.samtools, "index", "-@", str(args.jobs), args.out], check=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", choices=("grch38", "balanced24"), default="grch38", help="header layout")
    parser.add_argument("--records", type=int, required=True, help="total number of records to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (output is deterministic given it)")
    parser.add_argument("--out", required=True, help="output BAM path ('-' writes SAM text to stdout)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="generator processes [all CPUs]")
    parser.add_argument("--threads", type=int, default=1, help="extra compression threads per part writer")
    parser.add_argument("--level", type=int, choices=range(10), default=1, help="BGZF compression level [1]")
    parser.add_argument("--samtools", default="samtools", help="samtools executable")
    args = parser.parse_args(argv)
    if args.records < 0:
        parser.error("--records must be >= 0")
    if args.jobs < 1 or args.threads < 0:
        parser.error("--jobs must be >= 1 and --threads >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the requested BAM and report its generation speed on stderr."""
    args = parse_args(argv)
    start = time.perf_counter()
    if args.out == "-":
        try:
            for chunk in sam_stream(args.layout, args.records, args.seed):
                sys.stdout.write(chunk)
        except BrokenPipeError:
            return 0
    else:
        if shutil.which(args.samtools) is None:
            print(f"error: samtools not found: {args.samtools}", file=sys.stderr)
            return 2
        write_bam(args)
    elapsed = time.perf_counter() - start
    rate = args.records / elapsed if elapsed > 0 else float("inf")
    print(
        f"wrote {args.records} records ({args.layout}, seed {args.seed}) to {args.out} "
        f"in {elapsed:.1f} s ({rate:,.0f} records/s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
