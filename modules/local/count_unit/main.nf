// Count the reads of one work unit (regions of one or more samples of a group) with samtools view -c.
process COUNT_UNIT {
    // 'group_2 (s1,s2):unit_0001', or 'group_2 (250 samples):unit_0001'
    tag "${meta.group} (${meta.samples.size() <= 3 ? meta.samples*.id.join(',') : meta.samples.size() + ' samples'}):${unit.baseName}"
    label 'process_count'

    conda "${moduleDir}/environment.yml"
    // count_unit.py runs samtools, so this task needs samtools 1.16.1 and python3 in one image. The
    // biocontainers samtools image has no python and no samtools 1.16.1 + python mulled/community image
    // could be found; StaPH-B's samtools 1.16.1 image has both: Ubuntu focal with python3 (3.8, enough
    // for bin/) and samtools 1.16.1 built from its release (bundled htslib 1.16), see the Dockerfile in
    // StaPH-B/docker-builds samtools/1.16.1/Dockerfile (commit 16e5fa1f). StaPH-B pushes every image to
    // Docker Hub and quay (their README.md). The image has no `ps`: Nextflow logs a warning and the trace
    // lacks %cpu/peak_rss for this task. Nor has it numpy: count_unit.py then reads batch passes as SAM text
    // instead of BAM (bin/bam_records.py), the same counts at a little more CPU; the conda environment has numpy.
    // No image with samtools 1.16.1, python3 and numpy could be checked from here (no registry is reachable).
    container 'docker.io/staphb/samtools:1.16.1'

    input:
    // meta.samples: the metas of the samples the unit holds, in the order of the files; only theirs are staged.
    // index_statistics: the planner's index_statistics.tsv (the samples' records per contig), or [] to ask
    // samtools idxstats for them.
    tuple val(meta), path(alignments, stageAs: 'aln?/alignments'), path(indexes, stageAs: 'aln?/alignments.index'), path(unit), path(index_statistics)
    tuple path(reference, stageAs: 'reference.fa'), path(reference_index, stageAs: 'reference.fa.fai'), path(reference_gzi, stageAs: 'reference.fa.gzi')

    output:
    tuple(val(meta), path("${unit.baseName}.result.tsv"), emit: results)
    path('versions.yml', emit: versions)

    when:
    task.ext.when == null || task.ext.when

    script:
    // ext.args: extra samtools view options (e.g. '-F 0x904 -q 20'), handed over as one quoted argument
    // after '=' (a leading '-' is never read as our option) and parsed by count_unit.py without a shell.
    def args = task.ext.args ?: ''
    def fasta = reference ? '--reference reference.fa' : ''
    def statistics = index_statistics ? "--index-statistics '${index_statistics}'" : ''
    // Strings reach the shell only as single-quoted words: the samples' manifest (written by printf, one script
    // line; a header and a row per sample, tabs and line breaks made spaces) and the options.
    def quote = { String text -> "'" + text.replace("'", "'\\''") + "'" }
    def rows = [['sample', 'alignments', 'index']] + meta.samples.withIndex().collect { sample, i ->
        [sample.id, "aln${i + 1}/alignments", "aln${i + 1}/alignments.index"]
    }
    def manifest = rows.collect { fields -> quote(fields*.toString()*.replaceAll(/[\t\r\n]/, ' ').join('\t')) }.join(' ')
    """
    # bin/ digest (conf/modules.config): ${task.ext.bin_digest ?: 'none'}
    printf '%s\\n' ${manifest} > samples.tsv
    count_unit.py \\
        --samples samples.tsv \\
        ${fasta} \\
        --unit '${unit}' \\
        ${statistics} \\
        --threads ${task.cpus - 1} \\
        --samtools-args=${quote(args)} \\
        --out '${unit.baseName}.result.tsv'

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        samtools: \$(samtools --version | sed -n '1s/^samtools //p')
        python: \$(python3 --version | sed 's/Python //')
    END_VERSIONS
    """

    stub:
    """
    printf 'kind\\tsample\\tregion_id\\tcontig\\tstart\\tend\\tmode\\tcount\\tstatus\\tmessage\\n' > '${unit.baseName}.result.tsv'
    touch versions.yml
    """
}
