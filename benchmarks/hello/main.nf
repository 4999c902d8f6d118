#!/usr/bin/env nextflow
// The start-up reference of `make bench` (dataset `hello`): four processes one after another, each a
// trivial shell task on the local executor, run with the same Nextflow as the pipeline. Its wall time is
// Nextflow's own fixed cost (launch, session start, four task submissions and completions) with no
// configuration, input checks or data of ours; the ratio `pipeline tiny / hello-world` compares the
// pipeline's fixed cost with it. No nextflow.config: the defaults.

process SAY {
    input:
    val word

    output:
    path 'said.txt'

    script:
    """
    echo '${word}' > said.txt
    """
}

process UPPER {
    input:
    path said

    output:
    path 'upper.txt'

    script:
    """
    tr a-z A-Z < ${said} > upper.txt
    """
}

process GREET {
    input:
    path upper

    output:
    path 'greeting.txt'

    script:
    """
    printf 'hello %s\\n' "\$(cat ${upper})" > greeting.txt
    """
}

process COUNT {
    input:
    path greeting

    output:
    stdout

    script:
    """
    printf '%s (%s characters)\\n' "\$(cat ${greeting})" "\$(wc -c < ${greeting} | tr -d ' ')"
    """
}

workflow {
    COUNT(GREET(UPPER(SAY(Channel.of('world'))))).view { it.trim() }
}
