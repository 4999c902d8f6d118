"""Unit tests for bin/bam_stream.py: records per contig of a `samtools view -u` stream, against
`samtools view -c <file> {name}` on the same file (BAM and CRAM), edge records included."""

import io
import random
import shlex
import subprocess

import bam_stream
import pysam
import pytest
from conftest import samtools_count
from make_test_data import Read, write_bam

CONTIGS = [("c1", 1000), ("c2:1-5", 500), ("c3", 800), ("empty", 100)]


# Records placed at pos -1 (mapped, with CIGARs that do and do not reach base 0; unmapped). samtools index
# refuses some orders of several such records on one contig, so each goes into a BAM of its own.
AT_MINUS_ONE = [
    Read("neg_unmapped", 0x4, "c1", -1, None),
    Read("neg_1M", 0, "c1", -1, "1M", length=1),
    Read("neg_2M", 0, "c1", -1, "2M", length=2),
    Read("neg_clip", 0, "c1", -1, "3S1M", length=4),
    Read("neg_del", 0, "c1", -1, "1M4D1M", length=2),
    Read("neg_ins", 0, "c1", -1, "5I", length=5),
]


def edge_reads(at_minus_one=AT_MINUS_ONE[2]):
    """Records whose contig count depends on htslib's overlap rule: one placed at pos -1, records past the
    @SQ length, placed unmapped, unplaced; then ordinary ones."""
    reads = [
        at_minus_one,
        Read("past", 0, "c1", 1500, "10M", length=10),
        Read("past_unmapped", 0x4, "c2:1-5", 700, None),
        Read("unplaced", 0x4, None, -1, None),
    ]
    rng = random.Random(3)
    for i in range(400):
        contig, length = rng.choice(CONTIGS[:3])
        flag = rng.choice([0, 0x10, 0x4, 0x400, 0x100])
        reads.append(Read(f"r{i}", flag, contig, rng.randrange(0, length), None if flag & 0x4 else "20M", length=20))
    return reads


@pytest.fixture(scope="module")
def edge_bam(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("edge") / "edge.bam")
    write_bam(path, CONTIGS, edge_reads())
    return path


def stream_of(path, *options):
    """The `samtools view -u` output of a file, as a binary stream."""
    result = subprocess.run(["samtools", "view", "-u", *options, path], capture_output=True, check=True)
    return io.BytesIO(result.stdout)


def expected_counts(path, options=""):
    """`samtools view -c <options> path {name}` of each contig."""
    return [samtools_count(path, f"{{{name}}}", options) for name, _ in CONTIGS]


@pytest.mark.parametrize("options", ["", "-F 0x4", "-q 30", "-e 'pos < 500'"])
def test_counts_per_contig_equal_samtools_view_c_of_each_contig(edge_bam, options):
    names, counts = bam_stream.contig_record_counts(stream_of(edge_bam, *shlex.split(options)))
    assert names == [name for name, _ in CONTIGS]
    assert counts == expected_counts(edge_bam, options)


@pytest.mark.parametrize("record", AT_MINUS_ONE, ids=lambda r: r.name)
def test_a_record_at_pos_minus_one_counts_only_when_it_reaches_base_zero(tmp_path, record):
    """htslib's `{c1}` keeps a pos -1 record whose end (bam_endpos) lies past base 0 (2M, 1M4D1M), not one
    that spans base -1 only (1M, 3S1M, 5I: one base; unmapped)."""
    path = str(tmp_path / "minus_one.bam")
    write_bam(path, CONTIGS, edge_reads(record))
    _, counts = bam_stream.contig_record_counts(stream_of(path))
    assert counts == expected_counts(path)
    _, alone = bam_stream.contig_record_counts(stream_of(path, "-e", f'qname == "{record.name}"'))
    assert alone[0] == samtools_count(path, "{c1}", f"-e 'qname == \"{record.name}\"'")
    assert alone[0] == (1 if record.name in ("neg_2M", "neg_del") else 0)


def test_a_cram_stream_counts_as_samtools_counts_the_cram(tmp_path):
    """A CRAM of the ordinary records (htslib cannot decode CRAM records that reach past the reference),
    placed unmapped and unplaced ones among them."""
    bam = str(tmp_path / "plain.bam")
    write_bam(bam, CONTIGS, [r for r in edge_reads() if r.name.startswith("r") or r.name == "unplaced"])
    reference = tmp_path / "ref.fa"
    reference.write_text("".join(f">{name}\n{'ACGT' * (length // 4)}\n" for name, length in CONTIGS))
    pysam.faidx(str(reference))
    cram = str(tmp_path / "edge.cram")
    subprocess.run(["samtools", "view", "-C", "-T", str(reference), "-o", cram, bam], check=True)
    subprocess.run(["samtools", "index", cram], check=True)
    _, counts = bam_stream.contig_record_counts(stream_of(cram, "-T", str(reference)))
    assert counts == expected_counts(cram, f"-T {reference}")


def test_a_header_spanning_many_blocks(tmp_path):
    """6,000 contigs with long names: the header fills several 64 KiB BGZF blocks before the first record."""
    contigs = [(f"contig_{i:05d}_{'x' * 40}", 1000) for i in range(6000)]
    reads = [Read(f"r{i}", 0, contigs[i * 7 % 6000][0], i % 900, "10M", length=10) for i in range(3000)]
    path = str(tmp_path / "many.bam")
    write_bam(path, contigs, reads)
    raw = stream_of(path).getvalue()
    assert raw.count(b"\x1f\x8b\x08\x04") > 4  # the header alone is several blocks
    names, counts = bam_stream.contig_record_counts(io.BytesIO(raw))
    assert names == [name for name, _ in contigs]
    expected = [0] * 6000
    for i in range(3000):
        expected[i * 7 % 6000] += 1
    assert counts == expected


def test_a_cut_stream_is_an_error_never_a_count(edge_bam):
    raw = stream_of(edge_bam).getvalue()
    for cut in (10, 30, len(raw) // 2, len(raw) - 40):
        with pytest.raises(bam_stream.BamStreamError, match="ends inside"):
            bam_stream.contig_record_counts(io.BytesIO(raw[:cut]))


def test_a_stream_that_is_not_bam_is_an_error(tmp_path):
    with pytest.raises(bam_stream.BamStreamError, match="not BGZF"):
        bam_stream.contig_record_counts(io.BytesIO(b"@HD\tVN:1.6\n" * 10))
    sam_in_bgzf = tmp_path / "x.sam.gz"
    with pysam.libcbgzf.BGZFile(str(sam_in_bgzf), "wb") as out:
        out.write(b"@HD\tVN:1.6\n")
    with pytest.raises(bam_stream.BamStreamError, match="no BAM magic"):
        bam_stream.contig_record_counts(io.BytesIO(sam_in_bgzf.read_bytes()))
