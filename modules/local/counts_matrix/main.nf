// Join every sample's counts table into counts_matrix.tsv and write the MultiQC custom-content files; or,
// when any sample failed, name every failed sample and region and fail the run (the others are published).
process COUNTS_MATRIX {
    tag "${tables instanceof List ? tables.size() : 1} samples"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // Python 3.11 only (the standard library): the pysam image of PLAN_UNITS, one image fewer to pull. Tag
    // (digest sha256:0afe5afd6d37f76451fef567753f169d10b4945296b53c9b924240387dd4002b) from
    // singularityhub/shpc-registry _library/quay.io-biocontainers-pysam.md (commit 001d9910).
    container 'quay.io/biocontainers/pysam:0.22.1--py311h1f0e11c_1'

    input:
    // <sample>.counts.tsv files (sample names are checked safe before the run) and the reducers' failure reports.
    path(tables, stageAs: 'tables/*')
    path(failures, stageAs: 'failures/failures_?.txt')

    output:
    path('counts_matrix.tsv', emit: matrix)
    path('*_mqc.tsv', emit: mqc)
    path('versions.yml', emit: versions)
    // Warnings of a matrix that was written (samples on different references, NA cells): shown by main.nf.
    path('warnings.txt', optional: true, emit: warnings)

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // File lists written out (their staged names), not globs: either list may be empty.
    def tableFiles = (tables instanceof List ? tables : [tables]).collect { table -> table.toString() }.join(' ')
    def failureFiles = (failures instanceof List ? failures : [failures]).collect { failure -> failure.toString() }.join(' ')
    """
    # bin/ digest (conf/modules.config): ${task.ext.bin_digest ?: 'none'}
    counts_matrix.py ${args} --warnings warnings.txt --failures ${failureFiles} -- ${tableFiles}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        python: \$(python3 --version | sed 's/Python //')
    END_VERSIONS
    """

    stub:
    """
    touch counts_matrix.tsv region_counts_mqc.tsv region_counts_general_stats_mqc.tsv versions.yml
    """
}
