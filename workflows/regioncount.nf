/*
 * regioncount's data flow: count the reads of BAM/CRAM files per genomic region, in parallel.
 *
 *   samples ─┬─(no usable index)─ SAMTOOLS_INDEX ─┐
 *            └────────────────────────────────────┴─ PLAN_UNITS ─ COUNT_UNIT (per unit) ─ REDUCE_COUNTS ─ COUNTS_MATRIX ─ MULTIQC
 *
 * Samples are planned, counted and reduced in groups (sampleGroup): a group's units may hold several of its
 * samples. Every input was checked by PIPELINE_INITIALISATION before this starts.
 */
include { CHECK_SAMTOOLS_ARGS } from '../modules/local/check_samtools_args'
include { SAMTOOLS_FAIDX      } from '../modules/local/samtools_faidx'
include { SAMTOOLS_INDEX      } from '../modules/local/samtools_index'
include { PLAN_UNITS          } from '../modules/local/plan_units'
include { COUNT_UNIT          } from '../modules/local/count_unit'
include { REDUCE_COUNTS       } from '../modules/local/reduce_counts'
include { COUNTS_MATRIX       } from '../modules/local/counts_matrix'
include { MULTIQC             } from '../modules/local/multiqc'
include { groupTaskBound; sampleGroup; sampleGroupCount; sampleGroupsFor } from '../subworkflows/local/utils_sample_groups'

