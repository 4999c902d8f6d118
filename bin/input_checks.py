#!/usr/bin/env python3
"""The one home of the checks of an input's content: BAM or CRAM, cut short or not, an index that fits it,
CRAM with its reference, a --fasta samtools can index. Each problem is one line naming the user's file.

They are made twice in a run's life, by the same code: the Nextflow driver runs this script once (--driver,
subworkflows/local/utils_alignment_files: checkedContents) on every local input before any work, and on the
names of remote ones (https://, s3://), which it does not download. A remote input is then checked by the
first task that has it staged: SAMTOOLS_INDEX (through this script's command line) when it has no index, else
PLAN_UNITS (plan_units.py calls input_problem). Python 3.8 (the samtools image's), standard library.
"""

import argparse
import json
import logging
import os
import re
import sys
import zlib

log = logging.getLogger("input_checks")

# Every BGZF file (BAM) ends with this 28-byte empty block; without it the file was cut short.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
# A BGZF block is at most 64 KiB: the first one holds the magic bytes of a BAM or of a CSI index.
HEAD_BYTES = 65536
GZIP_MAGIC = b"\x1f\x8b"


def read_head(path, count=HEAD_BYTES):
    with open(path, "rb") as handle:
        return handle.read(count)


def read_tail(path, count):
    with open(path, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - count))
        return handle.read()


def is_bgzf(head):
    """Whether a gzip header (the first 14 bytes or more) is BGZF's: an extra field with the 'BC' subfield."""
    return len(head) >= 14 and head[:2] == GZIP_MAGIC and bool(head[3] & 4) and head[12:14] == b"BC"


def gunzipped_head(head, count):
    """The first `count` bytes of the content of gzip (or BGZF) data, or None when it is not gzip."""
    if head[:2] != GZIP_MAGIC:
        return None
    try:
        return zlib.decompressobj(31).decompress(head, count)
    except zlib.error:
        return None


def alignment_format(head):
    """'bam' or 'cram' from a file's first bytes, or None when it is neither."""
    if head[:4] == b"CRAM":
        return "cram"
    return "bam" if (gunzipped_head(head, 4) or b"")[:4] == b"BAM\x01" else None


def index_kind(head):
    """What an index holds, from its first bytes: 'bai', 'csi', 'tbi', 'crai' (gzipped numbers) or None."""
    if head[:4] == b"BAI\x01":
        return "bai"
    inner = gunzipped_head(head, 64)
    if inner is None:
        return None
    if inner.startswith(b"CSI\x01"):
        return "csi"
    if inner.startswith(b"TBI\x01"):
        return "tbi"
    return "crai" if re.fullmatch(rb"[0-9\t\n-]*", inner) else None


def alignment_problem(path, shown):
    """(problem line or None, format) of a staged alignment file; `shown` is the user's name for it."""
    if os.path.isdir(path):
        return f"{shown}: not a BAM or CRAM file (a folder)", None
    if os.path.getsize(path) == 0:
        return f"{shown}: not a BAM or CRAM file (empty file)", None
    fmt = alignment_format(read_head(path))
    if fmt is None:
        return f"{shown}: not a BAM or CRAM file (unrecognised content)", None
    if fmt == "bam" and read_tail(path, len(BGZF_EOF)) != BGZF_EOF:
        return f"{shown}: truncated BAM (no BGZF end-of-file marker)", fmt
    return None, fmt


def index_problem(index, shown_index, fmt, file_name):
    """A problem line for the user's index of a file of format `fmt` (named file_name), or None."""
    if os.path.isdir(index):
        return f"{shown_index}: the index is a folder, not a file"
    if os.path.getsize(index) == 0:
        return (
            f"{shown_index}: empty index file (0 bytes): remove it (the pipeline then builds one) or give a valid index"
        )
    kind = index_kind(read_head(index))
    usable = ["crai"] if fmt == "cram" else ["bai", "csi"]
    if kind in usable:
        return None
    what = f"a {kind.upper()} index" if kind else "not a BAI, CSI or CRAI index (unrecognised content)"
    expected = " or ".join("." + suffix for suffix in usable)
    return f"{shown_index}: {what}, which cannot index the {fmt.upper()} file {file_name} (expected {expected})"


def format_by_name(file_name):
    """'bam' or 'cram' by the name of a file that is not read here (remote): its content is checked later."""
    return "cram" if file_name.endswith(".cram") else "bam"


def reference_problem(fmt, shown, has_reference):
    if fmt == "cram" and not has_reference:
        return f"{shown}: CRAM input needs --fasta, the reference it was compressed against"
    return None


def input_problem(alignments, shown, index=None, shown_index="", file_name="", has_reference=True):
    """The first problem of a staged input, or None. index/shown_index: the user's index, when it is checked
    too."""
    problem, fmt = alignment_problem(alignments, shown)
    problem = problem or reference_problem(fmt, shown, has_reference)
    if problem:
        return problem
    if index and shown_index:
        return index_problem(index, shown_index, fmt, file_name or os.path.basename(shown))
    return None


def fasta_problem(path, shown):
    """(problem or None, bgzipped) of a --fasta: samtools faidx indexes a plain or a bgzipped FASTA, not one
    compressed with gzip. `path` None: a remote file, not read, judged by its name `shown`."""
    if path is None:
        return None, bool(re.search(r"\.(gz|bgz)$", shown))
    head = read_head(path, 18)
    if head[:2] == GZIP_MAGIC and not is_bgzf(head):
        problem = f"{shown}: compressed with gzip, which samtools cannot index: use bgzip (or an uncompressed FASTA)"
        return problem, False
    return None, is_bgzf(head)


def driver_check(request):
    """One answer of --driver (see driver_checks)."""
    if "fasta" in request:
        problem, bgzipped = fasta_problem(request["fasta"], request["shown"])
        return {"problem": problem, "bgzipped": bgzipped}
    shown, path = request["shown"], request["alignments"]
    problem, fmt = alignment_problem(path, shown) if path else (None, format_by_name(request["name"]))
    answer = {"format": fmt, "problem": problem, "reference_problem": None, "index_problem": None}
    if not problem:
        answer["reference_problem"] = reference_problem(fmt, shown, request["has_reference"])
        if request.get("index"):
            shown_index = request.get("shown_index") or request["index"]
            answer["index_problem"] = index_problem(request["index"], shown_index, fmt, request["name"])
    return answer


def driver_checks(requests):
    """The driver's questions, in order, answered in order. An alignment file: {alignments: local path, or
    null for a remote file (judged by its name), name: its file name, shown: the user's name for it,
    has_reference: whether --fasta is given, index, shown_index: its local index, or absent} -> {format,
    problem, reference_problem, index_problem}, each problem null or one line, the driver ordering them
    among its own checks. A FASTA: {fasta: local path or null, shown} -> {problem, bgzipped}."""
    return [driver_check(request) for request in requests]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alignments", help="the staged BAM/CRAM")
    # Names may start with '-': pass them as --name=NAME, which argparse never reads as an option.
    parser.add_argument("--name", help="the user's name for it (URL), for messages")
    parser.add_argument(
        "--driver", action="store_true", help="answer the driver's questions: JSON on stdin, JSON on stdout"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    if args.driver:
        json.dump(driver_checks(json.load(sys.stdin)), sys.stdout)
        return 0
    if not (args.alignments and args.name):
        log.error("--alignments and --name are needed (or --driver)")
        return 2
    problem = input_problem(args.alignments, args.name)
    if problem:
        log.error("%s", problem)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
