// The MultiQC report: the reads per region (bar graph), each sample's total (General Statistics) and the
// pipeline's software versions.
process MULTIQC {
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    // MultiQC 1.35, the version environment.yml pins. The bioconda build tag was found in three Nextflow
    // modules of the public code index (one with its Singularity copy
    // https://depot.galaxyproject.org/singularity/multiqc:1.35--pyhdfd78af_0); the index did not name their
    // repositories. singularityhub/shpc-registry _library/quay.io-biocontainers-multiqc.md lists the same
    // build string (pyhdfd78af_0, noarch) for 1.17 to 1.29.
    container 'quay.io/biocontainers/multiqc:1.35--pyhdfd78af_0'

    input:
    path(mqc_files, stageAs: 'inputs/*')
    // The pipeline's collected software_versions.yml, renamed so that MultiQC reads it as software versions.
    path(software_versions, stageAs: 'inputs/regioncount_software_mqc_versions.yml')
    path(config, stageAs: 'multiqc_config.yml')

    output:
    path('multiqc_report.html', emit: report)
    path('multiqc_data', emit: data)
    // The plots as PNG, SVG and PDF (export_plots in the config); none where the export is off.
    path('multiqc_report_plots', optional: true, emit: plots)
    path('versions.yml', emit: versions)

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    multiqc \\
        --force \\
        --config multiqc_config.yml \\
        --filename multiqc_report.html \\
        --cl-config 'data_dir_name: multiqc_data' \\
        --no-ai \\
        ${args} \\
        inputs

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        multiqc: \$(multiqc --version | sed 's/.*version //')
    END_VERSIONS
    """

    stub:
    """
    mkdir multiqc_data
    touch multiqc_report.html versions.yml
    """
}
