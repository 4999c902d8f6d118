"""Unit tests for bin/counts_matrix.py: exact matrix and MultiQC custom-content text."""

import itertools
import os
import random

import counts_matrix as cm
import pytest
import task_files
import task_warnings
import tsv_files
from conftest import samtools_count
from make_test_data import TEST_CONTIGS, random_pairs, write_bam


def write_table(folder, sample, rows):
    path = folder / f"{sample}.counts.tsv"
    path.write_text("region\tlength\tcount\n" + "".join(f"{name}\t100\t{count}\n" for name, count in rows))
    return str(path)


def run(tmp_path, tables, *options):
    paths = [write_table(tmp_path, sample, rows) for sample, rows in tables.items()]
    return cm.main(["--outdir", str(tmp_path), *options, *paths])


def test_matrix_bargraph_and_general_stats_are_exact(tmp_path):
    # Given in reverse order: columns are sorted; rows follow the first sample (s1), then new regions.
    code = run(
        tmp_path,
        {
            "s2": [("chr2", 4), ("1", 7), ("chrX", 1)],
            "s1": [("1", 10), ("chr2", 0), ("HLA-A*01:01", 3)],
        },
    )
    assert code == 0
    assert (tmp_path / "counts_matrix.tsv").read_text() == (
        "region\ts1\ts2\n" "1\t10\t7\n" "chr2\t0\t4\n" "HLA-A*01:01\t3\tNA\n" "chrX\tNA\t1\n"
    )
    assert (tmp_path / "region_counts_mqc.tsv").read_text() == (
        "# id: 'region_counts'\n"
        "# section_name: 'Reads per region'\n"
        "# description: 'Reads counted per region (samtools view -c).'\n"
        "# plot_type: 'bargraph'\n"
        "# file_format: 'tsv'\n"
        "# pconfig:\n"
        "#     id: 'region_counts_plot'\n"
        "#     title: 'regioncount: reads per region'\n"
        "#     ylab: 'Reads'\n"
        "#     cpswitch_counts_label: 'Reads'\n"
        'Sample\t"1"\t"chr2"\t"HLA-A*01:01"\t"chrX"\n'
        "s1\t10\t0\t3\t0\n"
        "s2\t7\t4\t0\t1\n"
    )
    assert (tmp_path / "region_counts_general_stats_mqc.tsv").read_text() == (
        "# id: 'region_counts_general_stats'\n"
        "# plot_type: 'generalstats'\n"
        "# file_format: 'tsv'\n"
        "# headers:\n"
        "#     total_reads:\n"
        "#         title: 'Reads counted'\n"
        "#         description: 'Reads counted over all regions (sum of the per-region counts)'\n"
        "#         format: '{:,.0f}'\n"
        "#         scale: 'Blues'\n"
        "Sample\ttotal_reads\n"
        "s1\t13\n"
        "s2\t12\n"
    )


def test_bargraph_shows_the_top_regions_and_sums_the_rest(tmp_path):
    code = run(
        tmp_path,
        {
            "a": [("r1", 1), ("r2", 50), ("r3", 2), ("r4", 30), ("r5", 0)],
            "b": [("r1", 1), ("r2", 0), ("r3", 2), ("r4", 30), ("r5", 3)],
        },
        "--top-regions",
        "2",
    )
    assert code == 0
    lines = (tmp_path / "region_counts_mqc.tsv").read_text().splitlines()
    assert lines[2] == (
        "# description: 'Reads counted per region (samtools view -c): "
        "the 2 regions with most reads; the other 3 summed.'"
    )
    # Shown regions keep the matrix order; the other three (r1, r3, r5) are summed per sample.
    assert lines[-3:] == ['Sample\t"r2"\t"r4"\t"other regions (3)"', "a\t50\t30\t3", "b\t0\t30\t6"]


