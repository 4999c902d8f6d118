/*
 * The run's parameters: checked against nextflow_schema.json (the nf-schema plugin cannot be downloaded
 * offline), --help generated from it, and the checks the schema cannot express. One line per problem.
 */

// Parameter definitions from the schema: name -> [group: title, type:, default:, description:, ...].
def schemaParameters(schemaPath) {
    def schema = new groovy.json.JsonSlurper().parse(new File(schemaPath.toString()))
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
    definitions.groupBy { definition -> definition.value.group }.each { group, parameters ->
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
    def known = definitions.keySet().collect { name -> fold(name) } as Set
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
    def removed = ['max_cpus', 'max_memory', 'max_time'].find { old -> old.replace('_', '') == name.replaceAll(/[-_]/, '').toLowerCase() }
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

// --split_size below this makes a samtools call per few bp (1: one per base, 166,569 calls for 166 kb).
def splitSizeFloor() {
    return 1000
}

// --split_size is 0 (never split) or at least splitSizeFloor() bp: a smaller chunk only multiplies samtools
// calls. A value too small to be bp is most likely Mb: the line suggests what was meant.
def splitSizeProblem(parameters) {
    def size = parameters.split_size
    if (!(size instanceof Number) || size <= 0 || size >= splitSizeFloor()) {
        return null
    }
    return "--split_size ${size}: must be 0 (never split) or at least ${splitSizeFloor()} bp (did you mean ${(size as long) * 1000000L}?)"
}

// A warning line for a --split_size that is allowed but looks like Mb rather than bp, else null.
def splitSizeWarning(parameters) {
    def size = parameters.split_size
    // A --split_size below this is more likely Mb than bp (the default is 50 Mb).
    def plausible = 100000
    if (!(size instanceof Number) || size < splitSizeFloor() || size >= plausible) {
        return null
    }
    return "--split_size ${size} is in bp: did you mean ${(size as long) * 1000000L}?"
}

// 'move' cannot publish this pipeline's results: COUNTS_MATRIX and MULTIQC read the tables REDUCE_COUNTS
// publishes (moved away, they are gone), and a cached task cannot publish again what was moved (-resume).
def publishModeProblem(mode) {
    return mode == 'move' ? "--publish_dir_mode move: not supported (the matrix and the report read the " +
        "published tables, and -resume cannot publish moved files again): use copy (the default), link or symlink" : null
}
