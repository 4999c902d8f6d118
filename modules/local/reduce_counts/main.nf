// Assemble a group's unit results into each sample's count files; name every failed sample and region.
process REDUCE_COUNTS {
    // 'group_2 (s1,s2)', or 'group_2 (250 samples)'
    tag "${group.id} (${group.samples.size() <= 3 ? group.samples*.id.join(',') : group.samples.size() + ' samples'})"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // Python 3.11 only: the pysam image of PLAN_UNITS (Python 3.11), one image fewer to pull. Tag (and its
    // digest sha256:0afe5afd6d37f76451fef567753f169d10b4945296b53c9b924240387dd4002b) from
    // singularityhub/shpc-registry _library/quay.io-biocontainers-pysam.md (commit 001d9910).
    container 'quay.io/biocontainers/pysam:0.22.1--py311h1f0e11c_1'

    input:
    tuple val(group), path(regions, stageAs: 'regions/*'), path(results, stageAs: 'results/*')

    output:
    // Per sample: <sample>/<sample>_count.txt and <sample>/<sample>.counts.tsv, for the samples counted in full.
    path('*/*_count.txt', optional: true, emit: count_files)
    path('*/*.counts.tsv', optional: true, emit: tables)
    path('failures.txt', emit: failures)
    path('versions.yml', emit: versions)

    when:
    task.ext.when == null || task.ext.when

    script:
    """
    # bin/ digest (conf/modules.config): ${task.ext.bin_digest ?: 'none'}
    reduce_counts.py \\
        --outdir . \\
        results/*.result.tsv \\
        --regions regions/*.regions.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        python: \$(python3 --version | sed 's/Python //')
    END_VERSIONS
    """

    stub:
    """
    for sample in ${group.samples*.id.join(' ')}; do
        mkdir -p "\$sample"
        touch "\$sample/\${sample}_count.txt" "\$sample/\$sample.counts.tsv"
    done
    touch failures.txt versions.yml
    """
}
