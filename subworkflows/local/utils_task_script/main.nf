/*
 * Helpers of the modules' task scripts: how a value reaches a shell, the sample manifest a task writes, a task's
 * tag. Kept apart from the pipeline's own functions (utils_regioncount), so that a module includes only
 * these few lines: every include of a file costs the driver its compilation again (~0.25 s for the pipeline's
 * functions, five modules: over a second of every run's start).
 */

// A string as one single-quoted shell word: user file names and options reach task scripts only this way.
def shellQuote(String text) {
    return "'" + text.replace("'", "'\\''") + "'"
}

// A TSV manifest for a task script, as the arguments of one `printf '%s\n' ... > file` line: a header and
// one row per sample, row(sample, 1-based position) giving its fields, each row one quoted word (tabs and
// line breaks, possible in file names, become spaces: the names are for messages). One script line, as
// literal line breaks in a task script would defeat Nextflow's indentation stripping of the heredocs.
def sampleManifest(samples, header, Closure row) {
    def lines = [header.join('\t')]
    samples.eachWithIndex { sample, i ->
        lines << row(sample, i + 1).collect { it.toString().replaceAll(/[\t\r\n]/, ' ') }.join('\t')
    }
    return lines.collect { shellQuote(it) }.join(' ')
}

// A group as task tags show it: 'group_2 (s1,s2)', or 'group_2 (250 samples)'.
def groupLabel(String group, samples) {
    return "${group} (${samples.size() <= 3 ? samples*.id.join(',') : samples.size() + ' samples'})"
}
