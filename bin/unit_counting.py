"""A unit's items counted sample by sample, each sample's in its own files (so that a failure in one sample's
file never touches another's counts), each group of items by its mode (count_modes.py); a shared pass that
fails is counted again in halves, to name exactly the failing items.
"""

import functools
import logging
from typing import NamedTuple, Optional

from count_modes import count_batch, count_pass, count_scan, count_single, placed, same_list_cache
from samtools_pipes import checked_options, shorten
from task_files import ALL_SAMPLES, PASS_MODES, Outcome, TaskFileError, bed_writable

log = logging.getLogger("count_unit")  # the messages are count_unit.py's


# samtools calls that may tell apart the items of a failed shared pass (recount_failed_pass): a few corrupt
# blocks cost tens of calls; a file corrupt everywhere fails after this many, not after one call per region.
FALLBACK_MAX_CALLS = 500


def count_sample_items(items, files, samtools, common, user_expression, workdir, scan_threads=None, statistics=None):
    """Outcome of every item of one sample, in order, counted in that sample's files. scan_threads: None
    when the user filters (or the input is CRAM): a scan is then counted as a pass. statistics: the planner's
    index_statistics.tsv, or None (count_modes.contig_densities)."""
    # htslib's "file##idx##index" form: -X would want region arguments, which a -L batch call has none of.
    target = [f"{files.alignments}##idx##{files.index}" if files.index else files.alignments]
    count_batch_here = functools.partial(count_batch, planned=(statistics, files.sample) if statistics else None)
    outcomes = [None] * len(items)
    (passes, pass_items), (batch, batch_items), alone = shared_groups(items)
    for shared, shared_items, count in ((passes, pass_items, count_pass), (batch, batch_items, count_batch_here)):
        if not shared:
            continue
        if count is count_pass and scan_threads is not None and all(item.mode == "scan" for item in shared_items):
            counted = count_scan(shared_items, samtools, scan_threads, files.alignments, workdir)
        else:
            counted = count(shared_items, samtools, common, user_expression, target, workdir)
        failed = first_failed(counted)
        if failed:
            # One bad block fails a whole pass: its halves are counted again to name exactly the failing items.
            log.warning(
                "%s: a %s pass over %d regions failed (%s); counting them again in halves",
                files.sample or items[0].sample,
                items[shared[0]].mode,
                sum(outcome.status != "ok" for outcome in counted),
                failed.message,
            )
            counted = recount_failed_pass(
                shared_items,
                failed.message,
                lambda part: count_batch_here(part, samtools, common, user_expression, target, workdir),
                lambda item: count_single(item, samtools, common, user_expression, target),
            )
        placed(outcomes, shared, counted)
    for i in alone:
        outcomes[i] = count_single(items[i], samtools, common, user_expression, target)
    return outcomes


@same_list_cache
def shared_groups(items):
    """(indexes, items) of a sample's items counted by one region-less pass, then of its batch items, and the
    indexes of the items counted alone; made once per list of items (a shared plan's are counted in every
    sample's files)."""
    # An open-ended piece that is not a whole contig is never planned as a batch item, nor is an item of a contig
    # whose name a BED cannot hold (task_files.bed_writable: a plan of an older version, cached by -resume, may
    # have batched one); counted alone if it were.
    passes = [i for i, item in enumerate(items) if item.mode in PASS_MODES and item.whole_contig]
    batchable = {contig: bed_writable(contig) for contig in {item.contig for item in items}}
    batch = [
        i
        for i, item in enumerate(items)
        if item.mode == "batch" and (item.whole_contig or not item.open_end) and batchable[item.contig]
    ]
    alone = sorted(set(range(len(items))).difference(passes, batch))
    return (passes, [items[i] for i in passes]), (batch, [items[i] for i in batch]), alone


def first_failed(outcomes):
    """The first outcome whose status is not ok, or None: statuses compared in C."""
    statuses = [outcome.status for outcome in outcomes]
    if statuses.count("ok") == len(statuses):
        return None
    return next(outcome for outcome in outcomes if outcome.status != "ok")


def halves(first, end, error):
    """The halves of items [first, end) as (first, end, error) to pop from a stack: the first half first."""
    if end - first < 2:
        return [(first, end, error)]
    middle = (first + end) // 2
    return [(middle, end, error), (first, middle, error)]


