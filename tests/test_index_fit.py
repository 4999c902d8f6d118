"""An index that belongs to another file is refused before any count is made from it (issue 19, item 1).

Unit tests of bin/alignment_index.py (BAI, CSI of 2 and 3 levels, CRAI of CRAM 2.1/3.0/3.1: an index fits its own
file and not another's, nor the file it indexed before records changed) and real pipeline runs: the issue's
swapped samplesheet on a panel, per contig and in chunks, each refused in one line naming both files with no count
file written; the same samplesheet with the right indexes counts every region as `samtools view -c` does.
"""

import array
import os
import random
import shutil
import struct
import subprocess

import alignment_index
import pysam
import pytest
from conftest import cram_of, samtools_count
from make_test_data import Read, write_bam

CONTIGS = [("chr1", 100_000), ("chr2", 50_000), ("chrM", 16_569)]
N_READS = 20_000


def reads_for(seed, n_reads=N_READS):
    """Single-end 100 bp reads over the contigs, like the issue's a.bam and b.bam (same header, other reads)."""
    rng = random.Random(seed)
    reads = []
    for i in range(n_reads):
        contig, length = rng.choices(CONTIGS, weights=[6, 3, 1])[0]
        reads.append(Read(f"s{seed}r{i}", rng.choice([0, 0x10]), contig, rng.randrange(0, length - 100), "100M"))
    return reads


def bam_pair(folder, kind="bai"):
    """a.bam and b.bam (same contigs, 20,000 reads each), each indexed by samtools (BAI, or CSI)."""
    paths = []
    for name, seed in (("a", 1), ("b", 2)):
        path = str(folder / f"{name}.bam")
        write_bam(path, CONTIGS, reads_for(seed), index=False)
        subprocess.run(["samtools", "index", *alignment_index_options(kind), path], check=True)
        paths.append(path)
    # Both indexes newer than both BAMs, as after `cp -p` of a run's folder: the driver's staleness check
    # (an index older than its file is rebuilt) cannot tell them apart.
    later = max(os.path.getmtime(p) for p in paths) + 10
    for path in paths:
        os.utime(index_of(path, kind), (later, later))
    return paths


def alignment_index_options(kind):
    return {"bai": [], "csi": ["-c"], "csi-m12": ["-c", "-m", "12"]}[kind]


def index_of(bam, kind):
    return f"{bam}.{'bai' if kind == 'bai' else 'csi'}"


@pytest.mark.parametrize("kind", ["bai", "csi", "csi-m12"])
def test_an_index_fits_its_own_bam_and_not_the_other(tmp_path, kind):
    a, b = bam_pair(tmp_path, kind)
    assert alignment_index.index_mismatch(a, index_of(a, kind)) is None
    assert alignment_index.index_mismatch(b, index_of(b, kind)) is None
    assert alignment_index.index_mismatch(a, index_of(b, kind)) is not None
    assert alignment_index.index_mismatch(b, index_of(a, kind)) is not None