def test_thousands_of_contigs_give_25_categories(tmp_path):
    rows = [(f"contig{i}", i % 97) for i in range(3000)]
    assert run(tmp_path, {"x": rows, "y": rows}) == 0
    header = (tmp_path / "region_counts_mqc.tsv").read_text().splitlines()[-3]
    assert len(header.split("\t")) == 1 + 24 + 1
    assert header.endswith('"other regions (2976)"')
    assert len((tmp_path / "counts_matrix.tsv").read_text().splitlines()) == 3001


def test_repeated_region_names_are_matched_by_occurrence():
    samples, rows = cm.build_matrix({"b": [("dup", 1), ("dup", 2)], "a": [("dup", 5), ("u", 1), ("dup", 6)]})
    assert samples == ["a", "b"]
    assert rows == [("dup", {"a": 5, "b": 1}), ("u", {"a": 1}), ("dup", {"a": 6, "b": 2})]


def bargraph(path):
    """(categories, {sample: [counts]}) of a MultiQC bar-graph file."""
    rows = [line.split("\t") for line in path.read_text().splitlines() if not line.startswith("#")]
    assert rows[0][0] == "Sample" and all(cell.startswith('"') and cell.endswith('"') for cell in rows[0][1:])
    return [cell[1:-1] for cell in rows[0][1:]], {row[0]: [int(c) for c in row[1:]] for row in rows[1:]}


def test_nine_regions_sharing_names_give_nine_bars_with_samtools_counts(tmp_path):
    """The user's report: 9 BED regions, some sharing a name, were 8 bars. One of them is really named
    'exon (2)', so the second 'exon' must be labelled otherwise."""
    regions = [
        ("exon", "chr1", 0, 50_000),
        ("intron", "chr1", 50_000, 60_000),
        ("exon", "chr1", 100_000, 160_000),
        ("exon (2)", "chr2", 0, 30_000),
        ("exon", "chr2", 100_000, 200_000),
        ("HLA", "HLA-A*01:01:01:01", 0, 3_503),
        ("chrM", "chrM", 0, 16_569),
        ("exon", "chr3:100-200", 0, 20_000),
        ("intron", "chr2", 30_000, 40_000),
    ]
    labels = ["exon", "intron", "exon (3)", "exon (2)", "exon (4)", "HLA", "chrM", "exon (5)", "intron (2)"]
    expected = {}
    for sample, seed in (("s1", 1), ("s2", 2)):
        reads = random_pairs(TEST_CONTIGS, 600, random.Random(seed))
        bam = write_bam(str(tmp_path / f"{sample}.bam"), TEST_CONTIGS, reads)
        expected[sample] = [samtools_count(bam, f"{{{c}}}:{s + 1}-{e}") for _, c, s, e in regions]
    assert expected["s1"] != expected["s2"] and all(sum(counts) > 0 for counts in expected.values())
    tables = {sample: [(name, n) for (name, *_), n in zip(regions, counts)] for sample, counts in expected.items()}
    assert run(tmp_path, tables) == 0
    categories, counts = bargraph(tmp_path / "region_counts_mqc.tsv")
    assert len(set(categories)) == 9 and categories == labels
    assert counts == expected
    # The matrix keeps the names as they are, repeats included.
    matrix = [line.split("\t") for line in (tmp_path / "counts_matrix.tsv").read_text().splitlines()[1:]]
    assert matrix == [[name, str(a), str(b)] for (name, *_), a, b in zip(regions, expected["s1"], expected["s2"])]


def test_labels_number_later_occurrences_and_never_take_a_real_name():
    def labels(names):
        labeler = cm.Labeler(names)
        return [labeler.label(name) for name in names]

    assert labels(["a", "b", "c"]) == ["a", "b", "c"]
    assert labels(["a", "a", "a (2)", "b", "a", "a (3)"]) == ["a", "a (4)", "a (2)", "b", "a (5)", "a (3)"]


