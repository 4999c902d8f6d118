#!/usr/bin/env nextflow
/*
 * regioncount: count the reads of BAM/CRAM files per genomic region, in parallel.
 *
 *   alignments ─┬─(no usable index)─ SAMTOOLS_INDEX ─┐
 *               └────────────────────────────────────┴─ PLAN_UNITS ─ COUNT_UNIT (per unit) ─ REDUCE_COUNTS
 */
nextflow.enable.dsl = 2

include { SAMTOOLS_INDEX } from './modules/local/samtools_index'
include { PLAN_UNITS     } from './modules/local/plan_units'
include { COUNT_UNIT     } from './modules/local/count_unit'
include { REDUCE_COUNTS  } from './modules/local/reduce_counts'

// Sample names become file and folder names: keep them safe.
SAMPLE_NAME_PATTERN = ~/^[A-Za-z0-9][A-Za-z0-9._-]*$/

// The index beside an alignment file (x.bam.bai or x.bai; x.cram.crai or x.crai), or null.
def findIndex(alignments) {
    def suffix = alignments.name.endsWith('.cram') ? 'crai' : 'bai'
    def candidates = [
        alignments.resolveSibling("${alignments.name}.${suffix}"),
        alignments.resolveSibling("${alignments.baseName}.${suffix}"),
    ]
    return candidates.find { it.exists() }
}

// [meta, alignments, index or null] for one input file.
def describeInput(alignments) {
    def format = alignments.name.endsWith('.cram') ? 'cram' : 'bam'
    def id = alignments.name.replaceFirst(/\.(bam|cram)$/, '')
    if (!(id ==~ SAMPLE_NAME_PATTERN)) {
        error "Input ${alignments}: sample name '${id}' (the file name without .bam) may only hold letters, digits, '.', '_' and '-' and must start with a letter or digit"
    }
    def index = findIndex(alignments)
    if (index && index.lastModified() < alignments.lastModified()) {
        log.warn "Index ${index} is older than ${alignments.name}: re-indexing"
        index = null
    }
    return [[id: id, file_name: alignments.name, format: format], alignments, index]
}

workflow {
    if (!params.input) {
        error "Missing --input: give a BAM/CRAM file or a glob of them, e.g. --input 'data/*.bam'"
    }
    if (!params.outdir) {
        error "Missing --outdir: the folder where results are written"
    }

    ch_inputs = Channel
        .fromPath(params.input, checkIfExists: true)
        .map { describeInput(it) }
        .toSortedList { a, b -> a[0].id <=> b[0].id }
        .flatMap { inputs ->
            def duplicated = inputs.countBy { it[0].id }.findAll { it.value > 1 }.keySet()
            if (duplicated) {
                error "Input ${params.input}: sample names must be unique, found more than one file for: ${duplicated.join(', ')}"
            }
            inputs
        }
        .branch { meta, alignments, index ->
            indexed: index != null
            unindexed: true
                return [meta, alignments]
        }

    SAMTOOLS_INDEX(ch_inputs.unindexed)
    ch_indexed = ch_inputs.indexed.mix(ch_inputs.unindexed.join(SAMTOOLS_INDEX.out.index))

    ch_regions_bed = Channel.value(params.regions ? [file(params.regions, checkIfExists: true), file(params.regions).name] : [[], ''])
    ch_reference = Channel.value(params.fasta ? [file(params.fasta, checkIfExists: true), file("${params.fasta}.fai")] : [[], []])

    PLAN_UNITS(ch_indexed, ch_regions_bed, ch_reference)

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

    SAMTOOLS_INDEX.out.versions
        .mix(PLAN_UNITS.out.versions, COUNT_UNIT.out.versions, REDUCE_COUNTS.out.versions)
        .map { it.text }
        .unique()
        .mix(Channel.of("Workflow:\n    Nextflow: ${workflow.nextflow.version}\n    ${workflow.manifest.name}: ${workflow.manifest.version}\n".toString()))
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true, newLine: false)
}
