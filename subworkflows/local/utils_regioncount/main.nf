/*
 * Functions that check the run before any work starts: parameters against nextflow_schema.json
 * (the nf-schema plugin cannot be downloaded offline), the samplesheet and the alignment files.
 * Every problem is reported as one line naming the parameter or file and the problem.
 */
import groovy.json.JsonSlurper
import java.util.zip.GZIPInputStream

// Sample names become file and folder names: keep them safe.
SAMPLE_NAME_PATTERN = ~/^[A-Za-z0-9][A-Za-z0-9._-]*$/
// Every BGZF file (BAM) ends with this 28-byte empty block; without it the file was cut short.
BGZF_EOF = [0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00,
            0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00] as byte[]

// A string as one single-quoted shell word: user file names and options reach task scripts only this way.
def shellQuote(String text) {
    return "'" + text.replace("'", "'\\''") + "'"
}

// Counting tasks per sample: at most --max_units; on the local executor also at most --units_per_cpu per
// CPU it may use (per --count_cpus). Each task has a fixed cost (wrapper, trace, start-up), so a laptop
// is best served by a few tasks per CPU, while a scheduler, whose capacity is unknown here, gets max_units.
def countingTaskBound(parameters, config) {
    def executor = config.navigate('process.executor') ?: 'local'
    if (executor != 'local') {
        return parameters.max_units as int
    }
    def localCpus = (config.navigate('executor.$local.cpus') ?: config.navigate('executor.cpus')
        ?: Runtime.runtime.availableProcessors()) as int
    // Both at least 1 (schema minimum); a task gets no more than max_cpus (process.resourceLimits).
    def taskCpus = Math.min(parameters.count_cpus as int, parameters.max_cpus as int)
    def slots = Math.max(1, localCpus.intdiv(taskCpus))
    return Math.min(parameters.max_units as int, (parameters.units_per_cpu as int) * slots)
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
            lines << "  --${name.padRight(22)} ${type.padRight(8)} ${spec.description}${required}${shown}"
        }
        lines << ''
    }
    lines << 'Profiles: -profile test, debug, and the executor/software profiles listed in README.md.'
    return lines.join('\n')
}

def isOfType(value, type) {
    switch (type) {
        case 'string': return value instanceof CharSequence
        case 'integer': return value instanceof Integer || value instanceof Long
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
            problems << "--${name}: unknown parameter" + (levenshtein(name, close) <= 3 ? " (did you mean --${close}?)" : '')
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
        if (spec.pattern && value instanceof CharSequence && !(value ==~ spec.pattern)) {
            problems << "--${name}: '${value}' does not look like ${spec.description.replaceFirst(/.*e\.g\. /, '').replaceFirst(/\.$/, '')}"
        }
    }
    return problems
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

// 'bam' or 'cram' from the file's first bytes, or null when it is neither.
def alignmentFormat(path) {
    def head = new byte[4]
    path.withInputStream { stream -> stream.read(head) }
    if (new String(head, 'ISO-8859-1') == 'CRAM') {
        return 'cram'
    }
    if ((head[0] & 0xff) != 0x1f || (head[1] & 0xff) != 0x8b) {
        return null
    }
    try {
        path.withInputStream { stream ->
            def magic = new byte[4]
            def read = new GZIPInputStream(stream).readNBytes(magic, 0, 4)
            return read == 4 && new String(magic, 'ISO-8859-1') == 'BAM\u0001' ? 'bam' : null
        }
    } catch (IOException ignored) {
        return null
    }
}

def endsWithBgzfEof(path) {
    def size = path.size()
    if (size < BGZF_EOF.length) {
        return false
    }
    def tail = new byte[BGZF_EOF.length]
    path.withInputStream { stream ->
        stream.skip(size - BGZF_EOF.length)
        stream.readNBytes(tail, 0, tail.length)
    }
    return Arrays.equals(tail, BGZF_EOF)
}

// One line naming the file and its problem, or null when it looks like usable alignments.
def alignmentProblem(path) {
    if (!path.exists()) {
        return "${path}: file not found"
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

// The index beside an alignment file (x.bam.bai or x.bai; x.cram.crai or x.crai), or null.
def findIndex(alignments) {
    def suffix = alignments.name.endsWith('.cram') ? 'crai' : 'bai'
    def candidates = [
        alignments.resolveSibling("${alignments.name}.${suffix}"),
        alignments.resolveSibling("${alignments.name.replaceFirst(/\.(bam|cram)$/, '')}.${suffix}"),
    ]
    return candidates.find { it.exists() }
}

def sampleNameProblem(id, where) {
    return id ==~ SAMPLE_NAME_PATTERN ? null :
        "${where}: sample name '${id}' may only hold letters, digits, '.', '_' and '-', and must start with a letter or digit"
}

// [[sample, alignments path, index path or null], ...] from a samplesheet with header sample,bam[,bai].
def samplesheetRows(sheet) {
    def lines = sheet.readLines().findAll { it.trim() }
    if (!lines) {
        error "${sheet}: the samplesheet is empty (expected a header sample,bam[,bai] and one row per sample)"
    }
    def header = lines[0].split(',', -1)*.trim()
    def missing = ['sample', 'bam'].findAll { !(it in header) }
    if (missing) {
        error "${sheet}: missing column${missing.size() > 1 ? 's' : ''} ${missing.join(', ')} (header must be sample,bam[,bai], found: ${lines[0]})"
    }
    def unknown = header.findAll { !(it in ['sample', 'bam', 'bai']) }
    if (unknown) {
        error "${sheet}: unknown column${unknown.size() > 1 ? 's' : ''} ${unknown.join(', ')} (header must be sample,bam[,bai])"
    }
    if (lines.size() == 1) {
        error "${sheet}: the samplesheet has a header but no samples"
    }
    def problems = []
    def rows = []
    def firstRowOf = [:]
    lines.drop(1).eachWithIndex { line, i ->
        def lineNumber = i + 2
        def fields = line.split(',', -1)*.trim()
        if (fields.size() != header.size()) {
            problems << "line ${lineNumber}: expected ${header.size()} comma-separated fields, got ${fields.size()}"
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
        def bam = file(row.bam)
        def bai = row.bai ? file(row.bai) : null
        if (!bam.exists()) {
            problems << "line ${lineNumber}: file not found: ${row.bam}"
        } else if (bai && !bai.exists()) {
            problems << "line ${lineNumber}: index not found: ${row.bai}"
        } else {
            rows << [row.sample, bam, bai]
        }
    }
    if (problems) {
        error "${sheet}: invalid samplesheet: ${problems.join('; ')}"
    }
    return rows
}