def test_shown_repeats_keep_their_occurrence_number_and_other_never_takes_a_region_name():
    rows = [("dup", {"x": 1}), ("other regions (2)", {"x": 50}), ("dup", {"x": 40}), ("u", {"x": 2})]
    categories = cm.plot_categories(["x"], rows, 2)
    assert categories == [
        ("other regions (2)", {"x": 50}),
        ("dup (2)", {"x": 40}),
        ("other regions (2) (2)", {"x": 3}),
    ]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("region\tcount\nchr1\t3\n", "expected the header 'region\tlength\tcount'"),
        (
            "region\tlength\tcount\nchr1\t100\tmany\n",
            "line 2: expected region, length and a non-negative integer count",
        ),
        ("", "expected the header"),
    ],
)
def test_bad_table_is_refused_naming_the_file(tmp_path, caplog, text, problem):
    path = tmp_path / "bad.counts.tsv"
    path.write_text(text)
    assert cm.main(["--outdir", str(tmp_path), str(path)]) == 1
    assert f"{path}: {problem}" in caplog.text
    assert not (tmp_path / "counts_matrix.tsv").exists()


def test_file_not_named_counts_tsv_is_refused(tmp_path, caplog):
    path = tmp_path / "sample.txt"
    path.write_text("region\tlength\tcount\n")
    assert cm.main(["--outdir", str(tmp_path), str(path)]) == 1
    assert f"{path}: expected a file named <sample>.counts.tsv" in caplog.text


def test_any_failed_sample_fails_naming_every_failure_and_writes_nothing(tmp_path, caplog):
    table = tmp_path / "a.counts.tsv"
    table.write_text("region\tlength\tcount\nchr1\t10\t3\n")
    reports = []
    for group, sample in ((1, "b"), (2, "c")):
        path = tmp_path / f"failures_{group}.txt"
        headline = f"sample '{sample}': 1 of 1 regions failed; no count file written; first: region 'chr1': boom"
        path.write_text(f"{headline}\n  region 'chr1': boom\n")
        reports.append(str(path))
    empty = tmp_path / "failures_3.txt"
    empty.write_text("")
    assert cm.main(["--outdir", str(tmp_path), "--failures", *reports, str(empty), "--", str(table)]) == 1
    # Each sample's count and first failures, not every failed region: the console shows the end of it (item 14).
    assert (
        "2 sample(s) failed; no counts_matrix.tsv written (every failed region: failures/ in the work dir below):\n"
        "sample 'b': 1 of 1 regions failed; no count file written; first: region 'chr1': boom\n"
        "sample 'c': 1 of 1 regions failed; no count file written; first: region 'chr1': boom\n"
    ) in caplog.text
    assert sorted(os.listdir(tmp_path)) == ["a.counts.tsv", "failures_1.txt", "failures_2.txt", "failures_3.txt"]
    assert cm.main(["--outdir", str(tmp_path), "--failures", str(empty), "--", str(table)]) == 0
    assert (tmp_path / "counts_matrix.tsv").read_text() == "region\ta\nchr1\t3\n"


