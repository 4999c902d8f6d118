/*
 * Functions that check the run before any work starts: parameters against nextflow_schema.json
 * (the nf-schema plugin cannot be downloaded offline), the samplesheet and the alignment files.
 * Every problem is reported as one line naming the parameter or file and the problem.
 */
import groovy.json.JsonSlurper
import java.util.zip.GZIPInputStream

// Sample names become file and folder names: keep them safe.
SAMPLE_NAME_PATTERN = ~/^[A-Za-z0-9][A-Za-z0-9._-]*$/
// ... and short: the longest name derived from one ('.<sample>_count.txt.partial', 'a.regions.tsv') adds
// under 30 bytes, and a file name holds 255 (ASCII: a byte a character).
SAMPLE_NAME_MAX_LENGTH = 100
// --split_size below this makes a samtools call per few bp (1: one per base, 166,569 calls for 166 kb).
SPLIT_SIZE_FLOOR = 1000
// A --split_size below this is more likely Mb than bp (the default is 50 Mb).
SPLIT_SIZE_PLAUSIBLE = 100000
// Every BGZF file (BAM) ends with this 28-byte empty block; without it the file was cut short.
BGZF_EOF = [0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00,
            0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] as byte[]

// Samples are planned, counted and reduced in groups, so that a cohort costs tasks by its reads, not by its
// number of samples: a group's small samples share tasks, a big sample still gets up to --max_units units.
// The group of a sample depends on its name only (CRC32), so adding a sample to a cohort changes one group
// and -resume recounts that group alone. Groups: the CPU slots of the local executor, or --max_units /
// --units_per_cpu on a scheduler.
def sampleGroupCount(parameters, config) {
    return Math.max(1, countingTaskBound(parameters, config).intdiv(parameters.units_per_cpu as int))
}

