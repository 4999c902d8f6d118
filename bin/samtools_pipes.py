"""Running samtools for count_unit.py: argument lists (never a shell: contig names may hold ``$ ; & | * : ,``),
exit statuses and error output judged, output streamed into a counter, and `samtools view | samtools idxstats -`.

``samtools view -c`` exits 0 and prints 0 for some region errors, so any output on samtools' stderr (but a
known harmless warning) marks the items of that call as failed; the reducer reports them. A samtools killed
by a signal (out of memory) raises samtools_options.SamtoolsKilled: count_unit.py exits with that status, so
that Nextflow can retry the task.
"""

import contextlib
import fcntl
import functools
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

import samtools_options
from overlap_sweep import RecordOrderError
from task_files import Outcome

log = logging.getLogger("count_unit")  # the messages are count_unit.py's

MESSAGE_MAX_CHARS = 2000
# Warnings that say nothing is wrong: htslib's multi-region CRAM iterator notes regions without reads.
# hts_idx_load3: an index staged beside its BAM is the user's (its freshness is checked on the original files by
# the pipeline); staged copies of remote files have their download times as mtimes, the index maybe the older.
HARMLESS_STDERR = (
    re.compile(r"^\[W::hts_itr_multi_cram\] No index entry for region "),
    re.compile(r"^\[W::hts_idx_load3\] The index file is older than the data file"),
)
# `samtools idxstats` finds no index for its input (a stream '-', or a file alone in a folder) and says so;
# then it counts the records it reads.
IDXSTATS_NO_INDEX = (
    "[E::idx_find_and_load] Could not retrieve index file for '{}'",
    'samtools idxstats: fail to load index for "{}", reverting to slow method',
)
SCANNED_FILE = "alignments"  # the name of a scanned file in its empty folder
# How long a samtools whose output could not be counted may take to exit by itself (then its status counts).
STOPPED_SAMTOOLS_WAIT_SECONDS = 2


def view_command(samtools, common, expression, extra):
    command = [samtools, "view", *common]
    if expression:
        command += ["-e", expression]
    return command + extra


def check_exit(result, what):
    """Raise SamtoolsKilled for a killed samtools; return an error message for any other failure."""
    code = samtools_options.exit_status(result.returncode)
    stderr = "\n".join(
        line
        for line in result.stderr.strip().splitlines()
        if not any(pattern.match(line) for pattern in HARMLESS_STDERR)
    )
    if samtools_options.killed_by_signal(code):
        raise samtools_options.SamtoolsKilled(
            code, f"samtools was killed or ran out of memory (exit {code}) counting {what}: {stderr}"
        )
    if code != 0:
        return f"samtools exited with status {code}: {stderr or '(no error output)'}"
    if stderr:
        return f"samtools reported an error: {stderr}"
    return ""


def shorten(message):
    message = " | ".join(line.strip() for line in message.splitlines() if line.strip())
    return message if len(message) <= MESSAGE_MAX_CHARS else message[:MESSAGE_MAX_CHARS] + " ..."


def samtools_count(samtools, common, expression, target, region):
    """(count, error message) of one `samtools view -c` call."""
    command = view_command(samtools, ["-c", *common], expression, [*target, region])
    log.debug("running %s", shlex.join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    error = check_exit(result, region)
    if error:
        return 0, error
    try:
        return int(result.stdout.strip()), ""
    except ValueError:
        return 0, f"samtools printed no count: {result.stdout!r}"


def read_back(handle):
    """The text a temporary file (a samtools stderr) holds."""
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


# The kernel buffer of the pipe a counter reads samtools' output from: 1 MB, the most an unprivileged process may
# ask by default (/proc/sys/fs/pipe-max-size). With 64 kB, samtools waits on the pipe while the records already
# read are counted: a cohort unit of 8 samples (`samtools view -u -M -L`, 109 MB piped) took 3.43-3.55 s, with
# 1 MB (and bam_records.READ_BYTES 1 MB) 3.23-3.28 s, the same CPU time.
PIPE_BYTES = 1 << 20
# fcntl.F_SETPIPE_SZ came with Python 3.10; the samtools container's Python is 3.8: Linux's number (fcntl.h) then.
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031) if sys.platform.startswith("linux") else None


def widened(pipe):
    """The pipe, its buffer made PIPE_BYTES where the system lets us (Linux), else as it was."""
    if F_SETPIPE_SZ is None:
        return pipe
    try:
        fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # a lower pipe-max-size, or not a pipe: the buffer it has will do
        pass
    return pipe


