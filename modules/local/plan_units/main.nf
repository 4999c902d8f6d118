// Read a group of samples' regions (BAM header or BED) and plan their counting work units.
process PLAN_UNITS {
    // 'group_2 (s1,s2)', or 'group_2 (250 samples)'
    tag "${group.id} (${group.samples.size() <= 3 ? group.samples*.id.join(',') : group.samples.size() + ' samples'})"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // pysam 0.22.1 on Python 3.11, the versions environment.yml pins. Tag (and its digest
    // sha256:0afe5afd6d37f76451fef567753f169d10b4945296b53c9b924240387dd4002b) from
    // singularityhub/shpc-registry _library/quay.io-biocontainers-pysam.md (commit 001d9910).
    container 'quay.io/biocontainers/pysam:0.22.1--py311h1f0e11c_1'

    input:
    // A group of samples (group.samples: their metas, in the order of the files), planned together.
    tuple val(group), path(alignments, stageAs: 'aln?/alignments'), path(indexes, stageAs: 'aln?/alignments.index')
    tuple path(regions_bed, stageAs: 'regions.bed'), val(regions_name)
    tuple path(reference, stageAs: 'reference.fa'), path(reference_index, stageAs: 'reference.fa.fai'), path(reference_gzi, stageAs: 'reference.fa.gzi')
    val max_units

    output:
    tuple(val(group), path('regions/*.regions.tsv'), emit: regions)
    // index_statistics.tsv: each sample's records per contig as its index tells them, for the counting tasks.
    tuple(val(group), path('units/unit_*.tsv'), path('unit_samples.tsv'), path('index_statistics.tsv'), emit: units)
    path('versions.yml', emit: versions)
    // Warnings of a plan that succeeded (BED ends past a contig, a slow plan): main.nf shows them on the console.
    path('warnings.txt', optional: true, emit: warnings)

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // User file names appear in messages only, as single-quoted words: in the manifest (written by printf, a
    // builtin: no argument length limit; one script line, a header and a row per sample, tabs and line breaks
    // made spaces) and after '=' so that a leading '-' is never read as our option.
    // check_name, index_check_name: a remote input's URLs (plan_units.py checks its content, as the driver does
    // for local files); empty otherwise.
    // index_name: the user's name for the index (meta.index_name; '' for one the pipeline made), for messages.
    def quote = { String text -> "'" + text.replace("'", "'\\''") + "'" }
    def rows = [['sample', 'alignments', 'index', 'file_name', 'check_name', 'index_check_name', 'index_name']] +
        group.samples.withIndex().collect { meta, i ->
            [meta.id, "aln${i + 1}/alignments", "aln${i + 1}/alignments.index", meta.file_name, meta.check_name ?: '', meta.index_check_name ?: '', meta.index_name ?: '']
        }
    def manifest = rows.collect { fields -> quote(fields*.toString()*.replaceAll(/[\t\r\n]/, ' ').join('\t')) }.join(' ')
    def bed = regions_bed ? "--bed regions.bed --bed-name=${quote(regions_name)}" : ''
    def fasta = reference ? '--reference reference.fa' : ''
    """
    # bin/ digest (conf/modules.config): ${task.ext.bin_digest ?: 'none'}
    printf '%s\\n' ${manifest} > samples.tsv
    plan_units.py \\
        --samples samples.tsv \\
        ${fasta} \\
        ${bed} \\
        --max-units ${max_units} \\
        --warnings warnings.txt \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        python: \$(python3 --version | sed 's/Python //')
        pysam: \$(python3 -c 'import pysam; print(pysam.__version__)')
    END_VERSIONS
    """

    stub:
    """
    mkdir units regions
    for sample in ${group.samples*.id.join(' ')}; do
        printf 'region_id\\tname\\tcontig\\tstart\\tend\\tlength\\titems\\n' > "regions/\$sample.regions.tsv"
    done
    printf 'sample\\tregion_id\\tcontig\\tstart\\tend\\twhole\\tmode\\topen_end\\n' > units/unit_0001.tsv
    printf 'unit\\tsample\\n' > unit_samples.tsv
    for sample in ${group.samples*.id.join(' ')}; do printf 'unit_0001.tsv\\t%s\\n' "\$sample" >> unit_samples.tsv; done
    printf 'sample\\tcontig\\tlength\\trecords\\n' > index_statistics.tsv
    touch versions.yml
    """
}
