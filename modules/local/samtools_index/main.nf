// Index a BAM/CRAM that has no usable index (none found, or older than the alignments).
process SAMTOOLS_INDEX {
    tag "${meta.id}"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // samtools 1.16.1 (htslib 1.16), the version environment.yml pins, with python3 for input_checks.py (a
    // remote input is checked here, the first task that has it staged): the image COUNT_UNIT uses (see there).
    // The samtools-only image this module had, quay.io/biocontainers/samtools:1.16.1--h6899075_1 (from
    // nf-core/viralrecon modules/nf-core/samtools/index/main.nf, commit 0fd940bc), has no python.
    container 'docker.io/staphb/samtools:1.16.1'

    input:
    // Fixed staged names: file names never reach the shell.
    tuple val(meta), path(alignments, stageAs: 'alignments')

    output:
    tuple(val(meta), path('alignments.index'), emit: index)
    path('versions.yml', emit: versions)

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    // A CSI for BAM (a BAI cannot index contigs over 512 Mb; htslib reads either by content), a CRAI for CRAM.
    def csi = meta.format == 'bam' ? '-c' : ''
    // User file names and URLs reach the shell only as single-quoted words.
    def quote = { String text -> "'" + text.replace("'", "'\\''") + "'" }
    // A remote input (meta.check_name: its URL) was not read by the driver: checked here first, with its messages.
    def check = meta.check_name ? "input_checks.py --alignments alignments --name=${quote(meta.check_name)}" : ''
    """
    ${check}
    if ! samtools index ${csi} ${args} -@ ${task.cpus - 1} -o alignments.index alignments 2> index.log; then
        cat index.log >&2
        if grep -q 'Unsorted positions\\|NO_COOR\\|not sorted' index.log; then
            problem='not sorted by coordinate (sort it with samtools sort, then index it)'
        else
            problem="samtools index failed: \$(tail -n 1 index.log)"
        fi
        printf '[ERROR] %s: cannot index: %s\\n' ${quote(meta.file_name)} "\$problem" >&2
        exit 1
    fi

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