def stream_counts(command, count, n_counts, what, workdir):
    """Outcomes of one samtools view call whose output (SAM lines) `count` turns into
    n_counts counts; every one fails when the call does, or when `count` cannot read the output (records
    out of coordinate order, a malformed line, a cut stream): then samtools is stopped and its output
    thrown away. A samtools that ended by itself is judged by its own status first: killed (out of memory),
    the task is retried, whatever its cut output made of the count."""
    log.debug("running %s", shlex.join(command))
    killed_by_us = False
    with tempfile.TemporaryFile("w+b", dir=workdir) as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file)
        try:
            counts, error = count(widened(process.stdout)), ""
        # int() of a non-number, a line too short, a cut BAM stream (BamStreamError is a ValueError)
        except (RecordOrderError, ValueError, IndexError) as err:
            counts, error = None, f"cannot count the output of samtools ({err})"
            try:  # a cut stream usually means samtools stopped: give it a moment to say how
                process.wait(timeout=STOPPED_SAMTOOLS_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()  # our kill: its status then says nothing about samtools
                killed_by_us = True
        finally:
            process.stdout.close()
            process.wait()
        stderr = read_back(stderr_file)
    if killed_by_us:
        error += f"; samtools: {stderr}" if stderr.strip() else ""
    else:  # samtools' own failure, if any, says more than what its cut output did to the count
        error = check_exit(subprocess.CompletedProcess(command, process.returncode, "", stderr), what) or error
    if error:
        return [Outcome(0, "error", shorten(error)) for _ in range(n_counts)]
    return counted_outcomes(counts)


def counted_outcomes(counts):
    """The Outcome of each count: looked up below 10,000 (92,868 counts: 3 ms, 25 ms made one by one)."""
    try:
        return list(map(COUNTED_OUTCOMES.__getitem__, counts))
    except KeyError:
        return [Outcome(n) for n in counts]


COUNTED_OUTCOMES = {count: Outcome(count) for count in range(10_000)}


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is 3.9+: the samtools image has 3.8)
def idxstats_rows(samtools, target):
    """(contig, length, mapped, unmapped) of each contig, in header order, from `samtools idxstats` (the index
    alone, ~25 ms for a BAM), or [] when it cannot tell (a CRAM index has no statistics and idxstats would
    read the whole file; a failure). Asked once per sample (cached)."""
    try:
        with open(target[0].split("##idx##")[0], "rb") as handle:
            if handle.read(4) == b"CRAM":
                return []
    except OSError:
        return []
    try:
        result = subprocess.run([samtools, "idxstats", *target], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    rows = []
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[0] != "*" and all(field.isdigit() for field in fields[1:]):
            rows.append((fields[0], *map(int, fields[1:])))
    return rows


def idxstats_names(samtools, target):
    """The contig names in header order (idxstats_rows)."""
    return [row[0] for row in idxstats_rows(samtools, target)]


def idxstats_records(samtools, options, workdir, what, view=None, alignments=None):
    """({contig: records}, error message) of `samtools idxstats` counting the records it reads: those of the
    `view` command's stream (`view | samtools idxstats -`) or of the file `alignments`. idxstats runs in an
    empty folder, the file linked there alone: no file can pass for an index, so it reads the records. A
    killed samtools (out of memory) raises samtools_options.SamtoolsKilled; a view that fails, an idxstats that fails or
    read an index, or output that is not idxstats' is an error, never a count."""
    name = "-" if view else SCANNED_FILE
    # Resolved here: idxstats runs in another folder, where a relative path would name nothing.
    idxstats = [shutil.which(samtools) or samtools, "idxstats", *options, name]
    log.debug("running %s%s", f"{shlex.join(view)} | " if view else "", shlex.join(idxstats))
    # An ExitStack, not a parenthesized `with` (Python 3.9+): the counter's image has Python 3.8.
    with contextlib.ExitStack() as stack:
        empty = stack.enter_context(tempfile.TemporaryDirectory(dir=workdir))
        view_err = stack.enter_context(tempfile.TemporaryFile("w+b", dir=workdir))
        idxstats_err = stack.enter_context(tempfile.TemporaryFile("w+b", dir=workdir))
        if view is None:
            os.symlink(os.path.abspath(alignments), os.path.join(empty, SCANNED_FILE))
        producer = subprocess.Popen(view, stdout=subprocess.PIPE, stderr=view_err) if view else None
        try:
            consumer = subprocess.Popen(
                idxstats,
                stdin=producer.stdout if producer else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=idxstats_err,
                cwd=empty,
            )
        finally:
            if producer:
                producer.stdout.close()  # idxstats holds the pipe: view gets SIGPIPE should idxstats stop
        output = consumer.communicate()[0]
        if producer:
            producer.wait()
        view_stderr, idxstats_stderr = (read_back(handle) for handle in (view_err, idxstats_err))
    no_index = [line.format(name) for line in IDXSTATS_NO_INDEX]
    lines = idxstats_stderr.splitlines()
    counted_the_records = all(line in lines for line in no_index)
    idxstats_stderr = "\n".join(line for line in lines if line not in no_index)
    idxstats_result = subprocess.CompletedProcess(idxstats, consumer.returncode, "", idxstats_stderr)
    if producer is None:
        error = check_exit(idxstats_result, what)
    elif producer.returncode == -signal.SIGPIPE:  # idxstats stopped reading: its own status says why
        error = check_exit(idxstats_result, what) or "samtools idxstats stopped reading the stream"
    else:
        view_result = subprocess.CompletedProcess(view, producer.returncode, "", view_stderr)
        error = check_exit(view_result, what) or check_exit(idxstats_result, what)
    if not error and not counted_the_records:
        error = f"samtools idxstats did not say it counted the records, not an index: {idxstats_stderr!r}"
    if error:
        return {}, error
    try:
        return idxstats_counts(output.decode("utf-8", "surrogateescape")), ""
    except ValueError as err:
        return {}, f"cannot read the output of samtools idxstats ({err})"


def idxstats_counts(text):
    """{contig: mapped + unmapped records} of `samtools idxstats` output (name, length, mapped, unmapped;
    the last line, '*', the unplaced records). A name listed twice keeps its first line: the tid that
    htslib's `{name}` finds. ValueError for output of another shape."""
    lines = text.splitlines()
    if not lines or not lines[-1].startswith("*\t"):
        raise ValueError("no line '*' (unplaced records) at the end")
    counts = {}
    for line in lines[:-1]:
        name, _length, mapped, unmapped = line.rsplit("\t", 3)
        counts.setdefault(name, int(mapped) + int(unmapped))
    return counts


def checked_options(samtools, samtools_args):
    """The user's options, parsed and accepted by samtools (one call on a one-record input), before any
    region is counted. SamtoolsArgsError when refused; SamtoolsKilled when that samtools is killed."""
    return samtools_options.verify(samtools, samtools_args)
