/*
 * Where an input file lives, at no data cost: local or remote (https://, s3://), whether it exists and its
 * size (a HEAD request for http(s)), and a path Nextflow can stage into a task.
 */

// Remote inputs (https://, s3://, ...): Nextflow stages each into the work directory once per run (its
// stage folder), so the driver reads none of their bytes: the checks that need them (format, truncation,
// index kind, @SQ lines) run in the first task that has them staged (bin/input_checks.py, same messages).
def isRemote(path) {
    return path != null && path.toUri().scheme != 'file'
}

// Whether a path exists, at no data cost. Nextflow's http(s) file system asks with a GET of the whole file
// (the body left unread, so the server sends megabytes into the socket buffers) and retries a 404 three
// times over seconds: a HEAD answers without a body. Other schemes ask their file system (s3://: an object
// metadata request). Any answer but found or gone (a refused HEAD, a login asked for, a redirect to another
// protocol) is left to Nextflow's way, which knows its credentials and redirects.
def pathExists(path) {
    def uri = path.toUri()
    if (!(uri.scheme in ['http', 'https'])) {
        return path.exists()
    }
    try {
        def code = withHead(uri) { connection -> connection.responseCode }
        return code >= 200 && code < 300 ? true : (code in [404, 410] ? false : path.exists())
    } catch (IOException problem) {
        error "${uri}: cannot reach the server (${problem.class.simpleName}: ${problem.message})"
    }
}

// The answer of a HEAD request to an http(s) URL, as read(connection) takes it; IOException passes through.
def withHead(uri, Closure read) {
    def connection = (HttpURLConnection) uri.toURL().openConnection()
    connection.requestMethod = 'HEAD'
    connection.connectTimeout = 30000
    connection.readTimeout = 30000
    try {
        return read(connection)
    } finally {
        connection.disconnect()
    }
}

// A file's size without reading it: for http(s) from a HEAD's Content-Length (Nextflow's own size() is a
// GET there), 0 when the server does not say; S3 and local files give it as metadata.
def pathSize(path) {
    def uri = path.toUri()
    if (!(uri.scheme in ['http', 'https'])) {
        return path.size()
    }
    try {
        return withHead(uri) { connection -> Math.max(0L, connection.contentLengthLong) }
    } catch (IOException problem) {
        return 0L
    }
}

// A BED's regions as its size tells them (the driver reads no input data): a line is about 24 bytes, a
// gzipped BED holds about 5 times more. Only the grouping depends on it, never a count.
def estimatedBedRegions(bed) {
    if (!bed) {
        return 0L
    }
    def size = pathSize(bed)
    return (long) (bed.name.endsWith('.gz') ? size * 5 / 24 : size / 24)
}

// Nextflow's task staging (`ln -s <path> <name>` in .command.run) escapes spaces, quotes and most shell
// characters of an input path, but not '$', the glob characters '*?[]{}' nor tabs and line breaks, which the
// task shell then expands: 's[1].bam' would silently stage 's1.bam'. Nextflow also resolves symbolic links
// before staging, so such a local input is staged
// through a hard link with a plain path under the work directory (same inode: the same size and mtime for
// -resume). Where no hard link can be made (another file system), the input is refused with one line.
def stageablePath(path, workDir) {
    def unstageable = ~/[$*?\[\]{}\t\n\r]/
    if (path == null || !(path.toString() =~ unstageable) || path.toUri().scheme != 'file') {
        return path
    }
    def digest = java.security.MessageDigest.getInstance('SHA-256').digest(path.toString().getBytes('UTF-8'))
    def link = workDir.resolve('regioncount-inputs').resolve(digest.encodeHex().toString().take(16))
        .resolve(path.name.replaceAll(/[^A-Za-z0-9._-]/, '_'))
    try {
        java.nio.file.Files.createDirectories(link.parent)
        if (java.nio.file.Files.exists(link) && !java.nio.file.Files.isSameFile(link, path)) {
            java.nio.file.Files.delete(link)  // the file was replaced since an earlier run
        }
        if (!java.nio.file.Files.exists(link)) {
            java.nio.file.Files.createLink(link, path.toRealPath())
        }
    } catch (IOException | UnsupportedOperationException problem) {
        error "${path}: Nextflow cannot stage a path holding '\$', '*?[]{}', a tab or a line break into a task " +
            "(its shell would expand them), " +
            "and no hard link to it could be made under ${workDir} (${problem.class.simpleName}): " +
            "move the file, or link it, to a path without those characters"
    }
    return link
}