// More groups for a cohort on a large panel: a group's reducer holds its samples x regions tallies (~32 B each;
// the planner too, ~0.4 KB each, when the samples' headers differ on the panel's contigs: no shared plan), so a
// group holds at most --max_group_regions of them. The count
// doubles rather than grows by one, so that adding a sample reshuffles the groups (and -resume recounts
// them all) only when the cohort crosses a doubling, not at every sample.
def sampleGroupsFor(int baseGroups, int nSamples, long regionsPerSample, long maxGroupRegions) {
    def groups = baseGroups
    if (maxGroupRegions > 0) {
        def needed = Math.ceil(nSamples * (double) regionsPerSample / maxGroupRegions)
        while (groups < needed && groups < nSamples) {
            groups *= 2
        }
    }
    return groups
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

def sampleGroup(String id, int groups) {
    def crc = new java.util.zip.CRC32()
    crc.update(id.getBytes('UTF-8'))
    return (int) (crc.value % groups) + 1
}

// Counting tasks per sample: at most --max_units; on the local executor also at most --units_per_cpu per
// CPU it may use (per --count_cpus). Each task has a fixed cost (wrapper, trace, start-up), so a laptop
// is best served by a few tasks per CPU, while a scheduler, whose capacity is unknown here, gets max_units.
def countingTaskBound(parameters, config) {
    if (!runsLocally(config)) {
        return parameters.max_units as int
    }
    def slots = Math.max(1, localCpus(config).intdiv(countTaskCpus(parameters)))
    return Math.min(parameters.max_units as int, (parameters.units_per_cpu as int) * slots)
}

// Counting tasks per group: on the local executor the groups share its CPUs, so together they get the run's
// bound (each at least one): 16 small BAMs in 2 groups on 2 CPUs are 4 tasks of 4, not 8 of 2. On a
// scheduler each group may use the whole bound. The bound is shared by min(groups, samples), not by the
// groups that happen to hold samples: adding a sample to a cohort then changes no other group's bound once
// there are as many samples as groups.
def groupTaskBound(parameters, config, int nGroups, int nSamples) {
    def bound = countingTaskBound(parameters, config)
    return runsLocally(config) ? Math.max(1, bound.intdiv(Math.max(1, Math.min(nGroups, nSamples)))) : bound
}

def runsLocally(config) {
    return (config.navigate('process.executor') ?: 'local') == 'local'
}

// The CPUs the local executor may use (executor.cpus, else the machine's).
def localCpus(config) {
    return (config.navigate('executor.$local.cpus') ?: config.navigate('executor.cpus')
        ?: Runtime.runtime.availableProcessors()) as int
}

// CPUs of one counting task: --count_cpus, capped by process.resourceLimits (conf/base.config). Both at least 1.
def countTaskCpus(parameters) {
    return Math.min(parameters.count_cpus as int, (session.config.navigate('process.resourceLimits')?.cpus ?: Integer.MAX_VALUE) as int)
}

// The local executor refuses a task that asks for more CPUs than it has, but only once planning is done:
// say so before any work.
def countCpusProblem(parameters, config) {
    if (!runsLocally(config) || countTaskCpus(parameters) <= localCpus(config)) {
        return null
    }
    return "--count_cpus ${parameters.count_cpus}: the local executor has only ${localCpus(config)} CPUs " +
        "(use --count_cpus ${localCpus(config)} or less, or raise executor.cpus)"
}

// --split_size is 0 (never split) or at least SPLIT_SIZE_FLOOR bp: a smaller chunk only multiplies samtools
// calls. A value too small to be bp is most likely Mb: the line suggests what was meant.
def splitSizeProblem(parameters) {
    def size = parameters.split_size
    if (!(size instanceof Number) || size <= 0 || size >= SPLIT_SIZE_FLOOR) {
        return null
    }
    return "--split_size ${size}: must be 0 (never split) or at least ${SPLIT_SIZE_FLOOR} bp (did you mean ${(size as long) * 1000000L}?)"
}

// A warning line for a --split_size that is allowed but looks like Mb rather than bp, else null.
def splitSizeWarning(parameters) {
    def size = parameters.split_size
    if (!(size instanceof Number) || size < SPLIT_SIZE_FLOOR || size >= SPLIT_SIZE_PLAUSIBLE) {
        return null
    }
    return "--split_size ${size} is in bp: did you mean ${(size as long) * 1000000L}?"
}

// --- the tools the tasks run ---------------------------------------------------------------------

SOFTWARE_PROFILE_SCOPES = ['conda', 'mamba', 'spack', 'docker', 'podman', 'singularity', 'apptainer', 'charliecloud',
                           'shifter', 'sarus', 'wave']
TOOLS_HOW_TO_GET = 'run `make setup` (then put .venv/bin and .tools/bin on PATH as README says), ' +
    'or use -profile conda, docker or singularity'

// Whether the tasks get their tools from a container or an environment (-profile conda|docker|...).
def softwareProfileEnabled(config) {
    return SOFTWARE_PROFILE_SCOPES.any { scope -> config.navigate("${scope}.enabled")?.toString() == 'true' }
}

// Whether the configuration may give the tasks another PATH than the launcher's (env.PATH, a module, a
// beforeScript such as `module load samtools`): the tools can then only be looked for, not required.
def taskPathMayDiffer(config) {
    return ['env.PATH', 'process.module', 'process.beforeScript'].any { config.navigate(it) }
}

// The executable `name` in the folders of a PATH string, or null.
def onPath(String name, String path) {
    return path.tokenize(File.pathSeparator).collect { new File(it, name) }.find { it.isFile() && it.canExecute() }
}

// Whether `python` imports pysam (the planner's one non-standard module): one short call.
def importsPysam(File python) {
    def process = [python.path, '-c', 'import pysam'].execute()
    process.consumeProcessOutput(new StringBuilder(), new StringBuilder())
    return process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) && process.exitValue() == 0
}

