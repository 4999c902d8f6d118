"""Unit tests for bin/contig_starts.py: the first-record offsets it reads from BAI and CSI indexes are the
offsets of each contig's first record found by reading the whole file; a BAM is said to start every contig
at pos >= 0 exactly when it does; an index it cannot read, a CRAM, or no index answers False."""

import dataclasses
import random
import struct
import subprocess

import alignment_index
import contig_starts as cs
import pysam
import pytest
from conftest import cram_of
from make_test_data import Read, write_bam

# A long contig (its records fill many BGZF blocks), an empty one, a name with ':' and hundreds of small
# contigs whose first records share blocks.
CONTIGS = [("c1", 5000), ("empty", 100), ("c2:1-5", 3000), ("c3", 400_000)] + [(f"s{i:03d}", 500) for i in range(300)]
# Records at pos -1 that `{name}` skips (their end does not pass base 0) and one it counts (2M).
AT_MINUS_ONE = [
    Read("neg_unmapped", 0x4, "c1", -1, None),
    Read("neg_1M", 0, "c1", -1, "1M", length=1),
    Read("neg_5I", 0, "c1", -1, "5I", length=5),
    Read("neg_2M", 0, "c1", -1, "2M", length=2),
]


def placed_reads():
    """Records at pos >= 0 only: placed unmapped ones, one past the @SQ length, unplaced ones at the end."""
    rng = random.Random(11)
    reads = [Read("past", 0, "c1", 6000, "10M", length=10), Read("unplaced", 0x4, None, -1, None)]
    for i in range(4000):
        contig, length = rng.choice([CONTIGS[0], CONTIGS[2], CONTIGS[3], CONTIGS[3], *CONTIGS[4::7]])
        flag = rng.choice([0, 0x10, 0x4])
        start = rng.randrange(0, length - 50)
        reads.append(Read(f"r{i}", flag, contig, start, None if flag & 0x4 else "50M", length=50))
    return reads


# A BAI; CSIs of 2 levels (samtools' default -m 14 for these contig lengths) and of 3 levels (-m 12): the
# pseudo-bin's number follows the depth.
INDEXES = {"bai": None, "csi": ["-c"], "csi-m12": ["-c", "-m", "12"]}


def indexed_bam(path, reads, kind="bai"):
    """(BAM, its index): a BAI, or a CSI made by samtools."""
    write_bam(str(path), CONTIGS, reads, index=kind == "bai")
    if kind != "bai":
        subprocess.run(["samtools", "index", *INDEXES[kind], str(path)], check=True)
    return str(path), f"{path}.{'bai' if kind == 'bai' else 'csi'}"


def offsets_by_reading(bam):
    """{tid: virtual offset of the first record of that contig}, reading every record."""
    first = {}
    with pysam.AlignmentFile(bam) as aln:
        offset = aln.tell()
        for record in aln.fetch(until_eof=True):
            if record.reference_id >= 0:
                first.setdefault(record.reference_id, offset)
            offset = aln.tell()
    return first


def start_placed(bam, index):
    with pysam.AlignmentFile(bam) as aln:
        return cs.contigs_start_placed(aln, index)


@pytest.mark.parametrize("kind", INDEXES)
def test_offsets_are_those_of_each_contigs_first_record(tmp_path, kind):
    bam, index = indexed_bam(tmp_path / "placed.bam", placed_reads(), kind)
    with open(index, "rb") as handle:
        offsets = cs.first_record_offsets(handle.read())
    expected = offsets_by_reading(bam)
    assert offsets == expected
    assert len(expected) > 40 and 1 not in expected  # contigs with records (many share a block); 'empty' has none
    assert start_placed(bam, index)


@pytest.mark.parametrize("kind", INDEXES)
@pytest.mark.parametrize("contig", ["c1", "c3", "s294"])
@pytest.mark.parametrize("record", AT_MINUS_ONE, ids=lambda r: r.name)
def test_a_contig_that_starts_at_pos_minus_one_is_found(tmp_path, kind, contig, record):
    """On the first contig, a long one in the middle, or the last with records; even a record `{name}`
    counts (2M) answers False: a scan would be right there, but the question is only whether it may run."""
    reads = [*placed_reads(), dataclasses.replace(record, contig=contig)]
    bam, index = indexed_bam(tmp_path / "minus_one.bam", reads, kind)
    assert not start_placed(bam, index)


def test_an_index_it_cannot_read_answers_false(tmp_path):
    bam, index = indexed_bam(tmp_path / "placed.bam", placed_reads())
    data = open(index, "rb").read()
    for name, content in [("cut", data[: len(data) // 2]), ("magic", b"XYZ\x01" + data[4:]), ("empty", b"")]:
        broken = tmp_path / f"{name}.bai"
        broken.write_bytes(content)
        assert not start_placed(bam, str(broken)), name
    assert not start_placed(bam, str(tmp_path / "absent.bai"))
    assert not start_placed(bam, None)


def without_pseudo_bins(bai):
    """The BAI bytes with every contig's metadata pseudo-bin left out (as an indexer that writes none)."""
    out, pos = [bai[:8]], 8
    (n_refs,) = struct.unpack_from("<i", bai, 4)
    for _ in range(n_refs):
        (n_bins,) = struct.unpack_from("<i", bai, pos)
        pos += 4
        kept = []
        for _ in range(n_bins):
            bin_id, n_chunks = struct.unpack_from("<Ii", bai, pos)
            size = 8 + 16 * n_chunks
            if bin_id != alignment_index.BAI_PSEUDO_BIN:
                kept.append(bai[pos : pos + size])
            pos += size
        (n_intervals,) = struct.unpack_from("<i", bai, pos)
        linear = bai[pos : pos + 4 + 8 * n_intervals]
        pos += len(linear)
        out += [struct.pack("<i", len(kept)), *kept, linear]
    return b"".join(out) + bai[pos:]


def test_an_index_without_pseudo_bins_cannot_tell(tmp_path):
    bam, index = indexed_bam(tmp_path / "placed.bam", placed_reads())
    stripped = without_pseudo_bins(open(index, "rb").read())
    assert cs.first_record_offsets(stripped) is None
    (tmp_path / "stripped.bai").write_bytes(stripped)
    assert not start_placed(bam, str(tmp_path / "stripped.bai"))
    # samtools still reads the stripped index: it is a valid BAI, only without the statistics
    result = subprocess.run(["samtools", "view", "-c", "-X", bam, str(tmp_path / "stripped.bai"), "c3"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert int(result.stdout) > 0


def test_the_index_of_another_file_answers_false(tmp_path):
    """Offsets that are not where this file's contigs begin (an index of a file with other records)."""
    bam, _ = indexed_bam(tmp_path / "placed.bam", placed_reads())
    other = [dataclasses.replace(r, pos=r.pos + 7, name=f"{r.name}_other_name") for r in placed_reads()[:2000]]
    _, other_index = indexed_bam(tmp_path / "other.bam", other)
    assert not start_placed(bam, other_index)


def test_a_cram_answers_false(tmp_path):
    bam, _ = indexed_bam(tmp_path / "placed.bam", [r for r in placed_reads() if r.name != "past"])
    cram, reference = cram_of(bam, CONTIGS, tmp_path)
    with pysam.AlignmentFile(cram, reference_filename=reference) as aln:
        assert not cs.contigs_start_placed(aln, f"{cram}.crai")
