#!/usr/bin/env nextflow
/*
 * regioncount: count the reads of BAM/CRAM files per genomic region, in parallel.
 *
 *   alignments ─┬─(no usable index)─ SAMTOOLS_INDEX ─┐
 *               └────────────────────────────────────┴─ PLAN_UNITS ─ COUNT_UNIT (per unit) ─ REDUCE_COUNTS
 */
nextflow.enable.dsl = 2

include { SAMTOOLS_FAIDX } from './modules/local/samtools_faidx'
include { SAMTOOLS_INDEX } from './modules/local/samtools_index'
include { PLAN_UNITS     } from './modules/local/plan_units'
include { COUNT_UNIT     } from './modules/local/count_unit'
include { REDUCE_COUNTS  } from './modules/local/reduce_counts'
include { COUNTS_MATRIX  } from './modules/local/counts_matrix'
include { MULTIQC        } from './modules/local/multiqc'
include { countingTaskBound; paramsHelp; parameterProblems; alignmentFormat; alignmentProblem; findIndex; sampleNameProblem; samplesheetRows } from './subworkflows/local/utils_regioncount'

// [sample, alignments, index or null] for every input: a samplesheet (.csv) or a file or glob.
def inputRows(input) {
    if (input.endsWith('.csv')) {
        def sheet = file(input)
        if (!sheet.exists()) {
            error "${input}: samplesheet not found"
        }
        return samplesheetRows(sheet)
    }
    def found = file(input)
    def files = (found instanceof List ? found : [found]).findAll { it.exists() }
    if (!files) {
        error "${input}: ${input =~ /[*?\[{]/ ? 'no file matches this pattern' : 'file not found'}"
    }
    return files.sort { it.name }.collect { [it.name.replaceFirst(/\.(bam|cram)$/, ''), it, null] }
}

// [meta, alignments, index or null] for every sample, after checking everything that can be checked
// before work starts; all problems are reported together, one line each.
def describeInputs(rows, fasta) {
    def problems = []
    def seen = [] as Set
    def inputs = rows.collect { id, alignments, index ->
        def problem = sampleNameProblem(id, alignments.toString()) ?: alignmentProblem(alignments)
        if (!problem && !seen.add(id)) {
            problem = "${alignments}: sample name '${id}' is used by another input too (sample names must be unique)"
        }
        def format = problem ? null : alignmentFormat(alignments)
        if (!problem && format == 'cram' && !fasta) {
            problem = "${alignments}: CRAM input needs --fasta, the reference it was compressed against"
        }
        if (problem) {
            problems << problem
            return null
        }
        index = index ?: findIndex(alignments)
        if (index && index.lastModified() < alignments.lastModified()) {
            log.warn "${index} is older than ${alignments}: re-indexing"
            index = null
        }
        return [[id: id, file_name: alignments.name, format: format], alignments, index]
    }
    if (problems) {
        error "Input problems:\n  " + problems.join('\n  ')
    }
    return inputs
}

// -profile awsbatch: refuse before any work when the run cannot work on AWS Batch. conf/awsbatch.config
// refuses a missing --awsqueue earlier when it can (a run with --outdir on S3 touches S3 before this).
def checkAwsBatchSetup() {
    if (!workflow.profile.tokenize(',').contains('awsbatch')) {
        return
    }
    if (!params.awsqueue) {
        error "-profile awsbatch needs --awsqueue: the AWS Batch job queue that runs the tasks"
    }
    if (workflow.workDir.toUri().scheme != 's3') {
        error "-profile awsbatch needs a work directory on S3, e.g. -work-dir s3://my-bucket/work (AWS Batch jobs cannot see ${workflow.workDir})"
    }
}

