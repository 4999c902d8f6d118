/*
 * The end of a run as the user reads it: which results were not made, why publishing failed, the summary.
 */

// The results a run must make that this one did not: samples without counts, the matrix, the report.
def missingResults(sampleIds, counted, published) {
    def missing = sampleIds.findAll { id -> !counted.containsKey(id) }.collect { id -> "no counts for ${id}".toString() }
    missing += ['counts_matrix.tsv'].findAll { name -> !published.containsKey(name) }.collect { name -> "no ${name}".toString() }
    if (!params.skip_multiqc && !published.containsKey('multiqc/multiqc_report.html')) {
        missing << 'no MultiQC report'
    }
    return missing
}

// Why publishing failed, from the run's error without the paths it names ('No space left on device').
def publishProblem(errorMessage) {
    def first = (errorMessage ?: '').readLines().collect { line -> line.trim() }.find { line -> line }
    return first ? first.replaceFirst(/^.*: /, '') : 'publishing failed (see .nextflow.log)'
}

// [regions, total] of a count file (`Region <name>: <count>` lines, then `Total reads: <sum>`; total null when the
// file has no such last line). Counted by Java string methods: a Groovy closure per line cost 0.2 s per
// 200,000-region sample (3.4 s at the end of a 16-sample run on an exome panel), this costs ~15 ms. A newline
// byte never occurs inside a UTF-8 character, so ISO-8859-1 counts lines exactly whatever the names.
def countFileSummary(countFile) {
    def text = new String(java.nio.file.Files.readAllBytes(countFile), java.nio.charset.StandardCharsets.ISO_8859_1)
    def lines = text.count('\n') + (text && !text.endsWith('\n') ? 1 : 0)
    def last = text.substring(text.lastIndexOf('\n', text.length() - 2) + 1).trim()
    def total = last.startsWith('Total reads: ') ? last.substring('Total reads: '.length()) : null
    return [total == null ? lines : lines - 1, total]
}

// The end-of-run summary: each sample's regions and reads (from this run's own results), failures, outputs.
def runSummary(samples, counted, interrupted, foreignSamples, written, writeProblem, notWritten) {
    def complete = workflow.success && !writeProblem && !missingResults(samples, counted, written)
    def state = complete ? 'finished' : (interrupted ? 'INTERRUPTED' : 'FAILED')
    def lines = ["regioncount ${state}: ${samples.size()} sample(s)"]
    samples.each { id ->
        if (!counted.containsKey(id)) {
            lines << "  ${id}: no counts (${interrupted ? 'not finished' : 'failed or not run'})"
            return
        }
        def (regions, total) = countFileSummary(counted[id])
        def lost = written.containsKey("${id}/${id}_count.txt".toString()) ? '' : ' (not written to --outdir)'
        // Overlapping BED regions each count a read they share: the sum is not the reads in any region. Contigs do
        // not overlap: there the sum is that union (samtools view -c -M -L <all contigs>).
        def union = params.regions ? 'overlapping regions each count a read they share' : "${total} reads in any region"
        lines << "  ${id}: ${regions} regions, region counts sum to ${total ?: 'no'} (${union})${lost}"
    }
    if (writeProblem) {
        lines << "  Results could not be written to ${params.outdir}: ${writeProblem}"
        if (notWritten) {
            lines << "  Not written: ${notWritten.take(5).join(', ')}${notWritten.size() > 5 ? " and ${notWritten.size() - 5} more" : ''}"
        }
    } else if (interrupted) {
        lines << "  Interrupted before the end: run again with -resume to finish (finished tasks are cached)"
    } else if (!complete) {
        // failedCount counts the ignored failures too.
        def ignored = workflow.stats.ignoredCount ? " (${workflow.stats.ignoredCount} ignored by errorStrategy)" : ''
        lines << "  Failed tasks: ${workflow.stats.failedCount}${ignored} (see the errors above and .nextflow.log)"
    }
    if (foreignSamples) {
        lines << "  Note: ${params.outdir} also holds results of samples not in this run (from earlier runs): ${foreignSamples.join(', ')}"
    }
    def countsWritten = samples.findAll { id -> written.containsKey("${id}/${id}_count.txt".toString()) }
    if (complete) {
        lines << "Results: ${params.outdir} (per sample: <sample>/; all samples: counts_matrix.tsv)"
        if (!params.skip_multiqc) {
            lines << "Report:  ${params.outdir}/multiqc/multiqc_report.html"
        }
        lines << "Run info and tool versions: ${params.outdir}/pipeline_info/"
    } else if (countsWritten && written.containsKey('counts_matrix.tsv')) {
        lines << "Results of the samples counted: ${params.outdir}/<sample>/ and counts_matrix.tsv"
    } else if (countsWritten && countsWritten.size() < counted.size()) {
        lines << "Results written: ${params.outdir}/<sample>/ of ${countsWritten.join(', ')} only"
    } else if (countsWritten) {
        lines << "Results of the samples counted: ${params.outdir}/<sample>/ (no counts_matrix.tsv: not every sample was counted)"
    }
    return lines.join('\n')
}
