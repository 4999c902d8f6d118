/*
 * The samplesheet (sample,bam[,bai]; CSV as RFC 4180 reads it, or TSV) and the one rule for sample names.
 */

include { isRemote; pathExists } from '../utils_input_files'

// Sample names become file and folder names: keep them safe ...
def sampleNamePattern() {
    return ~/^[A-Za-z0-9][A-Za-z0-9._-]*$/
}

// The one rule for sample names, from a samplesheet or from a file name: null, or a line naming where.
// Safe characters (sampleNamePattern), and short: the longest name derived from one
// ('.<sample>_count.txt.partial', 'a.regions.tsv') adds under 30 bytes, and a file name holds 255 (ASCII: a
// byte a character).
def sampleNameProblem(id, where) {
    def maxLength = 100
    if (!(id ==~ sampleNamePattern())) {
        return "${where}: sample name '${id}' may only hold letters, digits, '.', '_' and '-', and must start with a letter or digit"
    }
    if (id.length() > maxLength) {
        return "${where}: sample name '${id.take(40)}...' is ${id.length()} characters long, more than the " +
            "${maxLength} a sample name may hold (it names the sample's files, e.g. <sample>.counts.tsv)"
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
    def missing = ['sample', 'bam'].findAll { column -> !(column in header) }
    if (missing) {
        error "${where}: missing column${missing.size() > 1 ? 's' : ''} ${missing.join(', ')} (header must be sample,bam[,bai], found: ${header.join(',')})"
    }
    def unknown = header.findAll { column -> !(column in ['sample', 'bam', 'bai']) }
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

// The sample names a samplesheet gives, as far as it can be read: a refused run removes their earlier results.
def samplesheetSampleIds(String input) {
    try {
        def sheet = file(input, glob: false)
        if (isRemote(sheet)) {
            return []
        }
        def records = csvRecords(sheet.getText('UTF-8').replaceFirst('^\uFEFF', ''), input)
        def column = records ? records[0][1].indexOf('sample') : -1
        return column < 0 ? [] : records.drop(1).collect { record -> record[1][column] ?: '' }.findAll { id -> id ==~ sampleNamePattern() }
    } catch (Exception unreadable) {
        return []
    }
}
