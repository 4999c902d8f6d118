// Join every sample's counts table into counts_matrix.tsv, and write the MultiQC custom-content files.
process COUNTS_MATRIX {
    tag "${tables instanceof List ? tables.size() : 1} samples"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // Python 3.11 only (the standard library): the pysam image of PLAN_UNITS, one image fewer to pull. Tag
    // (digest sha256:0afe5afd6d37f76451fef567753f169d10b4945296b53c9b924240387dd4002b) from
    // singularityhub/shpc-registry _library/quay.io-biocontainers-pysam.md (commit 001d9910).
    container 'quay.io/biocontainers/pysam:0.22.1--py311h1f0e11c_1'

    input:
    // <sample>.counts.tsv files (sample names are checked safe before the run); the shell sees only a glob.
    path tables, stageAs: 'tables/*'

    output:
    path 'counts_matrix.tsv', emit: matrix
    path '*_mqc.tsv'        , emit: mqc
    path 'versions.yml'     , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    counts_matrix.py ${args} tables/*.counts.tsv

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
