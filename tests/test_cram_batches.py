"""Batched panel regions of a CRAM (found by a fuzz campaign, 2026-12-06): samtools 1.16.1's multi-region
iterator (`view -M -L`) can return a CRAM's records twice when a container holds the records of many small
contigs, so the batch pass counted some regions twice, exit 0. A CRAM's batches are now read over one region
argument per contig (each its own iterator) with the BED as a filter; every count here is compared with
`samtools view -c -T ref file '{contig}:beg-end'`."""

import random
import subprocess

import count_unit
import plan_units
import pysam
import reduce_counts
from conftest import cram_of, read_tsv


def many_contig_cram(folder, seed=2):
    """A CRAM of 67 contigs of 300 bp to 60 kb and 2,500 50M reads spread over them (many contigs of a few reads:
    htslib writes containers holding several contigs' records), its reference, and 4 random regions."""
    rng = random.Random(seed)
    names = [f"k{i}" for i in range(rng.randint(60, 150))]
    lengths = [rng.choice([300, 1000, 5000, 20000, 60000]) for _ in names]
    n_reads = rng.choice([200, 800, 2500])
    placed = sorted((rng.randrange(len(names)), 0) for _ in range(n_reads))
    placed = sorted((tid, rng.randrange(max(1, lengths[tid] - 60))) for tid, _ in placed)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": n_bp} for n, n_bp in zip(names, lengths)]}
    bam = str(folder / "many.bam")
    with pysam.AlignmentFile(bam, "wb", header=header) as out:
        for i, (tid, pos) in enumerate(placed):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.flag, read.mapping_quality = f"r{i}", 0, 60
            read.reference_id, read.reference_start, read.cigarstring, read.query_sequence = tid, pos, "50M", "A" * 50
            out.write(read)
    cram, reference = cram_of(bam, list(zip(names, lengths)), str(folder), "many")
    regions = []
    for _ in range(4):
        tid = rng.randrange(len(names))
        start = rng.randrange(lengths[tid] - 10)
        regions.append((names[tid], start, min(lengths[tid], start + rng.randint(10, 3000))))
    return cram, reference, regions


def samtools_view_count(*arguments):
    result = subprocess.run(["samtools", "view", "-c", *arguments], capture_output=True, text=True, check=True)
    return int(result.stdout)


def test_batched_regions_of_a_cram_whose_containers_hold_many_contigs_count_as_samtools_view(tmp_path):
    cram, reference, regions = many_contig_cram(tmp_path)
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"{contig}\t{start}\t{end}\n" for contig, start, end in regions))
    # The samtools behaviour this guards against: -M -L returns more records than the BED filter alone.
    by_iterator = samtools_view_count("-T", reference, "-M", "-L", str(bed), cram)
    by_filter = samtools_view_count("-T", reference, "-L", str(bed), cram)
    assert by_iterator > by_filter, (by_iterator, by_filter)

    manifest = tmp_path / "samples.tsv"
    manifest.write_text(f"sample\talignments\tindex\tfile_name\ns0\t{cram}\t{cram}.crai\tmany.cram\n")
    plan = ["--samples", str(manifest), "--reference", reference, "--bed", str(bed), "--max-units", "1"]
    assert plan_units.main([*plan, "--outdir", str(tmp_path)]) == 0
    units = sorted((tmp_path / "units").iterdir())
    assert [row["mode"] for row in read_tsv(open(units[0]))] == ["batch"] * len(regions)
    counting = tmp_path / "count.tsv"
    counting.write_text(f"sample\talignments\tindex\ns0\t{cram}\t{cram}.crai\n")
    results = []
    for unit in units:
        out = tmp_path / f"{unit.stem}.result.tsv"
        arguments = ["--samples", str(counting), "--reference", reference, "--unit", str(unit), "--out", str(out)]
        assert count_unit.main([*arguments, "--index-statistics", str(tmp_path / "index_statistics.tsv")]) == 0
        results.append(str(out))
    regions_tables = [str(path) for path in (tmp_path / "regions").iterdir()]
    assert reduce_counts.main(["--outdir", str(tmp_path / "out"), *results, "--regions", *regions_tables]) == 0
    assert (tmp_path / "out" / "failures.txt").read_text() == ""
    with open(tmp_path / "out" / "s0" / "s0.counts.tsv") as handle:
        counts = [int(row["count"]) for row in read_tsv(handle)]
    expected = [samtools_view_count("-T", reference, cram, f"{{{c}}}:{s + 1}-{e}") for c, s, e in regions]
    assert counts == expected
    assert sum(expected) == by_filter  # these 4 regions share no read: the filter's count is their sum
