// Assemble a sample's unit results into its count files; fail naming every failed region.
process REDUCE_COUNTS {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"

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
