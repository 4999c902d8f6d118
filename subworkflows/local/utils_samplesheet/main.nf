/*
 * The samplesheet (sample,bam[,bai]; CSV as RFC 4180 reads it, or TSV) and the one rule for sample names.
 */

include { isRemote; pathExists } from '../utils_input_files'

// The samplesheet's contract, read from assets/schema_input.json (JSON Schema, as nf-schema reads it), so that
// the check below and the schema cannot disagree: the columns in order, the required ones, the ones whose
// values must be unique, the ones naming files that must exist (with the words for a missing one), and the
// sample name's pattern, length and message. A sample name from a file name follows the same rule.
def samplesheetContract() {
    def schema = new groovy.json.JsonSlurper().parse(new File("${projectDir}/assets/schema_input.json"))
    def columns = schema.items.properties
    return [
        columns      : columns.keySet() as List,
        required     : schema.items.required as List,
        unique       : (schema.uniqueEntries ?: []) as List,
        files        : columns.findAll { name, spec -> spec.exists }.collectEntries { name, spec -> [name, spec.errorMessage] },
        namePattern  : columns.sample.pattern as String,
        nameMaxLength: columns.sample.maxLength as int,
        nameMessage  : columns.sample.errorMessage,
    ]
}

// 'sample,bam[,bai]': the header the contract asks for, required columns first.
def samplesheetHeader(contract) {
    return contract.required.join(',') + contract.columns.findAll { column -> !(column in contract.required) }.collect { column -> "[,${column}]" }.join('')
}

// The one rule for sample names, from a samplesheet or from a file name: null, or a line naming where.
// Safe characters, and short: the longest name derived from one ('.<sample>_count.txt.partial',
// 'a.regions.tsv') adds under 30 bytes, and a file name holds 255 (ASCII: a byte a character).
def sampleNameProblem(id, where, contract = samplesheetContract()) {
    if (!(id ==~ contract.namePattern)) {
        return "${where}: sample name '${id}' ${contract.nameMessage}"
    }
    if (id.length() > contract.nameMaxLength) {
        return "${where}: sample name '${id.take(40)}...' is ${id.length()} characters long, more than the " +
            "${contract.nameMaxLength} a sample name may hold (it names the sample's files, e.g. <sample>.counts.tsv)"
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
// (fields separated by `separator`: a comma, or a tab in a .tsv), checked against samplesheetContract().
def samplesheetRows(sheet, char separator = ',' as char) {
    def where = sheet.toUriString()  // a remote path's toString() is its path part only
    def separated = separator == ('\t' as char) ? 'tab-separated' : 'comma-separated'
    def contract = samplesheetContract()
    def shape = samplesheetHeader(contract)
    // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name.
    def records = csvRecords(sheet.getText('UTF-8').replaceFirst('^\uFEFF', ''), where, separator)
    if (!records) {
        error "${where}: the samplesheet is empty (expected a header ${shape} and one row per sample)"
    }
    def header = records[0][1]
    def missing = contract.required.findAll { column -> !(column in header) }
    if (missing) {
        error "${where}: missing column${missing.size() > 1 ? 's' : ''} ${missing.join(', ')} (header must be ${shape}, found: ${header.join(',')})"
    }
    def unknown = header.findAll { column -> !(column in contract.columns) }
    if (unknown) {
        error "${where}: unknown column${unknown.size() > 1 ? 's' : ''} ${unknown.join(', ')} (header must be ${shape})"
    }
    if (records.size() == 1) {
        error "${where}: the samplesheet has a header but no samples"
    }
    def problems = []
    def rows = []
    // column -> value in lower case -> [line, value]: names that differ only in case are one folder on a
    // case-insensitive file system (macOS, Windows), where one sample's results would replace the other's.
    def firstLineOf = contract.unique.collectEntries { column -> [column, [:]] }
    records.drop(1).each { lineNumber, fields ->
        if (fields.size() != header.size()) {
            problems << "line ${lineNumber}: expected ${header.size()} ${separated} fields, got ${fields.size()}"
            return
        }
        def row = [header, fields].transpose().collectEntries()
        def nameProblem = sampleNameProblem(row.sample, "line ${lineNumber}", contract)
        if (nameProblem) {
            problems << nameProblem
            return
        }
        def repeated = contract.unique.find { column -> firstLineOf[column].containsKey(row[column].toLowerCase()) }
        if (repeated) {
            def (line, earlier) = firstLineOf[repeated][row[repeated].toLowerCase()]
            problems << (earlier == row[repeated]
                ? "line ${lineNumber}: ${repeated} '${row[repeated]}' already on line ${line} (${repeated} names must be unique)"
                : "line ${lineNumber}: ${repeated} '${row[repeated]}' is '${earlier}' of line ${line} in other case (${repeated} " +
                  "names must differ in more than case: on a case-insensitive file system, such as macOS', they name one folder)")
            return
        }
        contract.unique.each { column -> firstLineOf[column][row[column].toLowerCase()] = [lineNumber, row[column]] }
        def empty = contract.required.find { column -> !row[column] }
        if (empty) {
            problems << "line ${lineNumber}: no ${empty} given for sample '${row.sample}'"
            return
        }
        // A samplesheet names files, not patterns: 's[1].bam' is that file. The first missing one is named.
        def files = contract.files.keySet().findAll { column -> row[column] }.collectEntries { column -> [column, file(row[column], glob: false)] }
        def absent = files.find { column, path -> !pathExists(path) }
        if (absent) {
            problems << "line ${lineNumber}: ${contract.files[absent.key]}: ${row[absent.key]}${relativeTo(row[absent.key])}"
        } else {
            rows << [row.sample, files.bam, files.bai]
        }
    }
    if (problems) {
        error "${where}: invalid samplesheet: ${problems.join('; ')}"
    }
    return rows
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
        def contract = samplesheetContract()
        return column < 0 ? [] : records.drop(1).collect { record -> record[1][column] ?: '' }.findAll { id -> !sampleNameProblem(id, input, contract) }
    } catch (Exception unreadable) {
        return []
    }
}