def test_the_index_of_a_bam_before_it_was_rewritten_does_not_fit(tmp_path):
    """Same header and the same first records: the files part only where a record in the middle changed."""
    reads = reads_for(3)
    old = str(tmp_path / "old.bam")
    write_bam(old, CONTIGS, reads)
    changed = sorted(reads, key=lambda r: (r.contig, r.pos))
    middle = changed[len(changed) // 2]
    middle.cigar, middle.length = "150M", 150  # one record 50 bases longer
    new = str(tmp_path / "new.bam")
    write_bam(new, CONTIGS, reads, index=False)
    reason = alignment_index.index_mismatch(new, f"{old}.bai")
    assert reason is not None
    assert alignment_index.index_mismatch(old, f"{old}.bai") is None


def test_an_index_of_another_header_is_named_by_its_reference_count(tmp_path):
    a = str(tmp_path / "a.bam")
    write_bam(a, CONTIGS, reads_for(1))
    other = str(tmp_path / "other.bam")
    write_bam(other, [*CONTIGS, ("chrX", 1000)], reads_for(1))
    assert alignment_index.index_mismatch(a, f"{other}.bai") == ("it lists 4 reference sequences, the file's header 3")


def test_an_index_that_is_no_index_is_left_to_the_input_checks(tmp_path):
    """Not BAI/CSI/CRAI content (the driver names those) or a cut index (htslib names it): no guess here."""
    a = str(tmp_path / "a.bam")
    write_bam(a, CONTIGS, reads_for(1))
    (tmp_path / "junk.bai").write_bytes(b"not an index at all")
    assert alignment_index.index_mismatch(a, str(tmp_path / "junk.bai")) is None
    cut = open(f"{a}.bai", "rb").read()[:40]
    (tmp_path / "cut.bai").write_bytes(cut)
    assert alignment_index.index_mismatch(a, str(tmp_path / "cut.bai")) is None


@pytest.mark.parametrize("kind", ["bai", "csi", "csi-m12"])
def test_the_layout_of_an_index_places_the_bins_read_index_reads(tmp_path, kind):
    """index_layout keeps each bin's word, bins_at reads the bin there: the bins read_index gives, in order; the
    pseudo-bin's first offset is where the contig's first record begins."""
    a, _ = bam_pair(tmp_path, kind)
    index_bytes = open(index_of(a, kind), "rb").read()
    layout, index = alignment_index.index_layout(index_bytes), alignment_index.read_index(index_bytes)
    # samtools index -c: the fewest levels that reach past the longest contig (100 kb) from bins of 2^min_shift
    assert (layout.min_shift, layout.depth) == {"bai": (14, 5), "csi": (14, 1), "csi-m12": (12, 2)}[kind]
    assert len(layout.contigs) == len(index.contigs) == 3
    for placed, read in zip(layout.contigs, index.contigs):
        assert alignment_index.bins_at(layout, placed.bins) == read.bins
        assert (placed.first, placed.end) == (read.first, read.end)
    with pysam.AlignmentFile(a) as aln:
        first_record = aln.tell()
    assert layout.contigs[0].first == first_record
    assert len(index.contigs[0].bins) >= 7  # chr1, 100 kb: every 16 kb bin (BAI) holds reads


def synthetic_index(kind, linear_count=1, contigs=None):
    """A BAI or CSI (uncompressed) as the SAM specification lays them out, of contigs given as lists of (bin,
    chunks); by default two: chr1 with bin 4681 (one chunk) and its pseudo-bin, chr2 with bin 4681 alone, last."""

    def bin_bytes(number, chunks):
        head = struct.pack("<Ii", number, len(chunks)) if kind == "bai" else struct.pack("<IQi", number, 0, len(chunks))
        return head + b"".join(struct.pack("<QQ", *chunk) for chunk in chunks)

    linear = (
        struct.pack("<i", linear_count) + struct.pack("<Q", 1 << 16) * max(linear_count, 0) if kind == "bai" else b""
    )
    if contigs is None:
        contigs = [
            [(4681, [(1 << 16, 2 << 16)]), (37450, [(1 << 16, 3 << 16), (10, 0)])],
            [(4681, [(3 << 16, 4 << 16)])],
        ]
    body = b"".join(struct.pack("<i", len(bins)) + b"".join(bin_bytes(*b) for b in bins) + linear for bins in contigs)
    head = b"BAI\1" if kind == "bai" else b"CSI\1" + struct.pack("<iii", 14, 5, 0)
    return head + struct.pack("<i", len(contigs)) + body


@pytest.mark.parametrize("kind", ["bai", "csi"])
def test_runs_of_one_chunk_bins_are_found_as_bins_read_one_by_one(kind):
    """A contig of 300 bins of one chunk (found by runs, one_chunk_bins), a bin of 3 chunks, 40 of one, its pseudo-bin,
    a bin without chunks, 5 of one (read one by one), the metadata bin number with one chunk (a bin), then a contig
    of 2 bins: every bin read, in order, with its first chunk's begin offset."""
    one = [(4681 + i, [(i << 16, (i + 1) << 16)]) for i in range(400)]
    pseudo = (37450, [(7 << 16, 9 << 16), (345, 6)])
    bins = one[:300] + [(4681 + 300, [(1 << 16, 2 << 16)] * 3)] + one[301:341] + [pseudo, (9, [])] + one[341:346]
    bins.append((37450, [(5 << 16, 6 << 16)]))
    index_bytes = synthetic_index(kind, contigs=[bins, one[:2]])
    expected = [(number, chunks[0][0]) for number, chunks in bins if chunks and (number, chunks) != pseudo]
    assert len(expected) == 347
    read = alignment_index.read_index(index_bytes)
    assert [(c.bins, c.first, c.end) for c in read.contigs] == [(expected, 7 << 16, 9 << 16), (expected[:2], -1, -1)]
    layout = alignment_index.index_layout(index_bytes)
    step = layout.bin_words + 4
    assert layout.contigs[0].bins[:3] == [2, 2 + step, 2 + 2 * step]  # after n_ref and the contig's n_bin
    counts = array.array("i", [1, 0, 1, 1, 2, 1])
    assert [alignment_index.one_chunk_bins(counts, 0, step, 3) for step in (1, 2)] == [1, 2]  # 1, 0 | 1, 1, 2
    assert alignment_index.one_chunk_bins(counts, 2, 1, 2) == 2  # at most 2
    assert alignment_index.one_chunk_bins(counts, 5, 1, 10) == 1  # to the end of the words


@pytest.mark.parametrize("kind", ["bai", "csi"])
def test_an_index_is_read_to_the_last_bins_first_offset(kind):
    """The bins, pseudo-bins and offsets of a synthetic index; 8 bytes less reads the same (what they hold is never
    read), 9 are cut short (struct.error): a CSI's last bin's begin offset, a BAI's last linear index count."""
    index_bytes = synthetic_index(kind)
    expected = [([(4681, 1 << 16)], 1 << 16, 3 << 16), ([(4681, 3 << 16)], -1, -1)]
    read = alignment_index.read_index(index_bytes)
    assert [(c.bins, c.first, c.end) for c in read.contigs] == expected
    layout = alignment_index.index_layout(index_bytes)
    assert [alignment_index.bins_at(layout, c.bins) for c in layout.contigs] == [bins for bins, _, _ in expected]
    # Never read: a CSI's last chunk's end offset, a BAI's last linear index entry (skipped by its count).
    for read_bytes in (alignment_index.read_index, alignment_index.index_layout):
        assert read_bytes(index_bytes[:-8]).contigs[1].bins == read_bytes(index_bytes).contigs[1].bins
        with pytest.raises(struct.error):
            read_bytes(index_bytes[:-9])


def test_a_negative_count_makes_no_index():
    """A negative linear-index count in a BAI is no index (None), as a negative bin or chunk count: the walk does
    not follow it backwards."""
    assert alignment_index.read_index(synthetic_index("bai", linear_count=0)) is not None
    assert alignment_index.read_index(synthetic_index("bai", linear_count=-1)) is None
    assert alignment_index.index_layout(synthetic_index("bai", linear_count=-1)) is None


@pytest.mark.parametrize("version", ["2.1", "3.0", "3.1"])
def test_a_crai_fits_its_own_cram_and_not_the_other(tmp_path, version):
    a, b = bam_pair(tmp_path)
    crams = []
    for bam in (a, b):
        cram, reference = cram_of(bam, CONTIGS, str(tmp_path), name=os.path.basename(bam)[0])
        rewritten = cram.replace(".cram", f".v{version}.cram")
        subprocess.run(
            ["samtools", "view", "-C", "-T", reference, "--output-fmt-option", f"version={version}", "-o", rewritten,
             bam], check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(["samtools", "index", rewritten], check=True)
        crams.append((rewritten, reference))
    (cram_a, ref), (cram_b, _) = crams
    assert alignment_index.index_mismatch(cram_a, f"{cram_a}.crai", ref) is None
    assert alignment_index.index_mismatch(cram_b, f"{cram_b}.crai", ref) is None
    assert alignment_index.index_mismatch(cram_b, f"{cram_a}.crai", ref) is not None


def panel_bed(path, n_regions=500, width=150, spacing=199):
    with open(path, "w") as bed:
        bed.writelines(f"chr1\t{i * spacing}\t{i * spacing + width}\n" for i in range(n_regions))
    return str(path)


def swapped_sheet(folder, a, b, swapped=True):
    """The issue's samplesheet: A,a.bam,b.bam.bai / B,b.bam,a.bam.bai (or each BAM with its own index)."""
    sheet = folder / "samples.csv"
    index_a, index_b = (f"{b}.bai", f"{a}.bai") if swapped else (f"{a}.bai", f"{b}.bai")
    sheet.write_text(f"sample,bam,bai\nA,{a},{index_a}\nB,{b},{index_b}\n")
    return str(sheet)


def refusal_lines(name, index_name):
    return f"{name}: the index {index_name} does not belong to this file ("


def assert_refused_both(run):
    assert run.result.returncode != 0, run.log
    for name, index_name in (("a.bam", "b.bam.bai"), ("b.bam", "a.bam.bai")):
        assert refusal_lines(name, index_name) in run.log, run.log
    assert "index the file again (samtools index), or remove or leave out that index" in run.log
    counted = [f for _, _, files in os.walk(run.outdir) for f in files if f.endswith(("_count.txt", ".counts.tsv"))]
    assert counted == []
    assert "Traceback" not in run.log


@pytest.mark.pipeline
def test_a_panel_with_swapped_indexes_is_refused_before_any_count(tmp_path, run_pipeline):
    a, b = bam_pair(tmp_path)
    run = run_pipeline("--input", swapped_sheet(tmp_path, a, b), "--regions", panel_bed(tmp_path / "panel.bed"))
    assert_refused_both(run)
    # No counting task ran: the check is part of planning.
    assert all(row["process"] != "COUNT_UNIT" for row in run.trace_rows())


@pytest.mark.pipeline
@pytest.mark.parametrize("split", [False, True], ids=["per-contig", "chunks"])
def test_per_contig_and_chunked_runs_through_the_index_refuse_it_too(tmp_path, run_pipeline, split):
    """Samples too big for one region-less pass are counted by `{contig}` regions (or chunks of them) through the
    index: a foreign index is refused there too. (A sample counted in one pass never reads its index.)"""
    a, b = bam_pair(tmp_path)
    args = ["--min_unit_reads", "1000", "--units_per_cpu", "8"] + (["--split_size", "10000"] if split else [])
    run = run_pipeline("--input", swapped_sheet(tmp_path, a, b), *args)
    assert_refused_both(run)


@pytest.mark.pipeline
def test_the_same_samplesheet_with_the_right_indexes_counts_as_samtools(tmp_path, run_pipeline):
    a, b = bam_pair(tmp_path)
    bed = panel_bed(tmp_path / "panel.bed")
    run = run_pipeline("--input", swapped_sheet(tmp_path, a, b, swapped=False), "--regions", bed)
    assert run.result.returncode == 0, run.log
    with open(bed) as handle:
        regions = [line.split("\t")[:3] for line in handle]
    for sample, bam in (("A", a), ("B", b)):
        lines = open(os.path.join(run.outdir, sample, f"{sample}_count.txt")).read().splitlines()
        expected = [f"Region {c}:{int(s) + 1}-{int(e)}: {samtools_count(bam, f'{c}:{int(s) + 1}-{int(e)}')}"
                    for c, s, e in regions]  # fmt: skip
        assert lines[:-1] == expected


def test_samtools_reads_the_swapped_index_wrongly(tmp_path):
    """Why the check exists: with b.bam and a.bam's index, samtools fails on some regions (or drops records)."""
    a, b = bam_pair(tmp_path)
    shutil.copy(f"{a}.bai", tmp_path / "foreign.bai")
    outcomes = set()
    for start in range(0, 100_000 - 150, 4_975):
        region = f"chr1:{start + 1}-{start + 150}"
        result = subprocess.run(
            ["samtools", "view", "-c", "-X", b, str(tmp_path / "foreign.bai"), region], capture_output=True, text=True
        )
        right = samtools_count(b, region)
        outcomes.add("right" if result.returncode == 0 and int(result.stdout) == right else "wrong or failed")
    assert "wrong or failed" in outcomes


def unplaced_and_mapped(folder, kind="bai"):
    """unplaced.bam (300 unmapped, unplaced reads: its index places none) and a.bam (20,000 placed reads), same
    header, each indexed by samtools."""
    unplaced = str(folder / "unplaced.bam")
    reads = [Read(f"u{i}", 0x4, None, -1, None) for i in range(300)]
    write_bam(unplaced, CONTIGS, reads, index=False)
    mapped = str(folder / "a.bam")
    write_bam(mapped, CONTIGS, reads_for(1), index=False)
    for path in (unplaced, mapped):
        subprocess.run(["samtools", "index", *alignment_index_options(kind), path], check=True)
    return unplaced, mapped


@pytest.mark.parametrize("kind", ["bai", "csi"])
def test_the_index_of_a_file_of_unplaced_reads_does_not_fit_a_file_of_placed_ones(tmp_path, kind):
    """Such an index has no bin to sample; samtools follows it and counts 0 in every region, exit 0."""
    unplaced, mapped = unplaced_and_mapped(tmp_path, kind)
    region = "chr1:1-100000"
    foreign = subprocess.run(
        ["samtools", "view", "-c", "-X", mapped, index_of(unplaced, kind), region], capture_output=True, text=True
    )
    assert (foreign.returncode, foreign.stdout.strip()) == (0, "0")  # why the check: a wrong count, exit 0
    assert samtools_count(mapped, region) > 1000
    assert alignment_index.index_mismatch(mapped, index_of(unplaced, kind)) == (
        "it places no record on any reference sequence, but the file's first record is on 'chr1'"
    )
    assert alignment_index.index_mismatch(unplaced, index_of(unplaced, kind)) is None
    assert alignment_index.index_mismatch(mapped, index_of(mapped, kind)) is None
    assert alignment_index.index_mismatch(unplaced, index_of(mapped, kind)) is not None


@pytest.mark.pipeline
def test_a_panel_given_the_index_of_a_file_of_unplaced_reads_is_refused_before_any_count(tmp_path, run_pipeline):
    unplaced, mapped = unplaced_and_mapped(tmp_path)
    sheet = tmp_path / "samples.csv"
    sheet.write_text(f"sample,bam,bai\nA,{mapped},{unplaced}.bai\n")
    run = run_pipeline("--input", str(sheet), "--regions", panel_bed(tmp_path / "panel.bed"))
    assert run.result.returncode != 0, run.log
    assert (
        refusal_lines("a.bam", "unplaced.bam.bai")
        + ("it places no record on any reference sequence, but the file's first record is on 'chr1')")
        in run.log
    ), run.log
    counted = [f for _, _, files in os.walk(run.outdir) for f in files if f.endswith(("_count.txt", ".counts.tsv"))]
    assert counted == []
    assert all(row["process"] != "COUNT_UNIT" for row in run.trace_rows())


def test_the_index_made_before_records_of_the_last_contig_were_added_does_not_fit(tmp_path):
    """Records of the last contig (chrM) added by `samtools cat --no-PG` to a file samtools wrote, after indexing:
    cat writes the same header block and copies the records' BGZF blocks as they are, so every offset the old
    index gives is unchanged, and through it samtools counts 0 on chrM, exit 0."""
    written = str(tmp_path / "written.bam")
    write_bam(written, CONTIGS, [read for read in reads_for(4) if read.contig != "chrM"], index=False)
    old = str(tmp_path / "old.bam")
    subprocess.run(["samtools", "view", "--no-PG", "-b", "-o", old, written], check=True)
    subprocess.run(["samtools", "index", old], check=True)
    added = str(tmp_path / "chrM.bam")
    write_bam(added, CONTIGS, [Read(f"m{i}", 0, "chrM", 100 * i, "100M") for i in range(100)], index=False)
    new = str(tmp_path / "new.bam")
    subprocess.run(["samtools", "cat", "--no-PG", "-o", new, old, added], check=True)
    subprocess.run(["samtools", "index", new], check=True)
    through_old = subprocess.run(
        ["samtools", "view", "-c", "-X", new, f"{old}.bai", "chrM"], capture_output=True, text=True, check=True
    )
    assert (through_old.stdout.strip(), samtools_count(new, "chrM")) == ("0", 100)
    assert alignment_index.index_mismatch(new, f"{old}.bai") == (
        "a record of 'chrM' follows those of 'chr2', but the index places none on 'chrM'"
    )
    assert alignment_index.index_mismatch(new, f"{new}.bai") is None
    assert alignment_index.index_mismatch(old, f"{old}.bai") is None


def test_an_index_that_places_records_after_a_contigs_where_the_file_has_none_does_not_fit(tmp_path):
    """contig_problems told that the index places chrM's records after chr2's, where the file has only unplaced
    records, or ends."""
    reads = [read for read in reads_for(5) if read.contig != "chrM"]
    ends = {}
    for name, extra in (("unplaced", [Read(f"u{i}", 0x4, None, -1, None) for i in range(10)]), ("ends", [])):
        path = str(tmp_path / f"{name}.bam")
        write_bam(path, CONTIGS, reads + extra)
        with open(f"{path}.bai", "rb") as handle:
            layout = alignment_index.index_layout(handle.read())
        with open(path, "rb") as handle:
            records = alignment_index.BlockRecords(handle, os.path.getsize(path), [name for name, _ in CONTIGS])
            chr2 = layout.contigs[1]
            assert alignment_index.contig_problems(records, chr2, 1, "chr2") is None  # nothing placed after chr2
            ends[name] = alignment_index.contig_problems(records, chr2, 1, "chr2", next_tid=2)
    but = "follows the records of 'chr2', but the index places records on 'chrM' after them"
    assert ends == {"unplaced": f"an unplaced record {but}", "ends": f"the end of the file {but}"}


def test_block_records_read_each_record_as_pysam_over_blocks_of_any_size(tmp_path):
    """BlockRecords (the index check's reader) against pysam on every record of a BAM written again as blocks of
    100, 777 and 5,000 bytes with an empty block after every 7th (records cut across blocks, which other
    writers than htslib make): the same reference id and position at each record's offset, None at the end,
    NoRecord one byte into each record and where no block begins."""
    from test_bam_records import reblocked

    path = str(tmp_path / "plain.bam")
    write_bam(path, CONTIGS, reads_for(3, n_reads=2_000) + [Read(f"u{i}", 0x4, None, -1, None) for i in range(5)])
    with open(path, "rb") as handle:
        stream = handle.read()
    blocky = tmp_path / "blocky.bam"
    blocky.write_bytes(reblocked(stream, [100, 777, 5000], eof_every=7))
    expected = []
    with pysam.AlignmentFile(str(blocky), check_sq=False) as aln:
        names, offset = aln.references, aln.tell()
        for record in aln:
            expected.append((offset, (record.reference_id, record.reference_start)))
            offset = aln.tell()
    assert len(expected) == 2_005 and expected[-1][1] == (-1, -1)
    with open(blocky, "rb") as handle:
        records = alignment_index.BlockRecords(handle, os.path.getsize(blocky), names)
        assert [(o, tuple(records.record(o))) for o, _ in expected] == expected
        assert records.record(offset) is None  # the end of the file
        inside = [o + 1 for o, _ in expected if (o & 0xFFFF) + 1 < 100]  # one byte in, the block not left
        for offset_inside in inside + [(expected[5][0] >> 16) + 1 << 16]:  # and a byte after a block's start
            with pytest.raises(alignment_index.NoRecord, match="no record begins where it points"):
                records.record(offset_inside)
        assert len(inside) > 50


def test_block_records_take_blocks_as_htslib_takes_them(tmp_path):
    """A gzip member with extra subfields besides BC is no BGZF block to htslib (bgzf.c: XLEN 6, BC alone; pysam
    cannot even open such a file): none to BlockRecords either. The same bytes in BGZF blocks are read."""
    from test_bam_records import reblocked

    path = str(tmp_path / "plain.bam")
    write_bam(path, CONTIGS, reads_for(4, n_reads=50))
    with open(path, "rb") as handle:
        stream = handle.read()
    bgzf, other = tmp_path / "bgzf.bam", tmp_path / "other.bam"
    bgzf.write_bytes(reblocked(stream, [1 << 15]))
    other.write_bytes(reblocked(stream, [1 << 15], before=b"XY\x01\x00a"))
    with pysam.AlignmentFile(str(bgzf), check_sq=False) as aln:
        first, names = aln.tell(), aln.references  # the same in both: the header ends in the first block
    with pytest.raises(NotImplementedError, match="seek not implemented"):
        pysam.AlignmentFile(str(other), check_sq=False)
    with open(bgzf, "rb") as handle:
        assert alignment_index.BlockRecords(handle, os.path.getsize(bgzf), names).record(first).reference_id == 0
    with open(other, "rb") as handle, pytest.raises(alignment_index.NoRecord):
        alignment_index.BlockRecords(handle, os.path.getsize(other), names).record(first)