def test_samples_of_different_references_are_named_and_kept_apart(tmp_path, caplog):
    """chr1 of a 100 kb and of a 120 kb reference were one row, with no word; the NA warning reached only the
    task's log (issue 19, item 12). Rows are (name, length): the two chr1 are rows of their own, labelled with
    their lengths; both warnings name the samples and go to the warnings file the console shows."""
    references = {"a": [("chr1", 100_000), ("chr2", 50_000)], "c": [("chr1", 120_000), ("chr2", 50_000)]}
    references["b"] = references["a"]
    counts = {}
    for seed, (sample, contigs) in enumerate(sorted(references.items())):
        bam = write_bam(str(tmp_path / f"{sample}.bam"), contigs, random_pairs(contigs, 300, random.Random(seed)))
        counts[sample] = {name: samtools_count(bam, f"{{{name}}}") for name, _ in contigs}
        rows = "".join(f"{name}\t{length}\t{counts[sample][name]}\n" for name, length in contigs)
        (tmp_path / f"{sample}.counts.tsv").write_text("region\tlength\tcount\n" + rows)
    tables = [str(tmp_path / f"{sample}.counts.tsv") for sample in "cab"]
    warnings = tmp_path / "warnings.txt"
    assert cm.main(["--outdir", str(tmp_path), "--warnings", str(warnings), *tables]) == 0
    a, b, c = (counts[s] for s in "abc")
    assert (tmp_path / "counts_matrix.tsv").read_text() == (
        "region\ta\tb\tc\n"
        f"chr1 (100000 bp)\t{a['chr1']}\t{b['chr1']}\tNA\n"
        f"chr2\t{a['chr2']}\t{b['chr2']}\t{c['chr2']}\n"
        f"chr1 (120000 bp)\tNA\tNA\t{c['chr1']}\n"
    )
    expected = [
        "samples on different references: 1 region name(s) have other lengths in other samples: 'chr1' is "
        "100000 bp in a, b and 120000 bp in c: counts_matrix.tsv keeps them apart as 'name (length bp)'",
        "3 region/sample pairs have no count (the samples have different regions), written as NA: "
        "a lacks 1 (first: 'chr1 (120000 bp)'); b lacks 1 (first: 'chr1 (120000 bp)'); "
        "c lacks 1 (first: 'chr1 (100000 bp)')",
    ]
    assert warnings.read_text() == "".join(line + "\n" for line in expected)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == expected


def test_the_same_reference_gives_plain_names_and_no_warning(tmp_path):
    tables = {"a": [("chr1", 5), ("dup", 1), ("dup", 2)], "b": [("chr1", 6), ("dup", 3), ("dup", 4)]}
    warnings = tmp_path / "warnings.txt"
    assert run(tmp_path, tables, "--warnings", str(warnings)) == 0
    assert (tmp_path / "counts_matrix.tsv").read_text() == "region\ta\tb\nchr1\t5\t6\ndup\t1\t3\ndup\t2\t4\n"
    assert not warnings.exists()


@pytest.mark.parametrize("seed", range(6))
def test_aligned_tables_streamed_give_the_files_of_the_joined_matrix(tmp_path, seed):
    """Samples of one BED are written as they are read (stream_matrix); the files equal those of the in-memory
    join (joined_matrix) byte for byte: repeated names, names like 'x (2)' and 'other regions (N)', ties."""
    rng = random.Random(seed)
    pool = ["a", "a (2)", "b", "other regions (7)", "c", "1", "2"]
    names = [rng.choice(pool) for _ in range(rng.randrange(1, 40))]
    tables = {f"s{i}": [(name, rng.choice([0, 0, 1, 5, 9, 300])) for name in names] for i in range(rng.randrange(1, 5))}
    paths = [write_table(tmp_path, sample, rows) for sample, rows in tables.items()]
    top = ["--top-regions", str(rng.choice([0, 1, 3, 24]))]
    outputs = []
    for how in ("streamed", "joined"):
        outdir = tmp_path / how
        outdir.mkdir()
        args = cm.parse_args(["--outdir", str(outdir), *top, *paths])
        if how == "streamed":
            assert cm.main(["--outdir", str(outdir), *top, *paths]) == 0
        else:
            assert cm.joined_matrix({cm.sample_name(p): p for p in paths}, args) == 0
        outputs.append({name: (outdir / name).read_text() for name in sorted(os.listdir(outdir))})
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {"counts_matrix.tsv", "region_counts_mqc.tsv", "region_counts_general_stats_mqc.tsv"}


def rows_of(blocks):
    """(name, counts, count texts) of each row of aligned_blocks' or checked_blocks' blocks, or the exception
    that ended them."""
    try:
        return [row for names, counts, texts in blocks for row in zip(names, zip(*counts), zip(*texts))]
    except (cm.NotAligned, cm.NotRegular, cm.TaskFileError) as error:
        return type(error)


