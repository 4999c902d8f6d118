/*
 * The output folder: one run at a time writes it (a lock file), and the record of what regioncount wrote there,
 * so that a later run removes only its own earlier results.
 */

// --outdir is written by one run at a time: an atomically created lock file names the run that holds it.
// Object stores (s3://) have no atomic create: no lock there.
def acquireOutdirLock(outdir, runName) {
    def lock = file(outdir).resolve('pipeline_info').resolve('.regioncount.lock')
    if (lock.toUri().scheme != 'file') {
        return null
    }
    def unwritable = outdirProblem(outdir, lock.parent)
    if (unwritable) {
        error unwritable
    }
    def me = ProcessHandle.current()
    def content = [run: runName, pid: me.pid(), host: InetAddress.localHost.hostName,
                   started: me.info().startInstant().map { instant -> instant.toString() }.orElse('')]
    for (attempt in 1..3) {
        try {
            java.nio.file.Files.write(lock, content.collect { k, v -> "${k}=${v}" }.join('\n').getBytes('UTF-8'),
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)
            return lock
        } catch (java.nio.file.FileAlreadyExistsException ignored) {
            def holder = lockHolder(lock)
            if (holder != null && lockHolderAlive(holder, content.host)) {
                error "--outdir ${outdir}: another regioncount run (${holder.run}, process ${holder.pid} on ${holder.host}) " +
                    "is writing there: wait for it to finish or use another --outdir (remove ${lock} if that run is gone)"
            }
            if (holder != null) {
                log.warn "--outdir ${outdir}: removing the lock of run ${holder.run} (process ${holder.pid} has ended)"
            }
            java.nio.file.Files.deleteIfExists(lock)
        } catch (IOException problem) {
            java.nio.file.Files.deleteIfExists(lock)  // created by this run, but not written in full
            error "--outdir ${outdir}: cannot write there (${ioReason(problem)})"
        }
    }
    error "--outdir ${outdir}: could not take ${lock} (another run keeps creating it)"
}

// One line naming --outdir when its folder cannot be made or written (a file, read-only, a full disk).
def outdirProblem(outdir, folder) {
    def dir = file(outdir)
    if (java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir)) {
        return "--outdir ${outdir}: a file, not a folder"
    }
    try {
        java.nio.file.Files.createDirectories(folder)
        java.nio.file.Files.delete(java.nio.file.Files.createTempFile(folder, '.write-check', ''))
        return null
    } catch (IOException problem) {
        return "--outdir ${outdir}: cannot write there (${ioReason(problem)})"
    }
}

// The lock's fields, or null when it vanished meanwhile (its run just ended).
def lockHolder(lock) {
    try {
        return lock.getText('UTF-8').readLines().findAll { line -> line.contains('=') }.collectEntries { line -> line.split('=', 2) as List }
    } catch (java.nio.file.NoSuchFileException ignored) {
        return null
    }
}

// A holder on another host cannot be checked from here: taken as alive. On this host: its process still runs
// (the same process, not a later one given the same number).
def lockHolderAlive(holder, thisHost) {
    if (holder.host != thisHost) {
        return true
    }
    def process = holder.pid?.isLong() ? ProcessHandle.of(holder.pid as long) : Optional.empty()
    return process.map { running -> running.info().startInstant().map { instant -> instant.toString() }.orElse('') == holder.started }.orElse(false)
}

def releaseOutdirLock(lock) {
    if (lock != null) {
        java.nio.file.Files.deleteIfExists(lock)
    }
}

// What this pipeline published into --outdir, so that a later run removes only its own files: one line per
// file, its path relative to --outdir, size and mtime (ms; of the link itself for a symlink). Another tool's
// file, or ours changed since, does not match its line and is never deleted. No record: nothing is deleted.
def outputsRecord(outdir) {
    return file(outdir).resolve('pipeline_info/regioncount_outputs.tsv')
}

// [size, mtime in ms] of a file (of a symlink itself, not its target), or null when there is none.
def fileStamp(path) {
    try {
        def attributes = java.nio.file.Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes,
            java.nio.file.LinkOption.NOFOLLOW_LINKS)
        return attributes.isDirectory() ? null : [attributes.size(), attributes.lastModifiedTime().toMillis()]
    } catch (java.nio.file.NoSuchFileException ignored) {
        return null
    }
}