// One line per tool a local task would miss, run before any work: the local executor's tasks run with the
// launcher's PATH (and the pipeline's bin/), so what is not on it now fails a task later, with a traceback.
// Containers and conda bring their own tools; on a scheduler the nodes' PATH is not this one: nothing to check.
def missingToolProblems(parameters, config) {
    if (!runsLocally(config) || softwareProfileEnabled(config)) {
        return []
    }
    def path = System.getenv('PATH') ?: ''
    def problems = []
    if (!onPath('samtools', path)) {
        problems << "samtools: not found on PATH (the indexing and counting tasks run it): ${TOOLS_HOW_TO_GET}"
    }
    def python = onPath('python3', path)
    if (!python) {
        problems << "python3: not found on PATH (the planning and counting tasks run it): ${TOOLS_HOW_TO_GET}"
    } else if (!importsPysam(python)) {
        problems << "python3 (${python}): cannot import pysam (the planning task needs it): ${TOOLS_HOW_TO_GET}"
    }
    if (!parameters.skip_multiqc && !onPath('multiqc', path)) {
        problems << "multiqc: not found on PATH (the report needs it; --skip_multiqc runs without it): ${TOOLS_HOW_TO_GET}"
    }
    return problems
}

// Parameter definitions from the schema: name -> [group: title, type:, default:, description:, ...].
def schemaParameters(schemaPath) {
    def schema = new JsonSlurper().parse(new File(schemaPath.toString()))
    def definitions = [:]
    schema['$defs'].each { groupName, group ->
        group.properties.each { name, spec ->
            definitions[name] = spec + [group: group.title, required: (group.required ?: []).contains(name)]
        }
    }
    return definitions
}

// Usage text generated from the schema, for --help.
def paramsHelp(schemaPath) {
    def definitions = schemaParameters(schemaPath)
    def lines = [
        'Usage:',
        '  nextflow run . --input <bam|glob|samplesheet.csv> --outdir <dir> [options]',
        '  nextflow run . -profile test --outdir results',
        '',
    ]
    definitions.groupBy { it.value.group }.each { group, parameters ->
        lines << "${group}:"
        parameters.each { name, spec ->
            def type = spec.enum ? spec.enum.join('|') : spec.type
            def shown = spec.containsKey('default') && spec.default != '' ? " [default: ${spec.default}]" : ''
            def required = spec.required ? ' (required)' : ''
            lines << "  --${name.padRight(22)} ${type.padRight(8)} ${spec.description}${required}${valueRange(spec)}${shown}"
        }
        lines << ''
    }
    lines << 'Profiles: -profile test, debug, and the executor/software profiles listed in README.md.'
    return lines.join('\n')
}

// ' [range: 1..1024]' for a number with a minimum or a maximum in the schema, else ''.
def valueRange(spec) {
    if (spec.minimum == null && spec.maximum == null) {
        return ''
    }
    return " [range: ${spec.minimum != null ? spec.minimum : ''}..${spec.maximum != null ? spec.maximum : ''}]"
}

def isOfType(value, type) {
    switch (type) {
        case 'string': return value instanceof CharSequence
        // Nextflow reads --x 4294967296 as a Long and larger ones as a BigInteger: integers, which the
        // schema's maximum refuses before any `as int` could wrap them.
        case 'integer': return value instanceof Integer || value instanceof Long || value instanceof BigInteger
        case 'number': return value instanceof Number
        case 'boolean': return value instanceof Boolean
        default: return true
    }
}

// Problems with the run's parameters: unknown names, wrong types, missing required values, bad values.
def parameterProblems(parameters, schemaPath) {
    def definitions = schemaParameters(schemaPath)
    // Nextflow adds a camelCase copy of every --snake_case or --kebab-case parameter: compare folded names.
    def fold = { String name -> name.replaceAll(/[-_]/, '').toLowerCase() }
    def known = definitions.keySet().collect { fold(it) } as Set
    def problems = []
    parameters.each { name, value ->
        if (!(fold(name) in known)) {
            def close = definitions.keySet().min { candidate -> levenshtein(name, candidate) }
            problems << (removedParameterProblem(name) ?: "--${name}: unknown parameter" + (levenshtein(name, close) <= 3 ? " (did you mean --${close}?)" : ''))
        }
    }
    definitions.each { name, spec ->
        def value = parameters[name]
        if (value == null || (value instanceof CharSequence && value.toString().isEmpty() && spec.type != 'string')) {
            if (spec.required) {
                problems << "--${name}: missing, required (${spec.description})"
            }
            return
        }
        if (value == true && spec.type != 'boolean') {
            problems << "--${name}: needs a value (${spec.type})"
            return
        }
        if (!isOfType(value, spec.type)) {
            problems << "--${name}: expected ${spec.type == 'integer' ? 'an integer' : 'a ' + spec.type}, got '${value}'"
            return
        }
        if (spec.enum && !(value in spec.enum)) {
            problems << "--${name}: '${value}' is not one of ${spec.enum.join(', ')}"
        }
        if (spec.minimum != null && value instanceof Number && value < spec.minimum) {
            problems << "--${name}: must be at least ${spec.minimum}, got ${value}"
        }
        if (spec.maximum != null && value instanceof Number && value > spec.maximum) {
            problems << "--${name}: must be at most ${spec.maximum}, got ${value}"
        }
        if (spec.pattern && value instanceof CharSequence && !(value ==~ spec.pattern)) {
            problems << "--${name}: '${value}' does not look like ${spec.description.replaceFirst(/.*e\.g\. /, '').replaceFirst(/\.$/, '')}"
        }
    }
    return problems
}