workflow {
    def schema = "${projectDir}/nextflow_schema.json"
    if (params.help) {
        println paramsHelp(schema)
        System.exit(0)
    }
    checkAwsBatchSetup()
    def problems = parameterProblems(params, schema)
    if (problems) {
        error "Invalid parameters (see --help):\n  " + problems.join('\n  ')
    }
    if (params.fasta && !file(params.fasta).exists()) {
        error "--fasta ${params.fasta}: file not found"
    }
    if (params.regions && !file(params.regions).exists()) {
        error "--regions ${params.regions}: file not found"
    }

    def inputs = describeInputs(inputRows(params.input.toString()), params.fasta)
    ch_inputs = Channel
        .fromList(inputs)
        .branch { meta, alignments, index ->
            indexed: index != null
            unindexed: true
                return [meta, alignments]
        }

    SAMTOOLS_INDEX(ch_inputs.unindexed)
    ch_indexed = ch_inputs.indexed.mix(ch_inputs.unindexed.join(SAMTOOLS_INDEX.out.index))

    ch_regions_bed = Channel.value(params.regions ? [file(params.regions), file(params.regions).name] : [[], ''])
    // The reference (CRAM), with its .fai made when missing.
    ch_fasta = Channel.fromList(params.fasta ? [[file(params.fasta), file(params.fasta).name]] : [])
    ch_fasta_indexed = ch_fasta.branch { fasta, name ->
        indexed: file("${fasta}.fai").exists()
            return [fasta, file("${fasta}.fai")]
        unindexed: true
    }
    SAMTOOLS_FAIDX(ch_fasta_indexed.unindexed)
    ch_reference = ch_fasta_indexed.indexed
        .mix(ch_fasta_indexed.unindexed.map { it[0] }.combine(SAMTOOLS_FAIDX.out.fai))
        .ifEmpty([[], []])
        .first()

    PLAN_UNITS(ch_indexed, ch_regions_bed, ch_reference, countingTaskBound(params, session.config))

    // One task per work unit; the sample's unit count travels in meta so results can be grouped as they come.
    ch_units = PLAN_UNITS.out.units.flatMap { meta, units ->
        def unitList = units instanceof List ? units : [units]
        unitList.collect { unit -> [meta.id, unitList.size(), unit] }
    }
    ch_count_inputs = ch_indexed
        .map { meta, alignments, index -> [meta.id, meta, alignments, index] }
        .combine(ch_units, by: 0)
        .map { id, meta, alignments, index, nUnits, unit -> [meta + [n_units: nUnits], alignments, index, unit] }

    COUNT_UNIT(ch_count_inputs, ch_reference)

    ch_reduce_inputs = COUNT_UNIT.out.results
        .map { meta, result -> [groupKey(meta.id, meta.n_units), result] }
        .groupTuple()
        // Sorted so that the reducer's inputs, and so its cache key, do not depend on completion order.
        .map { id, results -> [id.toString(), results.sort { it.name }] }
        .join(PLAN_UNITS.out.regions.map { meta, regions -> [meta.id, meta, regions] })
        .map { id, results, meta, regions -> [meta, regions, results] }

    REDUCE_COUNTS(ch_reduce_inputs)

    // All samples' tables in one task, sorted by sample so that -resume caches it.
    ch_tables = REDUCE_COUNTS.out.counts
        .map { meta, count_file, table -> [meta.id, table] }
        .toSortedList { a, b -> a[0] <=> b[0] }
        .filter { it }
        .map { rows -> rows.collect { it[1] } }
    COUNTS_MATRIX(ch_tables)

    ch_software_versions = SAMTOOLS_INDEX.out.versions
        .mix(SAMTOOLS_FAIDX.out.versions, PLAN_UNITS.out.versions, COUNT_UNIT.out.versions, REDUCE_COUNTS.out.versions,
             COUNTS_MATRIX.out.versions)
        .map { it.text }
        .unique()
        .mix(Channel.of("Workflow:\n    Nextflow: ${workflow.nextflow.version}\n    ${workflow.manifest.name}: ${workflow.manifest.version}\n".toString()))
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true, newLine: false)

    if (!params.skip_multiqc) {
        MULTIQC(COUNTS_MATRIX.out.mqc, ch_software_versions, file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true))
    }

    // Where each sample's count file went, as REDUCE_COUNTS finishes (cached tasks too), for the summary.
    def counted = Collections.synchronizedMap([:])
    REDUCE_COUNTS.out.counts.subscribe { meta, count_file, table -> counted[meta.id] = count_file }
    workflow.onComplete {
        log.info runSummary(inputs.collect { it[0].id }, counted)
    }
}

// The end-of-run summary: each sample's regions and reads (from its published count file), failures, outputs.
def runSummary(samples, counted) {
    def lines = ["regioncount ${workflow.success ? 'finished' : 'FAILED'}: ${samples.size()} sample(s)"]
    samples.each { id ->
        if (!counted.containsKey(id)) {
            lines << "  ${id}: no counts (failed or not run)"
            return
        }
        def published = file("${params.outdir}/${id}/${id}_count.txt")
        def text = (published.exists() ? published : counted[id]).text.readLines()
        def total = text.find { it.startsWith('Total reads: ') }?.substring('Total reads: '.length()) ?: 'no'
        lines << "  ${id}: ${text.count { it.startsWith('Region ') }} regions, ${total} reads"
    }
    if (!workflow.success) {
        lines << "  Failed tasks: ${workflow.stats.failedCount} (see the errors above and .nextflow.log)"
    }
    lines << "Results: ${params.outdir} (per sample: <sample>/; all samples: counts_matrix.tsv)"
    if (!params.skip_multiqc) {
        lines << "Report:  ${params.outdir}/multiqc/multiqc_report.html"
    }
    lines << "Run info and tool versions: ${params.outdir}/pipeline_info/"
    return lines.join('\n')
}
