#!/usr/bin/env python3
"""Write deterministic target panels (BED4) on the GRCh38-like contigs of make_bam.py, for benchmarks.

Two panels, both on chr1..chr22, chrX and chrY of ``make_bam.grch38_contigs()`` (chrM and the small
contigs are left out), sorted by contig (header order), start and end:

* ``exome``: exactly 200,000 regions of 100-300 bp, grouped as the exons of about 22,000 synthetic genes.
  Genes are denser on some chromosomes (chr19, chr17, ...) and often cluster near one another; exons are
  separated by log-uniform introns. As in real capture panels, some regions touch (the next exon starts
  where one ends), some overlap (alternative exon boundaries), some are nested in another and a few are
  listed twice. The name is the gene symbol, so names repeat (one per exon) and a few symbols are shared
  by unrelated genes.
* ``genes``: exactly 20,000 regions of 10-100 kb (log-uniform), clustered, with overlapping and nested
  genes (a short gene inside a long one's intron); 2% of the symbols are used by more than one gene.

The output depends only on ``--panel`` and ``--seed``. ``--format saf`` writes featureCounts' SAF
(1-based, inclusive; each BED line gets its own GeneID ``<name>|<line number>`` so that featureCounts
reports one count per region, as the pipeline does, instead of merging equal names into a meta-feature);
``--format union`` writes the merged union of the regions as BED3 (for ``samtools view -M -L``).

Example::

    benchmarks/make_bed.py --panel exome --seed 1 --out /tmp/bench/exome.bed
"""

from __future__ import annotations

import argparse
import math
import os
import random
import string
import sys
from collections.abc import Iterable, Sequence
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_bam import grch38_contigs  # noqa: E402

PANEL_CONTIGS = tuple(f"chr{i}" for i in range(1, 23)) + ("chrX", "chrY")
PANELS = {"exome": 200_000, "genes": 20_000}
EXOME_MIN, EXOME_MAX = 100, 300
GENE_MIN, GENE_MAX = 10_000, 100_000
# Genes per bp relative to the genome average (real gene-dense and gene-poor chromosomes).
GENE_DENSITY = {"chr19": 3.0, "chr17": 2.2, "chr22": 1.8, "chr16": 1.5, "chr1": 1.3, "chr11": 1.3,
                "chr13": 0.5, "chr18": 0.6, "chr4": 0.6, "chr5": 0.7, "chrX": 0.6, "chrY": 0.15}  # fmt: skip
CLUSTER_SHARE = 0.4  # genes placed close to the previous gene of their contig
MEAN_EXONS = 9


class Region(NamedTuple):
    """One BED line: 0-based, half-open."""

    contig: str
    start: int
    end: int
    name: str


def panel_contigs() -> list[tuple[str, int]]:
    """(name, length) of the primary chromosomes chr1..chr22, chrX, chrY in header order."""
    lengths = dict(grch38_contigs())
    return [(name, lengths[name]) for name in PANEL_CONTIGS]


def gene_symbol(rng: random.Random) -> str:
    """A made-up HGNC-like symbol (``KRT31``, ``ZNF4``, ``ABCB``); short ones collide now and then."""
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.choice((2, 3, 3, 4, 4, 5))))
    return letters + (str(rng.randint(1, 99)) if rng.random() < 0.6 else "")


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    """An integer drawn log-uniformly from [low, high]."""
    return min(high, max(low, int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))))


