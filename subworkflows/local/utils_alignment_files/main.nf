/*
 * Alignment files and their indexes: their content checked (by bin/input_checks.py), the index beside them
 * found, its age, and a content key for -resume.
 */

include { pathExists } from '../utils_input_files'

// The answers of bin/input_checks.py --driver to `requests` (see its driver_checks), in their order: the one
// home of the checks of an input's content, which the first task also runs on remote inputs. One python3 call
// for a whole run's inputs. null when python3 cannot run it here (not installed, too old): the first task that
// stages each input checks it then, as it does remote ones.
def checkedContents(List requests) {
    def command = ['python3', "${projectDir}/bin/input_checks.py".toString(), '--driver']
    def process
    try {
        process = new ProcessBuilder(command).start()
    } catch (IOException notFound) {
        log.warn "python3 cannot be run on this machine (${notFound.message}): the inputs are checked by the first task that reads them"
        return null
    }
    def errors = new StringBuffer()
    process.consumeProcessErrorStream(errors)
    try {
        process.outputStream.withWriter('UTF-8') { writer -> writer << groovy.json.JsonOutput.toJson(requests) }
    } catch (IOException stoppedReading) {
        // It ended before reading its questions: its exit status and error output say why.
    }
    def answers = process.inputStream.getText('UTF-8')
    if (process.waitFor() != 0) {
        def reason = errors.toString().readLines().findAll { line -> line.trim() }.with { lines -> lines ? lines.last() : "exit status ${process.exitValue()}" }
        log.warn "python3 could not check the inputs here (${reason}): the inputs are checked by the first task that reads them"
        return null
    }
    return new groovy.json.JsonSlurper().parseText(answers)
}

// The index beside an alignment file, in the order htslib-made indexes are named: CSI (what
// `samtools sort --write-index` writes, and the only index for contigs over 512 Mb) before BAI; CRAM: CRAI.
def findIndex(alignments) {
    def stem = alignments.name.replaceFirst(/\.(bam|cram)$/, '')
    def suffixes = alignments.name.endsWith('.cram') ? ['crai'] : ['csi', 'bai']
    def candidates = suffixes.collectMany { suffix ->
        [alignments.resolveSibling("${alignments.name}.${suffix}"), alignments.resolveSibling("${stem}.${suffix}")]
    }
    return candidates.find { candidate -> candidate != alignments && pathExists(candidate) }
}

// htslib warns that an index is older than its data only when it is older by whole seconds (an index
// written together with its BAM, as by `samtools sort --write-index`, is a few milliseconds older).
def indexIsStale(index, alignments) {
    return index.lastModified().intdiv(1000) < alignments.lastModified().intdiv(1000)
}

// A cheap content key for -resume. Nextflow's default cache keys on path, size and mtime, so a file
// replaced in place by another of the same size with its mtime restored would be served from the cache:
// its first and last 16 KiB (the header and the last BGZF block's end, which any change to the last
// records rewrites) and size are hashed too. A whole-file
// hash (cache 'deep') would read every BAM once per task. Local files only (remote ones are not read here).
def contentFingerprint(path) {
    if (path == null || path.toUri().scheme != 'file') {
        return ''
    }
    def window = 16384L
    def digest = java.security.MessageDigest.getInstance('SHA-256')
    def size = path.size()
    new RandomAccessFile(path.toFile(), 'r').withCloseable { handle ->
        [0L, Math.max(window, size - window)].unique().each { offset ->
            if (offset < size) {
                def chunk = new byte[(int) Math.min(window, size - offset)]
                handle.seek(offset)
                handle.readFully(chunk)
                digest.update(chunk)
            }
        }
    }
    digest.update(size.toString().bytes)
    return digest.digest().encodeHex().toString().take(16)
}
