// Index a BAM/CRAM that has no usable index (none found, or older than the alignments).
process SAMTOOLS_INDEX {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"

    input:
    // Fixed staged names: file names never reach the shell.
    tuple val(meta), path(alignments, stageAs: 'alignments')

    output:
    tuple val(meta), path('alignments.index'), emit: index
    path 'versions.yml'                      , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // samtools index writes a BAI for BAM and a CRAI for CRAM, detecting the format from the content.
    """
    samtools index ${args} -@ ${task.cpus - 1} -o alignments.index alignments

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        samtools: \$(samtools --version | sed -n '1s/^samtools //p')
    END_VERSIONS
    """

    stub:
    """
    touch alignments.index
    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        samtools: \$(samtools --version | sed -n '1s/^samtools //p')
    END_VERSIONS
    """
}