class GenePlacer:
    """Draws gene loci: a contig by length x density, a start uniform on it or (CLUSTER_SHARE) shortly
    after the previous gene placed on that contig."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.contigs = panel_contigs()
        self.weights = [length * GENE_DENSITY.get(name, 1.0) for name, length in self.contigs]
        self.last: dict[str, int] = {}

    def place(self, span: int) -> tuple[str, int, int]:
        """(contig, start, contig length) for a gene of about ``span`` bp that fits on the contig."""
        rng = self.rng
        name, length = rng.choices(self.contigs, weights=self.weights)[0]
        top = length - span - 1
        if name in self.last and rng.random() < CLUSTER_SHARE:
            start = min(top, self.last[name] + log_uniform(rng, 2_000, 200_000))
        else:
            start = rng.randint(0, top)
        self.last[name] = start
        return name, start, length


def exome_regions(seed: int = 1, n: int = PANELS["exome"]) -> list[Region]:
    """Exactly ``n`` exon regions of EXOME_MIN-EXOME_MAX bp, sorted (see the module docstring)."""
    rng = random.Random(f"{seed}:exome")
    placer = GenePlacer(rng)
    regions: list[Region] = []
    while len(regions) < n:
        symbol = gene_symbol(rng)
        n_exons = min(80, 1 + int(rng.expovariate(1 / (MEAN_EXONS - 1))))
        contig, pos, length = placer.place(n_exons * 5_000)
        for _ in range(n_exons):
            size = int(round(rng.triangular(EXOME_MIN, EXOME_MAX, 150)))
            if pos + size > length:
                break
            regions.append(Region(contig, pos, pos + size, symbol))
            kind = rng.random()
            if kind < 0.05:  # alternative exon boundaries: an overlapping region
                other = int(round(rng.triangular(EXOME_MIN, EXOME_MAX, 150)))
                start = max(0, pos + rng.randint(-other + 1, size - 1))
                if start + other <= length:
                    regions.append(Region(contig, start, start + other, symbol))
            elif kind < 0.07 and size >= EXOME_MIN + 20:  # a shorter exon nested inside this one
                inner = rng.randint(EXOME_MIN, size - 10)
                start = pos + rng.randint(0, size - inner)
                regions.append(Region(contig, start, start + inner, symbol))
            elif kind < 0.072:  # listed twice
                regions.append(Region(contig, pos, pos + size, symbol))
            pos += size
            if rng.random() >= 0.02:  # else the next exon touches this one (adjacent)
                pos += log_uniform(rng, 80, 40_000)
    return sort_regions(regions[:n])


def gene_regions(seed: int = 1, n: int = PANELS["genes"]) -> list[Region]:
    """Exactly ``n`` gene regions of GENE_MIN-GENE_MAX bp, sorted (see the module docstring)."""
    rng = random.Random(f"{seed}:genes")
    placer = GenePlacer(rng)
    regions: list[Region] = []
    symbols: list[str] = []
    while len(regions) < n:
        symbol = rng.choice(symbols) if symbols and rng.random() < 0.02 else gene_symbol(rng)
        symbols.append(symbol)
        size = log_uniform(rng, GENE_MIN, GENE_MAX)
        host = regions[-1] if regions else None
        if host and host.end - host.start >= size + 2_000 and rng.random() < 0.05:  # nested in the last gene
            start = host.start + rng.randint(1_000, host.end - host.start - size - 1_000)
            regions.append(Region(host.contig, start, start + size, symbol))
            continue
        contig, start, _ = placer.place(size)
        regions.append(Region(contig, start, start + size, symbol))
    return sort_regions(regions)


def sort_regions(regions: Iterable[Region]) -> list[Region]:
    """Regions by contig (header order), start, end; equal intervals keep their order."""
    rank = {name: i for i, name in enumerate(PANEL_CONTIGS)}
    return sorted(regions, key=lambda r: (rank[r.contig], r.start, r.end))


def panel_regions(panel: str, seed: int = 1) -> list[Region]:
    """The regions of a named panel (``exome`` or ``genes``)."""
    if panel == "exome":
        return exome_regions(seed)
    if panel == "genes":
        return gene_regions(seed)
    raise ValueError(f"unknown panel: {panel}")


def bed_text(regions: Iterable[Region]) -> str:
    """BED4 text, one line per region."""
    return "".join(f"{r.contig}\t{r.start}\t{r.end}\t{r.name}\n" for r in regions)


def saf_text(regions: Iterable[Region]) -> str:
    """featureCounts SAF (1-based, inclusive), GeneID ``<name>|<line number>`` so every line stays its own
    feature."""
    lines = ["GeneID\tChr\tStart\tEnd\tStrand\n"]
    lines.extend(f"{r.name}|{i}\t{r.contig}\t{r.start + 1}\t{r.end}\t+\n" for i, r in enumerate(regions, 1))
    return "".join(lines)


def union_regions(regions: Iterable[Region]) -> list[tuple[str, int, int]]:
    """The merged union of sorted regions as (contig, start, end); touching intervals are merged too."""
    merged: list[tuple[str, int, int]] = []
    for r in regions:
        if merged and merged[-1][0] == r.contig and r.start <= merged[-1][2]:
            if r.end > merged[-1][2]:
                merged[-1] = (r.contig, merged[-1][1], r.end)
        else:
            merged.append((r.contig, r.start, r.end))
    return merged


def union_text(regions: Sequence[Region]) -> str:
    """BED3 text of the merged union."""
    return "".join(f"{c}\t{s}\t{e}\n" for c, s, e in union_regions(regions))


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically ('-': stdout)."""
    if path == "-":
        sys.stdout.write(text)
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--panel", choices=list(PANELS), required=True)
    parser.add_argument("--seed", type=int, default=1, help="random seed (output is deterministic given it)")
    parser.add_argument("--format", choices=("bed", "saf", "union"), default="bed")
    parser.add_argument("--out", required=True, help="output path ('-': stdout)")
    args = parser.parse_args(argv)
    regions = panel_regions(args.panel, args.seed)
    text = {"bed": bed_text, "saf": saf_text, "union": union_text}[args.format](regions)
    write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
