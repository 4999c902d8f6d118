/*
 * BAM, CRAM, BGZF and index files by their content: the checks the driver makes on local inputs before any
 * work (remote ones are checked by the first task that has them, bin/input_checks.py, with the same messages).
 */

include { isRemote; pathExists } from '../utils_input_files'

// The first `count` bytes of a file (fewer when it is shorter).
def headBytes(path, int count) {
    path.withInputStream { stream -> stream.readNBytes(count) }
}

// Gzip (or BGZF) by its magic bytes, whatever the file's name.
def isGzip(path) {
    def head = headBytes(path, 2)
    return head.length == 2 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b
}

// The first `count` bytes of a gzip (or BGZF) file's content, or null when it is not gzip.
def gunzippedHead(path, int count) {
    if (!isGzip(path)) {
        return null
    }
    try {
        path.withInputStream { stream -> new java.util.zip.GZIPInputStream(stream).readNBytes(count) }
    } catch (IOException ignored) {
        return null
    }
}

// BGZF (bgzip, BAM) rather than plain gzip: a gzip member with the 'BC' extra field.
def isBgzf(path) {
    def head = headBytes(path, 14)
    return head.length == 14 && (head[0] & 0xff) == 0x1f && (head[1] & 0xff) == 0x8b && (head[3] & 0x04) &&
        head[12] == (byte) 'B' && head[13] == (byte) 'C'
}

// 'bam' or 'cram' from the file's first bytes, or null when it is neither.
def alignmentFormat(path) {
    if (new String(headBytes(path, 4), 'ISO-8859-1') == 'CRAM') {
        return 'cram'
    }
    def magic = gunzippedHead(path, 4)
    return magic != null && new String(magic, 'ISO-8859-1') == 'BAM\u0001' ? 'bam' : null
}

// Every BGZF file (BAM) ends with a 28-byte empty block; without it the file was cut short.
def endsWithBgzfEof(path) {
    def eof = [0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00,
               0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] as byte[]
    def size = path.size()
    if (size < eof.length) {
        return false
    }
    def tail = new byte[eof.length]
    path.withInputStream { stream ->
        stream.skipNBytes(size - eof.length)
        stream.readNBytes(tail, 0, tail.length)
    }
    return Arrays.equals(tail, eof)
}

// 'bam' or 'cram' by the name of a remote file, for what the driver must decide before any task (CRAM needs
// --fasta; the index SAMTOOLS_INDEX builds): its content is checked in the first task (input_checks.py).
def alignmentFormatByName(path) {
    return path.name.endsWith('.cram') ? 'cram' : 'bam'
}

// One line naming the file and its problem, or null when it looks like usable alignments.
def alignmentProblem(path) {
    if (!pathExists(path)) {
        return "${path.toUriString()}: file not found"
    }
    if (isRemote(path)) {
        return null
    }
    if (path.isDirectory() || path.size() == 0) {
        return "${path}: not a BAM or CRAM file (${path.isDirectory() ? 'a folder' : 'empty file'})"
    }
    def format = alignmentFormat(path)
    if (format == null) {
        return "${path}: not a BAM or CRAM file (unrecognised content)"
    }
    if (format == 'bam' && !endsWithBgzfEof(path)) {
        return "${path}: truncated BAM (no BGZF end-of-file marker)"
    }
    return null
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

// What an index holds, from its first bytes: 'bai', 'csi', 'tbi', 'crai' (gzipped lines of numbers), or null.
def indexKind(path) {
    if (new String(headBytes(path, 4), 'ISO-8859-1') == 'BAI\u0001') {
        return 'bai'
    }
    def inner = gunzippedHead(path, 64)
    if (inner == null) {
        return null
    }
    def text = new String(inner, 'ISO-8859-1')
    if (text.startsWith('CSI\u0001')) {
        return 'csi'
    }
    if (text.startsWith('TBI\u0001')) {
        return 'tbi'
    }
    return text ==~ /[0-9\t\n-]*/ ? 'crai' : null
}

// One line naming the index the user has (given, or found beside the alignments) and what is wrong, or null.
def indexProblem(index, alignments, format) {
    if (index.isDirectory()) {
        return "${index}: the index is a folder, not a file"
    }
    if (index.size() == 0) {
        return "${index}: empty index file (0 bytes): remove it (the pipeline then builds one) or give a valid index"
    }
    def kind = indexKind(index)
    def usable = format == 'cram' ? ['crai'] : ['bai', 'csi']
    if (kind in usable) {
        return null
    }
    def what = kind ? "a ${kind.toUpperCase()} index" : 'not a BAI, CSI or CRAI index (unrecognised content)'
    return "${index}: ${what}, which cannot index the ${format.toUpperCase()} file ${alignments.name} " +
        "(expected ${usable.collect { extension -> '.' + extension }.join(' or ')})"
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
