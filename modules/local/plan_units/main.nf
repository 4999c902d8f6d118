// Read a sample's regions (BAM header or BED) and plan its counting work units.
include { shellQuote } from '../../../subworkflows/local/utils_regioncount'

process PLAN_UNITS {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // pysam 0.22.1 on Python 3.11, the versions environment.yml pins. Tag (and its digest
    // sha256:0afe5afd6d37f76451fef567753f169d10b4945296b53c9b924240387dd4002b) from
    // singularityhub/shpc-registry _library/quay.io-biocontainers-pysam.md (commit 001d9910).
    container 'quay.io/biocontainers/pysam:0.22.1--py311h1f0e11c_1'

    input:
    tuple val(meta), path(alignments, stageAs: 'alignments'), path(index, stageAs: 'alignments.index')
    tuple path(regions_bed, stageAs: 'regions.bed'), val(regions_name)
    tuple path(reference, stageAs: 'reference.fa'), path(reference_index, stageAs: 'reference.fa.fai'), path(reference_gzi, stageAs: 'reference.fa.gzi')
    val max_units

    output:
    tuple val(meta), path("${meta.id}.regions.tsv"), emit: regions
    tuple val(meta), path('units/unit_*.tsv')      , emit: units
    path 'versions.yml'                            , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // User file names appear in messages only; after '=' so that a leading '-' is never read as our option.
    def bed = regions_bed ? "--bed regions.bed --bed-name=${shellQuote(regions_name)}" : ''
    def fasta = reference ? '--reference reference.fa' : ''
    """
    plan_units.py \\
        --alignments alignments \\
        --index alignments.index \\
        ${fasta} \\
        ${bed} \\
        --sample '${meta.id}' \\
        --input-name=${shellQuote(meta.file_name)} \\
        --max-units ${max_units} \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        python: \$(python3 --version | sed 's/Python //')
        pysam: \$(python3 -c 'import pysam; print(pysam.__version__)')
    END_VERSIONS
    """

    stub:
    """
    mkdir units
    printf 'region_id\\tname\\tcontig\\tstart\\tend\\tlength\\titems\\n' > '${meta.id}.regions.tsv'
    printf 'region_id\\tcontig\\tstart\\tend\\twhole\\tmode\\n' > units/unit_0001.tsv
    touch versions.yml
    """
}
