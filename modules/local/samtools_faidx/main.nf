// Index a FASTA reference (for CRAM input) when it has no .fai beside it.
process SAMTOOLS_FAIDX {
    tag "${fasta_name}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // samtools 1.16.1 (htslib 1.16), the version environment.yml pins. Tag from nf-core/viralrecon
    // modules/nf-core/samtools/index/main.nf (commit 0fd940bc, nf-core/modules' samtools 1.16.1 modules),
    // which also uses its Singularity copy https://depot.galaxyproject.org/singularity/samtools:1.16.1--h6899075_1.
    container 'quay.io/biocontainers/samtools:1.16.1--h6899075_1'

    input:
    tuple path(fasta, stageAs: 'reference.fa'), val(fasta_name)

    output:
    path('reference.fa.fai', emit: fai)
    // A bgzipped FASTA also needs its block index.
    path('reference.fa.gzi', emit: gzi, optional: true)
    path('versions.yml', emit: versions)

    when:
    task.ext.when == null || task.ext.when

    script:
    """
    samtools faidx reference.fa

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        samtools: \$(samtools --version | sed -n '1s/^samtools //p')
    END_VERSIONS
    """

    stub:
    """
    touch reference.fa.fai versions.yml
    """
}
