// Assemble a sample's unit results into its count files; fail naming every failed region.
process REDUCE_COUNTS {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // Python 3.11 only: the pysam image of PLAN_UNITS (Python 3.11), one image fewer to pull. Tag (and its
    // digest sha256:0afe5afd6d37f76451fef567753f169d10b4945296b53c9b924240387dd4002b) from
    // singularityhub/shpc-registry _library/quay.io-biocontainers-pysam.md (commit 001d9910).
    container 'quay.io/biocontainers/pysam:0.22.1--py311h1f0e11c_1'

    input:
    tuple val(meta), path(regions), path(results, stageAs: 'results/*')

    output:
    tuple val(meta), path("${meta.id}_count.txt"), path("${meta.id}.counts.tsv"), emit: counts
    path 'versions.yml'                                                         , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    """
    reduce_counts.py \\
        --sample '${meta.id}' \\
        --regions '${regions}' \\
        results/*.result.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        python: \$(python3 --version | sed 's/Python //')
    END_VERSIONS
    """

    stub:
    """
    touch '${meta.id}_count.txt' '${meta.id}.counts.tsv' versions.yml
    """
}