FIRST = "region\tlength\tcount\n" + "".join(f"r{i % 7}\t{100 + i}\t{i % 3}\n" for i in range(60))


@pytest.mark.parametrize(
    "other, regular",
    [
        (FIRST, True),
        (FIRST.replace("\t2\n", "\t12\n"), True),
        (FIRST.replace("\t1\n", "\t007\n", 1), True),  # written 7, as str() writes it
        (FIRST.rstrip("\n"), True),
        ("\n" + FIRST, False),
        (FIRST.replace("r3\t103\t0\n", "r3\t103\t0\n\n"), False),  # a blank line, skipped
        (FIRST.replace("r3\t103\t0\n", "3\n"), False),  # a line that is only a number
        (FIRST.replace("r3\t103\t0\n", "r3\t103\t\n"), False),
        (FIRST.replace("\t104\t", "\t105\t"), False),
        (FIRST.replace("r4\t", "r5\t", 1), False),
        (FIRST.replace("\t2\n", "\tmany\n", 1), False),
        (FIRST.replace("\t2\n", "\t2\tx\n", 1), False),
        (FIRST + "r0\t600\t1\n", False),
        (FIRST[: FIRST.rindex("r")], False),
        ("region\tcount\n", False),
    ],
)
@pytest.mark.parametrize("position", [0, 1])
def test_checked_blocks_give_the_rows_of_aligned_blocks_or_leave_them_to_it(
    tmp_path, monkeypatch, caplog, other, regular, position
):
    """checked_blocks (the tables after the first read as lines cut to their counts) gives the rows aligned_blocks
    gives, or NotRegular: then main reads them again by aligned_blocks, and its files, log and exit status are
    those of aligned_blocks alone, whatever the table (the first or another, in blocks of a few lines)."""
    monkeypatch.setattr(cm, "BLOCK_CHARS", 90)
    monkeypatch.setattr(cm, "MIN_BLOCK_CHARS", 30)
    texts = [FIRST, FIRST, FIRST]
    texts[position] = other
    paths = []
    for sample, text in zip("abc", texts):
        (tmp_path / f"{sample}.counts.tsv").write_text(text)
        paths.append(str(tmp_path / f"{sample}.counts.tsv"))
    checked = rows_of(cm.checked_blocks(paths))
    if position == 1:
        assert (checked is not cm.NotRegular) == regular
    if checked is not cm.NotRegular:
        assert checked == rows_of(cm.aligned_blocks(paths))

    def not_checked(paths):
        raise cm.NotRegular()
        yield

    results = []
    for how in ("checked", "aligned"):
        if how == "aligned":
            monkeypatch.setattr(cm, "checked_blocks", not_checked)
        outdir = tmp_path / how
        outdir.mkdir()
        caplog.clear()
        code = cm.main(["--outdir", str(outdir), *paths])
        results.append((code, caplog.text, {name: (outdir / name).read_text() for name in sorted(os.listdir(outdir))}))
    assert results[0] == results[1]


# --- The in-memory join as it was (counts_matrix.py before the unaligned tables were joined through count
# columns), kept verbatim as the reference of test_joined_matrix_gives_the_files_of_the_in_memory_join.


def old_read_counts(lines, path):
    return [(name, count, int(length)) for name, length, count in task_files.counts_table_rows(lines, path)]


def old_occurrence_keys(names):
    seen = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append((name, seen[name]))
    return keys


def old_build_matrix(tables):
    samples = sorted(tables)
    rows = {}
    for sample in samples:
        named = [(name, rest[1] if len(rest) > 1 else None) for name, *rest in tables[sample]]
        for (key, n), (_, count, *_) in zip(old_occurrence_keys(named), tables[sample]):
            rows.setdefault((*key, n), {})[sample] = count
    conflicts = old_length_conflicts(tables)
    return samples, [
        (f"{name} ({length} bp)" if name in conflicts else name, counts) for (name, length, _), counts in rows.items()
    ]