// relative path -> [size, mtime ms], from the record in --outdir ([:] when there is none).
def readOutputsRecord(outdir) {
    def record = outputsRecord(outdir)
    if (!java.nio.file.Files.isRegularFile(record)) {
        return [:]
    }
    return record.readLines('UTF-8').drop(1).findAll { line -> line }.collectEntries { line ->
        def fields = line.split('\t')
        [fields[0], [fields[1] as long, fields[2] as long]]
    }
}

// The record rewritten whole through a temporary name (a reader never sees half of it). Returns null, or
// why it could not be written (a full disk). Included functions reach main.nf's catch blocks wrapped, so the
// problem is returned, not thrown.
def writeOutputsRecord(outdir, entries) {
    def record = outputsRecord(outdir)
    def lines = ['path\tsize\tmtime_ms'] + entries.sort().collect { relative, stamp -> "${relative}\t${stamp[0]}\t${stamp[1]}" }
    def partial = record.resolveSibling(".${record.name}.partial")
    try {
        java.nio.file.Files.createDirectories(record.parent)
        partial.setText(lines.join('\n') + '\n', 'UTF-8')
        java.nio.file.Files.move(partial, record, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
        return null
    } catch (IOException problem) {
        java.nio.file.Files.deleteIfExists(partial)
        return "${record}: ${ioReason(problem)}"
    }
}

// The reason of a file system error without the paths it names ('No space left on device').
def ioReason(IOException problem) {
    return problem instanceof java.nio.file.FileSystemException && problem.reason ? problem.reason : problem.message
}

// The cohort files: they describe every sample of a run, so any rerun replaces them (with MultiQC, also what
// it writes under multiqc/).
def cohortFiles() {
    return ['counts_matrix.tsv', 'pipeline_info/software_versions.yml']
}

// Whether a recorded path is one of these samples' results or a cohort file.
def isEarlierResultOf(String relative, sampleIds) {
    return relative in cohortFiles() || relative.startsWith('multiqc/') ||
        sampleIds.any { id -> relative.startsWith("${id}/") }
}

// The results of earlier runs for these samples, and the cohort files, go before any work (and when the run
// stops on input problems): a sample that fails now must not leave an earlier, complete-looking count file
// behind (nor a matrix that still holds it). Only files the record lists and that still match it are
// deleted; a file changed since (or another tool's) is kept and named once. Returns the record's remaining
// entries (other samples' results), which the end of the run writes back with its own.
def removeEarlierResults(outdir, sampleIds) {
    def dir = file(outdir)
    def record = readOutputsRecord(outdir)
    def kept = [:]
    def changed = []
    record.each { relative, stamp ->
        if (!isEarlierResultOf(relative, sampleIds)) {
            kept[relative] = stamp
            return
        }
        def path = dir.resolve(relative)
        def now = fileStamp(path)
        if (now == stamp) {
            // Never through a link: a file inside a folder published as a link (--publish_dir_mode symlink:
            // multiqc_data) is the task's own, in the work directory, where -resume finds it again, so the link
            // goes; a folder the user made a link is left as it is, and what it leads to.
            def link = linkedFolder(dir, relative)
            if (link == null) {
                java.nio.file.Files.delete(path)
            } else if (dir.relativize(link).toString() in publishedFolders()) {
                java.nio.file.Files.deleteIfExists(link)
            }
        } else if (now != null) {
            // Still recorded as regioncount wrote it: a run that would replace it stops (unrecordedTargets).
            changed << relative
            kept[relative] = stamp
        }
    }
    if (changed) {
        log.warn "--outdir ${outdir}: kept ${changed.size()} file(s) changed since regioncount wrote them " +
            "(a run that would replace them stops first): ${changed.take(5).join(', ')}${changed.size() > 5 ? ', ...' : ''}"
    }
    def problem = record ? writeOutputsRecord(outdir, kept) : null
    if (problem) {
        error "--outdir ${outdir}: cannot write there (${problem})"
    }
    return kept
}

// The files at paths where this run publishes (its samples' results, the matrix, the versions file and, with
// MultiQC, multiqc/'s report, data and plots) that are not as regioncount wrote them: the record does not list
// them (an nf-core pipeline's multiqc/ in a shared results folder, a file of the user's), or lists another size
// or time (a result the user edited: theirs now). Publishing would replace them, so the run stops before any
// work, naming them. Returns path -> whether regioncount wrote it (and it changed since), by path. An --outdir
// without a record whose versions file names this pipeline is one of regioncount 0.1.0, which kept no record:
// its results are replaced, as that version did. Object stores (s3://) are not listed here (no lock there either).
def unrecordedTargets(outdir, sampleIds, withMultiqc, pipelineName) {
    def dir = file(outdir)
    if (dir.toUri().scheme != 'file' || !java.nio.file.Files.isDirectory(dir)) {
        return [:]
    }
    def record = readOutputsRecord(outdir)
    def versions = dir.resolve('pipeline_info/software_versions.yml')
    if (!record && java.nio.file.Files.isRegularFile(versions) && versions.getText('UTF-8').contains("${pipelineName}:")) {
        return [:]
    }
    def targets = cohortFiles() +
        sampleIds.collectMany { id -> ["${id}/${id}_count.txt".toString(), "${id}/${id}.counts.tsv".toString()] }
    def found = targets.findAll { relative -> fileStamp(dir.resolve(relative)) != null }
    if (withMultiqc) {
        (['multiqc/multiqc_report.html'] + publishedFolders()).each { relative ->
            def path = dir.resolve(relative)
            if (java.nio.file.Files.isSymbolicLink(path) && java.nio.file.Files.isDirectory(path)) {
                // Published by --publish_dir_mode symlink: the record lists the files inside it.
                if (!record.keySet().any { recorded -> recorded.startsWith("${relative}/") }) {
                    found << relative
                }
            } else if (java.nio.file.Files.isDirectory(path)) {
                path.eachFileRecurse(groovy.io.FileType.FILES) { inside -> found << dir.relativize(inside).toString() }
            } else if (fileStamp(path) != null) {
                found << relative
            }
        }
    }
    return found.unique().sort().findAll { relative -> record[relative] != fileStamp(dir.resolve(relative)) }
        .collectEntries { relative -> [relative, record.containsKey(relative)] }
}

// One line: the files an --outdir holds that this run would replace (unrecordedTargets), the first five named.
def unrecordedTargetsProblem(outdir, targets) {
    def names = targets.collect { relative, changed -> changed ? "${relative} (changed since)" : relative }
    def shown = names.take(5).join(', ') + (names.size() > 5 ? ", ... (${names.size()} in all)" : '')
    return "--outdir ${outdir}: this run would replace ${names.size()} file(s) that regioncount did not write or " +
        "that changed since it wrote them (pipeline_info/regioncount_outputs.tsv does not list them as they are): " +
        "${shown}: move them away or use another --outdir"
}

// The folders the pipeline publishes whole (MultiQC's outputs): links to the task's folder in symlink mode.
def publishedFolders() {
    return ['multiqc/multiqc_data', 'multiqc/multiqc_report_plots']
}

// The first folder of a recorded path under --outdir that is a symbolic link, or null.
def linkedFolder(dir, String relative) {
    def folder = dir
    for (part in (relative.split('/') as List).dropRight(1)) {
        folder = folder.resolve(part)
        if (java.nio.file.Files.isSymbolicLink(folder)) {
            return folder
        }
    }
    return null
}

// Sample folders of earlier runs whose samples are not in this one (removed from the samplesheet).
def foreignSampleFolders(outdir, sampleIds) {
    def dir = file(outdir)
    if (!dir.isDirectory()) {
        return []
    }
    return dir.listFiles().findAll { folder ->
        folder.isDirectory() && !(folder.name in sampleIds) && folder.resolve("${folder.name}_count.txt").exists()
    }*.name.sort()
}

// path -> [size, mtime ms] of the files this run published that are in --outdir as it published them.
def writtenResults(outdir, published) {
    return published.collectEntries { relative, source ->
        def target = outdir.resolve(relative)
        def stamp = fileStamp(target)
        def complete = stamp != null && java.nio.file.Files.exists(target) && target.size() == source.size()
        complete ? [(relative): stamp] : [:]
    }
}

// Copy through a temporary name, so that no reader sees a half-written file.
def publishFile(source, target) {
    def partial = target.resolveSibling(".${target.name}.partial")
    java.nio.file.Files.createDirectories(target.parent)
    java.nio.file.Files.copy(source, partial, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
    java.nio.file.Files.move(partial, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
}