// --max_cpus, --max_memory and --max_time were replaced by process.resourceLimits (as in nf-core): the
// refusal says how to set the caps now. null for any other name.
def removedParameterProblem(String name) {
    def removed = ['max_cpus', 'max_memory', 'max_time'].find { it.replace('_', '') == name.replaceAll(/[-_]/, '').toLowerCase() }
    if (!removed) {
        return null
    }
    return "--${removed}: replaced by process.resourceLimits, set in a config file: e.g. -c caps.config holding " +
        "process.resourceLimits = [cpus: 4, memory: 8.GB, time: 4.h]"
}

def levenshtein(String a, String b) {
    def previous = (0..b.length()).toList()
    a.eachWithIndex { ca, i ->
        def current = [i + 1]
        b.eachWithIndex { cb, j ->
            current << [previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1)].min()
        }
        previous = current
    }
    return previous[b.length()]
}

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
        path.withInputStream { stream -> new GZIPInputStream(stream).readNBytes(count) }
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

def endsWithBgzfEof(path) {
    def size = path.size()
    if (size < BGZF_EOF.length) {
        return false
    }
    def tail = new byte[BGZF_EOF.length]
    path.withInputStream { stream ->
        stream.skipNBytes(size - BGZF_EOF.length)
        stream.readNBytes(tail, 0, tail.length)
    }
    return Arrays.equals(tail, BGZF_EOF)
}

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
    return candidates.find { it != alignments && pathExists(it) }
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
        "(expected ${usable.collect { '.' + it }.join(' or ')})"
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