workflow REGIONCOUNT {

    take:
    ch_samples    // [meta, alignments, index or null] per sample
    ch_regions    // value: [BED, its name, its regions as estimated from its size] or [[], '', 0] (whole contigs)
    ch_reference  // value: [FASTA, its name, .fai or [], .gzi or []] or [[], '', [], []] (CRAM only)

    main:
    // Channels are named without `def` (workflow variables, as `emit:` reads them); plain values with it.

    // --- prepare: --samtools_args checked, indexes made where missing ---------------------------------------

    // --samtools_args are checked once (one cheap samtools call) before any other task starts.
    ch_args_checked = channel.value('no samtools_args')
    ch_check_versions = channel.empty()
    if (params.samtools_args) {
        CHECK_SAMTOOLS_ARGS(params.samtools_args.toString())
        ch_args_checked = CHECK_SAMTOOLS_ARGS.out.checked
        ch_check_versions = CHECK_SAMTOOLS_ARGS.out.versions
    }
    ch_inputs = ch_samples
        .combine(ch_args_checked)
        .map { meta, alignments, index, checked -> [meta, alignments, index] }
        .branch { meta, alignments, index ->
            indexed: index != null
            unindexed: true
                return [meta, alignments]
        }

    SAMTOOLS_INDEX(ch_inputs.unindexed)
    ch_indexed = ch_inputs.indexed.mix(ch_inputs.unindexed.join(SAMTOOLS_INDEX.out.index))

    // The reference as the tasks take it, [FASTA, .fai, .gzi (bgzipped FASTA) or []], its indexes made when
    // missing; a value channel either way.
    SAMTOOLS_FAIDX(ch_reference
        .filter { fasta, name, fai, gzi -> fasta && !fai }
        .map { fasta, name, fai, gzi -> [fasta, name] })
    // [.fai, .gzi or []]: a plain FASTA has no .gzi (wrapped in a list, as combine would flatten a bare []).
    ch_made_reference_index = SAMTOOLS_FAIDX.out.fai
        .combine(SAMTOOLS_FAIDX.out.gzi.map { gzi -> [gzi] }.ifEmpty([[]]))
    ch_fasta = ch_reference
        .filter { fasta, name, fai, gzi -> !fasta || fai }
        .map { fasta, name, fai, gzi -> [fasta, fai, gzi] }
        .mix(ch_reference.combine(ch_made_reference_index).map { fasta, name, fai, gzi, made_fai, made_gzi -> [fasta, made_fai, made_gzi] })
        .first()

    // --- plan: the samples in groups, each group's regions cut into work units ------------------------------

    // Samples in groups (sampleGroup): each group is planned by one task, its units may hold several of its
    // samples, and one task reduces it. Groups and their samples are sorted, so that -resume caches them.
    // [number of groups, counting tasks per group], from the number of samples and the BED's regions.
    def baseGroups = sampleGroupCount(params, session.config)
    def config = session.config
    ch_grouping = ch_samples.count()
        .combine(ch_regions)
        .map { n_samples, bed, bed_name, bed_regions ->
            def nGroups = sampleGroupsFor(baseGroups, n_samples as int, bed_regions as long, params.max_group_regions as long)
            [nGroups, groupTaskBound(params, config, nGroups, n_samples as int)]
        }
        .first()
    ch_groups = ch_indexed
        .toSortedList { a, b -> a[0].id <=> b[0].id }
        .map { rows -> [rows] }
        .combine(ch_grouping)
        .flatMap { rows, n_groups, max_units ->
            rows.groupBy { row -> sampleGroup(row[0].id, n_groups) }.sort().collect { number, members ->
                [[id: "group_${number}", samples: members*.get(0)], members*.get(1), members*.get(2)]
            }
        }

    PLAN_UNITS(
        ch_groups,
        ch_regions.map { bed, bed_name, bed_regions -> [bed, bed_name] },
        ch_fasta,
        ch_grouping.map { n_groups, max_units -> max_units },
    )

    // --- count: one task per work unit ----------------------------------------------------------------------

    // One task per work unit, with the files of the samples it holds (unit_samples.tsv); the group's unit
    // count travels in meta so that results can be grouped as they come.
    ch_units = PLAN_UNITS.out.units
        .map { group, units, unitSamples, statistics -> [group.id, group, units, unitSamples, statistics] }
        .join(ch_groups.map { group, alignments, indexes -> [group.id, alignments, indexes] })
        .flatMap { id, group, units, unitSamples, statistics, alignments, indexes ->
            def unitList = units instanceof List ? units : [units]
            // Columns by their names in the header (bin/task_files.py, UNIT_SAMPLES_COLUMNS: unit, sample).
            def rows = unitSamples.readLines()*.split('\t')
            def unitColumn = rows[0].findIndexOf { name -> name == 'unit' }
            def sampleColumn = rows[0].findIndexOf { name -> name == 'sample' }
            def samplesOf = rows.drop(1).groupBy { fields -> fields[unitColumn] }
            def position = group.samples.withIndex().collectEntries { meta, i -> [meta.id, i] }
            unitList.collect { unit ->
                def ids = samplesOf[unit.name]*.getAt(sampleColumn)
                def meta = [group: group.id, unit: unit.baseName, n_units: unitList.size(),
                            samples: ids.collect { sample -> group.samples[position[sample]] }]
                [meta, ids.collect { sample -> alignments[position[sample]] }, ids.collect { sample -> indexes[position[sample]] }, unit, statistics]
            }
        }

    COUNT_UNIT(ch_units, ch_fasta)

    // --- reduce: each group's results into per-sample tables, all samples into the matrix and the report ----

    ch_reduce_inputs = COUNT_UNIT.out.results
        .map { meta, result -> [groupKey(meta.group, meta.n_units), result] }
        .groupTuple()
        // Sorted so that the reducer's inputs, and so its cache key, do not depend on completion order.
        .map { id, results -> [id.toString(), results.sort { result -> result.name }] }
        .join(PLAN_UNITS.out.regions.map { group, regions -> [group.id, group, regions] })
        .map { id, results, group, regions -> [group, regions, results] }

    REDUCE_COUNTS(ch_reduce_inputs)

    // All samples' tables and every group's failure report in one task, sorted so that -resume caches it;
    // it fails the run, naming every failed sample and region, once the others' results are published.
    ch_tables = REDUCE_COUNTS.out.tables.flatten().toSortedList { a, b -> a.name <=> b.name }
    ch_failures = REDUCE_COUNTS.out.failures.toSortedList { a, b -> a.text <=> b.text }
    COUNTS_MATRIX(ch_tables, ch_failures)

    // Collected in the work directory (never staged back from --outdir, whose path may hold any character)
    // and published by this run only when it succeeds (PIPELINE_COMPLETION), so that no partial file is left.
    ch_software_versions = ch_check_versions
        .mix(SAMTOOLS_INDEX.out.versions, SAMTOOLS_FAIDX.out.versions, PLAN_UNITS.out.versions,
             COUNT_UNIT.out.versions, REDUCE_COUNTS.out.versions, COUNTS_MATRIX.out.versions)
        // Keyed by the process's own name, as a module's test shows it: 'COUNT_UNIT', not 'REGIONCOUNT:COUNT_UNIT'.
        .map { versions_file -> versions_file.text.replaceFirst(/^"(?:[A-Za-z0-9_]+:)+/, '"') }
        .unique()
        .mix(channel.of("Workflow:\n    Nextflow: ${workflow.nextflow.version}\n    ${workflow.manifest.name}: ${workflow.manifest.version}\n".toString()))
        .collectFile(name: 'software_versions.yml', sort: true, newLine: false)

    ch_report = channel.empty()
    ch_multiqc_data = channel.empty()
    ch_multiqc_plots = channel.empty()
    if (!params.skip_multiqc) {
        // The report's last section: how this run was started (runSummaryMqc).
        ch_run_summary = channel.of(runSummaryMqc(params, workflow)).collectFile(name: 'regioncount_summary_mqc.yml')
        ch_mqc = COUNTS_MATRIX.out.mqc.combine(ch_run_summary).map { files -> files.flatten() }
        MULTIQC(ch_mqc, ch_software_versions, file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true))
        ch_report = MULTIQC.out.report
        ch_multiqc_data = MULTIQC.out.data
        ch_multiqc_plots = MULTIQC.out.plots
    }

    emit:
    count_files  = REDUCE_COUNTS.out.count_files  // <sample>/<sample>_count.txt, per group
    tables       = REDUCE_COUNTS.out.tables       // <sample>/<sample>.counts.tsv, per group
    matrix       = COUNTS_MATRIX.out.matrix       // counts_matrix.tsv
    report       = ch_report                      // multiqc_report.html (none with --skip_multiqc)
    multiqc_data = ch_multiqc_data                // multiqc_data/ (none with --skip_multiqc)
    multiqc_plots = ch_multiqc_plots              // multiqc_report_plots/ (none with --skip_multiqc)
    versions     = ch_software_versions           // software_versions.yml
    warnings     = PLAN_UNITS.out.warnings.mix(COUNTS_MATRIX.out.warnings)  // warnings of tasks that succeeded
}

// The run summary section of the MultiQC report (custom content, an HTML table): the profiles, the Nextflow
// and pipeline versions, and every parameter that has a value. Nothing that changes from run to run (run
// name, command line) nor how results are published (--publish_dir_mode), so that -resume still finds
// MULTIQC cached. Its id, regioncount-regioncount-summary, is placed by assets/multiqc_config.yml.
def runSummaryMqc(parameters, run) {
    def escape = { value -> value.toString().replaceAll(/\s+/, ' ').replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;') }
    def rows = [
        'Pipeline': "${run.manifest.name} ${run.manifest.version}",
        'Nextflow': run.nextflow.version,
        'Profile' : run.profile,
    ] + parameters.findAll { name, value -> value != null && value != '' && name != 'publish_dir_mode' }
        .collectEntries { name, value -> ["--${name}", value] }
    def html = ['<table class="table table-condensed">'] +
        rows.collect { name, value -> "  <tr><th>${escape(name)}</th><td><code>${escape(value)}</code></td></tr>" } + ['</table>']
    return ([
        "id: '${run.manifest.name.replace('/', '-')}-summary'",
        "section_name: 'Run summary'",
        "description: 'How this run of ${run.manifest.name} was started.'",
        'plot_type: html',
        'data: |',
    ] + html.collect { line -> "    ${line}" }).join('\n') + '\n'
}
