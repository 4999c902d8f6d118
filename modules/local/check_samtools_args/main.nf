// Check --samtools_args once, before any other task: refused options (output, the pipeline's own) and values
// samtools rejects are one line here, not one failing samtools call per region later.
process CHECK_SAMTOOLS_ARGS {
    tag 'samtools_args'
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // The COUNT_UNIT image (samtools 1.16.1 and python3): the check must run the samtools that counts.
    container 'docker.io/staphb/samtools:1.16.1'

    input:
    val samtools_args

    output:
    path('samtools_args.checked', emit: checked)
    path('versions.yml', emit: versions)

    when:
    task.ext.when == null || task.ext.when

    script:
    // The user's string as one single-quoted shell word, after '=' so that a leading '-' is never read as our
    // option.
    def quoted = "'" + samtools_args.replace("'", "'\\''") + "'"
    """
    # bin/ digest (conf/modules.config): ${task.ext.bin_digest ?: 'none'}
    check_samtools_args.py --samtools-args=${quoted}
    printf '%s\\n' ${quoted} > samtools_args.checked

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        samtools: \$(samtools --version | sed -n '1s/^samtools //p')
        python: \$(python3 --version | sed 's/Python //')
    END_VERSIONS
    """

    stub:
    """
    touch samtools_args.checked versions.yml
    """
}