// Nextflow's task staging (`ln -s <path> <name>` in .command.run) escapes spaces, quotes and most shell
// characters of an input path, but not '$', the glob characters '*?[]{}' nor tabs and line breaks, which the
// task shell then expands: 's[1].bam' would silently stage 's1.bam'. Nextflow also resolves symbolic links
// before staging, so such a local input is staged
// through a hard link with a plain path under the work directory (same inode: the same size and mtime for
// -resume). Where no hard link can be made (another file system), the input is refused with one line.
UNSTAGEABLE_PATH = ~/[$*?\[\]{}\t\n\r]/
def stageablePath(path, workDir) {
    if (path == null || !(path.toString() =~ UNSTAGEABLE_PATH) || path.toUri().scheme != 'file') {
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

// The one rule for sample names, from a samplesheet or from a file name: null, or a line naming where.
def sampleNameProblem(id, where) {
    if (!(id ==~ SAMPLE_NAME_PATTERN)) {
        return "${where}: sample name '${id}' may only hold letters, digits, '.', '_' and '-', and must start with a letter or digit"
    }
    if (id.length() > SAMPLE_NAME_MAX_LENGTH) {
        return "${where}: sample name '${id.take(40)}...' is ${id.length()} characters long, more than the " +
            "${SAMPLE_NAME_MAX_LENGTH} a sample name may hold (it names the sample's files, e.g. <sample>.counts.tsv)"
    }
    return null
}

// [line number, fields] for each record of a CSV text, as RFC 4180 reads it (and R's write.csv writes it):
// a quoted field may hold commas, line breaks and "" for a quote. Blank lines are skipped. Nextflow's own
// CSV splitter does not read "" escapes, and no CSV library is on the driver's class path. A TSV is read
// the same way with a tab as the separator.
def csvRecords(String text, String where, char separator = ',' as char) {
    def records = []
    def fields = []
    def field = new StringBuilder()
    def quoted = false
    def line = 1
    def recordLine = 1
    def endRecord = {
        fields << field.toString()
        if (fields.size() > 1 || fields[0].trim()) {
            records << [recordLine, fields*.trim()]
        }
        fields = []
        field.setLength(0)
    }
    for (int i = 0; i < text.length(); i++) {
        def c = text.charAt(i)
        if (quoted) {
            if (c == '"' && i + 1 < text.length() && text.charAt(i + 1) == '"') {
                field.append('"')
                i++
            } else if (c == '"') {
                quoted = false
            } else {
                line += c == '\n' ? 1 : 0
                field.append(c)
            }
        } else if (c == '"' && !field.toString().trim()) {
            quoted = true
            field.setLength(0)
        } else if (c == separator) {
            fields << field.toString()
            field.setLength(0)
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') {
                i++
            }
            endRecord()
            line++
            recordLine = line
        } else {
            field.append(c)
        }
    }
    if (quoted) {
        error "${where}: invalid samplesheet: line ${recordLine}: a quoted field is not closed"
    }
    if (field.length() || fields) {
        endRecord()
    }
    return records
}

// ' (relative to the launch folder <dir>)' for a relative samplesheet path, where file() resolves it (as
// nf-core pipelines do), not the samplesheet's folder; '' for an absolute path or a URL.
def relativeTo(String path) {
    return path.startsWith('/') || path =~ /^[A-Za-z][A-Za-z0-9+.-]*:\/\// ? '' :
        " (relative to the launch folder ${workflow.launchDir})"
}

// [[sample, alignments path, index path or null], ...] from a samplesheet with header sample,bam[,bai]
// (fields separated by `separator`: a comma, or a tab in a .tsv).
def samplesheetRows(sheet, char separator = ',' as char) {
    def where = sheet.toUriString()  // a remote path's toString() is its path part only
    def separated = separator == ('\t' as char) ? 'tab-separated' : 'comma-separated'
    // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
    def records = csvRecords(sheet.getText('UTF-8').replaceFirst('^\uFEFF', ''), where, separator)
    if (!records) {
        error "${where}: the samplesheet is empty (expected a header sample,bam[,bai] and one row per sample)"
    }
    def header = records[0][1]
    def missing = ['sample', 'bam'].findAll { !(it in header) }
    if (missing) {
        error "${where}: missing column${missing.size() > 1 ? 's' : ''} ${missing.join(', ')} (header must be sample,bam[,bai], found: ${header.join(',')})"
    }
    def unknown = header.findAll { !(it in ['sample', 'bam', 'bai']) }
    if (unknown) {
        error "${where}: unknown column${unknown.size() > 1 ? 's' : ''} ${unknown.join(', ')} (header must be sample,bam[,bai])"
    }
    if (records.size() == 1) {
        error "${where}: the samplesheet has a header but no samples"
    }
    def problems = []
    def rows = []
    def firstRowOf = [:]
    records.drop(1).each { lineNumber, fields ->
        if (fields.size() != header.size()) {
            problems << "line ${lineNumber}: expected ${header.size()} ${separated} fields, got ${fields.size()}"
            return
        }
        def row = [header, fields].transpose().collectEntries()
        def nameProblem = sampleNameProblem(row.sample, "line ${lineNumber}")
        if (nameProblem) {
            problems << nameProblem
            return
        }
        if (firstRowOf.containsKey(row.sample)) {
            problems << "line ${lineNumber}: sample '${row.sample}' already on line ${firstRowOf[row.sample]} (sample names must be unique)"
            return
        }
        firstRowOf[row.sample] = lineNumber
        if (!row.bam) {
            problems << "line ${lineNumber}: no bam given for sample '${row.sample}'"
            return
        }
        // A samplesheet names files, not patterns: 's[1].bam' is that file.
        def bam = file(row.bam, glob: false)
        def bai = row.bai ? file(row.bai, glob: false) : null
        if (!pathExists(bam)) {
            problems << "line ${lineNumber}: file not found: ${row.bam}${relativeTo(row.bam)}"
        } else if (bai && !pathExists(bai)) {
            problems << "line ${lineNumber}: index not found: ${row.bai}${relativeTo(row.bai)}"
        } else {
            rows << [row.sample, bam, bai]
        }
    }
    if (problems) {
        error "${where}: invalid samplesheet: ${problems.join('; ')}"
    }
    return rows
}

// --- the output folder ------------------------------------------------------------------------------

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
                   started: me.info().startInstant().map { it.toString() }.orElse('')]
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
        return lock.getText('UTF-8').readLines().findAll { it.contains('=') }.collectEntries { it.split('=', 2) as List }
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
    return process.map { it.info().startInstant().map { it.toString() }.orElse('') == holder.started }.orElse(false)
}

