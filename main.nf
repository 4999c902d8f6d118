#!/usr/bin/env nextflow
/*
 * regioncount: count the reads of BAM/CRAM files per genomic region, in parallel.
 *
 *   PIPELINE_INITIALISATION  parameters, tools, samplesheet and inputs checked before any work; --outdir taken
 *   REGIONCOUNT              the data flow: plan -> count -> reduce (workflows/regioncount.nf)
 *   PIPELINE_COMPLETION      warnings, the tool versions, the record of this run's outputs, the summary
 */
nextflow.enable.dsl = 2

include { REGIONCOUNT                                    } from './workflows/regioncount'
include { PIPELINE_INITIALISATION; PIPELINE_COMPLETION } from './subworkflows/local/utils_nfcore_regioncount_pipeline'

workflow {
    PIPELINE_INITIALISATION()

    REGIONCOUNT(
        PIPELINE_INITIALISATION.out.samples,
        PIPELINE_INITIALISATION.out.regions,
        PIPELINE_INITIALISATION.out.reference,
    )

    PIPELINE_COMPLETION(
        PIPELINE_INITIALISATION.out.run,
        REGIONCOUNT.out.count_files,
        REGIONCOUNT.out.tables,
        REGIONCOUNT.out.matrix,
        REGIONCOUNT.out.report,
        REGIONCOUNT.out.multiqc_data,
        REGIONCOUNT.out.multiqc_plots,
        REGIONCOUNT.out.versions,
        REGIONCOUNT.out.warnings,
    )
}