def old_length_conflicts(tables):
    lengths_of = {}
    for sample in sorted(tables):
        per_name = {}
        for name, *rest in tables[sample]:
            per_name.setdefault(name, []).append(rest[1] if len(rest) > 1 else None)
        for name, lengths in per_name.items():
            lengths_of.setdefault(name, {}).setdefault(tuple(sorted(lengths, key=str)), []).append(sample)
    conflicts = {}
    for name, by_lengths in lengths_of.items():
        if len(by_lengths) > 1:
            conflicts[name] = {
                ", ".join(str(length) for length in lengths): samples for lengths, samples in by_lengths.items()
            }
    return conflicts


def old_conflicts_warning(conflicts, shown=3):
    if not conflicts:
        return None
    return (
        f"samples on different references: {len(conflicts)} region name(s) have other lengths in other samples: "
        + task_warnings.lengths_described(conflicts, shown)
        + ": counts_matrix.tsv keeps them apart as 'name (length bp)'"
    )


def old_missing_warning(samples, rows, shown=3):
    lacking = {sample: [label for label, counts in rows if sample not in counts] for sample in samples}
    lacking = {sample: labels for sample, labels in lacking.items() if labels}
    if not lacking:
        return None
    described = [
        f"{sample} lacks {len(labels)} (first: '{labels[0]}')"
        for sample, labels in itertools.islice(lacking.items(), shown)
    ]
    more = f"; and {len(lacking) - shown} more samples" if len(lacking) > shown else ""
    missing = sum(len(labels) for labels in lacking.values())
    return (
        f"{missing} region/sample pairs have no count (the samples have different regions), written as NA: "
        + "; ".join(described)
        + more
    )


def old_matrix_lines(samples, rows):
    lines = ["\t".join(["region", *samples])]
    for region, counts in rows:
        lines.append("\t".join([region, *(str(counts.get(s, "NA")) for s in samples)]))
    return lines


def old_sample_totals(samples, rows):
    return {sample: sum(counts.get(sample, 0) for _, counts in rows) for sample in samples}


def old_unique_labels(names):
    labeler = cm.Labeler(names)
    return [labeler.label(name) for name in names]


def old_plot_categories(samples, rows, top):
    labels = old_unique_labels([name for name, _ in rows])
    totals = [sum(counts.values()) for _, counts in rows]
    ranked = sorted(range(len(rows)), key=lambda i: (-totals[i], i))
    shown = sorted(ranked[:top])
    categories = [(labels[i], rows[i][1]) for i in shown]
    rest = ranked[top:]
    if rest:
        other = {sample: sum(rows[i][1].get(sample, 0) for i in rest) for sample in samples}
        categories.append((old_unique_labels([*labels, f"other regions ({len(rest)})"])[-1], other))
    return categories


def old_joined_matrix(path_of, args):
    try:
        tables = {}
        for sample, path in path_of.items():
            with open(path) as handle:
                tables[sample] = old_read_counts(handle, path)
    except (cm.TaskFileError, OSError) as error:
        cm.log.error("%s", error)
        return 1
    samples, rows = old_build_matrix(tables)
    for warning in (old_conflicts_warning(old_length_conflicts(tables)), old_missing_warning(samples, rows)):
        if warning:
            cm.log.warning("%s", warning)
    totals = old_sample_totals(samples, rows)
    tsv_files.write_lines(os.path.join(args.outdir, "counts_matrix.tsv"), old_matrix_lines(samples, rows))
    tsv_files.write_lines(
        os.path.join(args.outdir, "region_counts_mqc.tsv"),
        cm.bargraph_lines(samples, old_plot_categories(samples, rows, args.top_regions), len(rows), args.top_regions),
    )
    tsv_files.write_lines(
        os.path.join(args.outdir, "region_counts_general_stats_mqc.tsv"), cm.general_stats_lines(samples, totals)
    )
    cm.log.info("%d samples, %d regions, %d reads", len(samples), len(rows), sum(totals.values()))
    return 0