def releaseOutdirLock(lock) {
    if (lock != null) {
        java.nio.file.Files.deleteIfExists(lock)
    }
}

// What this pipeline published into --outdir, so that a later run removes only its own files: one line per
// file, its path relative to --outdir, size and mtime (ms; of the link itself for a symlink). Another tool's
// file, or ours changed since, does not match its line and is never deleted. No record: nothing is deleted.
OUTPUTS_RECORD = 'pipeline_info/regioncount_outputs.tsv'
// The cohort files: they describe every sample of a run, so any rerun replaces them.
COHORT_OUTPUTS = ['counts_matrix.tsv', 'multiqc/', 'pipeline_info/software_versions.yml']

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
    def record = file(outdir).resolve(OUTPUTS_RECORD)
    if (!java.nio.file.Files.isRegularFile(record)) {
        return [:]
    }
    return record.readLines('UTF-8').drop(1).findAll { it }.collectEntries { line ->
        def fields = line.split('\t')
        [fields[0], [fields[1] as long, fields[2] as long]]
    }
}

// The record rewritten whole through a temporary name (a reader never sees half of it). Returns null, or
// why it could not be written (a full disk). Included functions reach main.nf's catch blocks wrapped, so the
// problem is returned, not thrown.
def writeOutputsRecord(outdir, entries) {
    def record = file(outdir).resolve(OUTPUTS_RECORD)
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

// Whether a recorded path is one of these samples' results or a cohort file.
def isEarlierResultOf(String relative, sampleIds) {
    return COHORT_OUTPUTS.any { it.endsWith('/') ? relative.startsWith(it) : relative == it } ||
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
            java.nio.file.Files.delete(path)
        } else if (now != null) {
            changed << relative
        }
    }
    if (changed) {
        log.warn "--outdir ${outdir}: kept ${changed.size()} file(s) changed since regioncount wrote them " +
            "(a rerun may replace them): ${changed.take(5).join(', ')}${changed.size() > 5 ? ', ...' : ''}"
    }
    def problem = record ? writeOutputsRecord(outdir, kept) : null
    if (problem) {
        error "--outdir ${outdir}: cannot write there (${problem})"
    }
    return kept
}

// 'move' cannot publish this pipeline's results: COUNTS_MATRIX and MULTIQC read the tables REDUCE_COUNTS
// publishes (moved away, they are gone), and a cached task cannot publish again what was moved (-resume).
def publishModeProblem(mode) {
    return mode == 'move' ? "--publish_dir_mode move: not supported (the matrix and the report read the " +
        "published tables, and -resume cannot publish moved files again): use copy (the default), link or symlink" : null
}

// The sample names a samplesheet gives, as far as it can be read: a refused run removes their earlier results.
def samplesheetSampleIds(String input) {
    try {
        def sheet = file(input, glob: false)
        if (isRemote(sheet)) {
            return []
        }
        def records = csvRecords(sheet.getText('UTF-8').replaceFirst('^\uFEFF', ''), input)
        def column = records ? records[0][1].indexOf('sample') : -1
        return column < 0 ? [] : records.drop(1).collect { it[1][column] ?: '' }.findAll { it ==~ SAMPLE_NAME_PATTERN }
    } catch (Exception unreadable) {
        return []
    }
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