def recount_failed_pass(items, error, count_together, count_alone, max_calls=None):
    """Outcomes of the items of a shared pass that failed with `error`, in order: each half counted by one
    pass (count_together: items -> outcomes; a region-less pass is recounted as `{name}` batches), a half
    that fails again halved in turn, an item alone counted by count_alone (its own samtools error). A
    corrupt block costs O(failed items x log n) calls, not one per item; after max_calls calls (a file
    corrupt everywhere) the items not yet told apart fail with the error of the pass they were in. Every
    count reported is a pass's or a call's that succeeded: exact."""
    max_calls = FALLBACK_MAX_CALLS if max_calls is None else max_calls
    outcomes = [None] * len(items)
    pending = halves(0, len(items), error)  # the whole pass failed already: its halves first
    calls = 0
    while pending:
        first, end, error = pending.pop()
        if calls >= max_calls:
            note = f"not counted alone: a pass over {end - first} regions with it failed ({error})"
            outcomes[first:end] = [Outcome(0, "error", shorten(note))] * (end - first)
            continue
        calls += 1
        if end - first == 1:
            outcomes[first] = count_alone(items[first])
            continue
        counted = count_together(items[first:end])
        failed = first_failed(counted)
        if failed:
            pending += halves(first, end, failed.message)
        else:
            outcomes[first:end] = counted
    return outcomes


def items_by_sample(items):
    """Indexes of the items of each sample, samples in order of first appearance."""
    by_sample = {}
    for index, item in enumerate(items):
        by_sample.setdefault(item.sample, []).append(index)
    return by_sample


class Counting(NamedTuple):
    """How a unit's items are counted: the user's options checked once (counting), for every sample."""

    samtools: str
    common: list  # samtools view options of every call: threads, reference, the user's options
    expression: str  # the user's -e expression ('' for none)
    scan_threads: int  # None when a scan must be a pass (the user filters, or a CRAM reference)
    workdir: str
    statistics: Optional[str] = None  # the planner's index_statistics.tsv (count_modes.contig_densities)


def counting(samtools, reference, threads, samtools_args, workdir, statistics=None):
    """The Counting of a unit; SamtoolsArgsError for refused options, before any region is counted."""
    user = checked_options(samtools, samtools_args)  # once per unit: the same options for every sample
    common = [*(["-@", str(threads)] if threads > 0 else []), *(["-T", reference] if reference else []), *user.options]
    # A scan applies no option: with the user's filters (or a CRAM reference) its samples are passes.
    scan_threads = None if user.options or user.expression or reference else threads
    return Counting(samtools, common, user.expression, scan_threads, workdir, statistics)


def count_items(items, files, how):
    """Outcomes of one sample's items, counted in its files."""
    return count_sample_items(
        items, files, how.samtools, how.common, how.expression, how.workdir, how.scan_threads, how.statistics
    )


def missing_samples_problem(items, samples):
    """TaskFileError for items of samples the manifest lacks (ALL_SAMPLES stands for all of it)."""
    missing = [sample for sample in items_by_sample(items) if sample not in samples and sample != ALL_SAMPLES]
    if missing:
        raise TaskFileError("samples of the unit missing from the sample manifest: " + ", ".join(map(repr, missing)))


def count_own_items(items, samples, how):
    """Outcome of every item, in unit order, each sample's items counted in its own files (`samples`:
    name -> SampleFiles), so that one sample's failures never touch another's counts."""
    outcomes = [None] * len(items)
    for sample, indexes in items_by_sample(items).items():
        for i, outcome in zip(indexes, count_items([items[i] for i in indexes], samples[sample], how)):
            outcomes[i] = outcome
    return outcomes


def count_unit(items, samples, samtools, reference, threads, samtools_args, workdir):
    """Outcome of every item (none of ALL_SAMPLES), in unit order (count_own_items). Raises TaskFileError for an
    item of a sample the manifest lacks and SamtoolsArgsError for refused options, before any counting."""
    missing_samples_problem(items, samples)
    return count_own_items(items, samples, counting(samtools, reference, threads, samtools_args, workdir))


def counted_blocks(items, samples, how):
    """(items, outcomes) of the unit: its own items in unit order, then the ALL_SAMPLES items once per sample
    of the manifest (in its order), made and counted one sample at a time: a task holds one sample's copy
    of a shared plan's items, whatever the number of samples."""
    own = [item for item in items if item.sample != ALL_SAMPLES]
    if own:
        yield None, own, count_own_items(own, samples, how)
    shared = [item for item in items if item.sample == ALL_SAMPLES] if len(own) < len(items) else []
    for sample, files in samples.items() if shared else ():
        yield sample, shared, count_items(shared, files, how)