def random_cohort(rng):
    """{sample: counts table text} of samples whose regions differ: subsets of a panel in other orders, repeated
    names, other lengths of a name (as texts with leading zeros too), names like plot labels, large counts, blank
    lines and CRLF line ends, empty tables; now and then a table that is refused."""
    names = ["a", "b", "c", "a (2)", "other regions", "other regions (2)", "1", "2", "x (1)", "chr1"]
    panel = [(rng.choice(names), rng.choice(["100", "100", "200", "0100", "7"])) for _ in range(rng.randrange(1, 30))]
    counts = ["0", "0", "1", "5", "9", "300", "12345", "007", str(2**63 - 1), str(2**63), str(2**70)]
    tables = {}
    for i in range(rng.choice([1, 1, 2, 3, 4, 6])):
        kind = rng.random()
        if kind < 0.1:
            rows = []
        elif kind < 0.4:
            rows = rng.sample(panel, rng.randrange(len(panel) + 1))
        elif kind < 0.7:
            rows = [row for row in panel if rng.random() < 0.85]
        else:
            rows = [rng.choice(panel) for _ in range(rng.randrange(40))]
        weights = [8, 8, 8, 8, 4, 4, 2, 1, 1, 1, 1]
        lines = [f"{name}\t{length}\t{rng.choices(counts, weights)[0]}" for name, length in rows]
        if rng.random() < 0.1 and lines:
            lines.insert(rng.randrange(len(lines)), "")
        if rng.random() < 0.05:
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(["a\t100\tmany", "b\t1e3\t4", "c\t100"]))
        end = "\r\n" if rng.random() < 0.1 else "\n"
        header = "region\tlength\tcount" if rng.random() > 0.02 else "region\tcount"
        tables[f"s{rng.randrange(100)}_{i}"] = end.join([header, *lines]) + end
    return tables


@pytest.mark.parametrize("blocks", ["small", "large"])
@pytest.mark.parametrize("seed", range(150))
def test_joined_matrix_gives_the_files_of_the_in_memory_join(tmp_path, monkeypatch, caplog, seed, blocks):
    """joined_matrix (count columns, a block of rows at a time) writes the files, warnings, log lines and exit status
    of the in-memory join it replaced (old_joined_matrix), byte for byte, on random cohorts of samples whose regions
    differ; with small blocks every pass crosses blocks (a name's rows, repeats and new rows in other blocks)."""
    if blocks == "small":
        monkeypatch.setattr(cm, "TABLE_BLOCK_CHARS", 24)
        monkeypatch.setattr(cm, "JOINED_BLOCK_CELLS", 5)
        monkeypatch.setattr(cm, "MIN_JOINED_BLOCK_ROWS", 2)
        monkeypatch.setattr(cm, "NAMES_AT_ONCE", 3)
    rng = random.Random(seed)
    tables = random_cohort(rng)
    (tmp_path / "tables").mkdir()
    path_of = {}
    for sample, text in tables.items():
        path_of[sample] = str(tmp_path / "tables" / f"{sample}.counts.tsv")
        with open(path_of[sample], "w", newline="") as handle:
            handle.write(text)
    top = str(rng.choice([0, 1, 2, 3, 24]))
    results = []
    for how, join in (("old", old_joined_matrix), ("new", cm.joined_matrix)):
        outdir = tmp_path / how
        outdir.mkdir()
        warnings = tmp_path / f"{how}.warnings.txt"
        args = cm.parse_args(["--outdir", str(outdir), "--top-regions", top, "--warnings", str(warnings)])
        cm.start_logging(args)
        caplog.clear()
        code = join(path_of, args)
        log = [(record.levelname, record.getMessage()) for record in caplog.records]
        files = {name: (outdir / name).read_bytes() for name in sorted(os.listdir(outdir))}
        results.append((code, log, files, warnings.read_bytes() if warnings.exists() else None))
    assert results[0] == results[1]
