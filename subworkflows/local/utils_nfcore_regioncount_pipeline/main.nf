/*
 * The run around regioncount's data flow (workflows/regioncount.nf):
 *   PIPELINE_INITIALISATION: --help; the parameters, tools, samplesheet and inputs checked before any work
 *     (all problems at once, one line each); --outdir taken for this run, this run's earlier results removed.
 *   PIPELINE_COMPLETION: task warnings on the console; a run whose results were not all made fails; at the end
 *     the tool versions published, the record of this run's outputs written, the summary, --outdir released.
 */
include { paramsHelp; parameterProblems; publishModeProblem; splitSizeProblem; splitSizeWarning } from '../utils_parameters'
include { countCpusProblem; runsLocally                                                    } from '../utils_sample_groups'
include { missingToolProblems; taskPathMayDiffer                                           } from '../utils_task_tools'
include { estimatedBedRegions; isRemote; pathExists; stageablePath                         } from '../utils_input_files'
include { sampleNameProblem; samplesheetContract; samplesheetRows; samplesheetSampleIds                         } from '../utils_samplesheet'
include {
    checkedContents; contentFingerprint; findIndex; indexIsStale
} from '../utils_alignment_files'
include {
    acquireOutdirLock; foreignSampleFolders; publishFile; readOutputsRecord; releaseOutdirLock; removeEarlierResults;
    unrecordedTargets; unrecordedTargetsProblem;
    writeOutputsRecord; writtenResults
} from '../utils_outdir'
include { missingResults; publishProblem; runSummary } from '../utils_run_summary'

workflow PIPELINE_INITIALISATION {

    main:
    def schema = "${projectDir}/nextflow_schema.json"
    if (params.help) {
        println paramsHelp(schema)
        System.exit(0)
    }
    checkAwsBatchSetup()
    def problems = parameterProblems(params, schema) + [splitSizeProblem(params)].findAll()
    // Only values within the schema's ranges reach the checks that compute with them (`as int`).
    problems = problems ?: [countCpusProblem(params, session.config)].findAll()
    // A params file is read by no shell: its "outdir": "~/x" would be a folder named '~'.
    if (params.outdir instanceof CharSequence && params.outdir ==~ /~(\/.*)?/) {
        problems << "--outdir ${params.outdir}: '~' is not expanded outside a shell: give the full path, e.g. ${System.getProperty('user.home')}${params.outdir.substring(1)}"
    }
    def modeProblem = publishModeProblem(params.publish_dir_mode)
    if (modeProblem) {
        problems = problems.findAll { problem -> !problem.startsWith('--publish_dir_mode:') } + [modeProblem]
    }
    if (problems) {
        error "Invalid parameters (see --help):\n  " + problems.join('\n  ')
    }
    // Only the local executor's tasks run with this PATH: on a scheduler the nodes' PATH is not this one.
    def missingTools = runsLocally(session.config) ? missingToolProblems(params, session.config) : []
    if (missingTools && !taskPathMayDiffer(session.config)) {
        error "Tools missing for this run's tasks:\n  " + missingTools.join('\n  ')
    }
    missingTools.each { problem -> log.warn "${problem} (unless the configuration's env.PATH, module or beforeScript provides it)" }
    def splitWarning = splitSizeWarning(params)
    if (splitWarning) {
        log.warn splitWarning
    }
    def regionsBed = params.regions ? file(params.regions, glob: false) : null
    def referenceFiles = null
    def inputs = checkedInputs(params.input.toString()) { rows ->
        if (regionsBed && !pathExists(regionsBed)) {
            error "--regions ${params.regions}: file not found"
        }
        referenceFiles = describeReference(params.fasta)
        return describeInputs(rows, params.fasta)
    }
    def sampleIds = inputs.collect { row -> row[0].id }

    // One run at a time writes --outdir; this run's samples lose their earlier results before any work.
    def outdirLock = acquireOutdirLock(params.outdir, workflow.runName)
    // Nothing it did not write is replaced: such files stop the run here, before anything is removed.
    def unrecorded = unrecordedTargets(params.outdir, sampleIds, !params.skip_multiqc, workflow.manifest.name)
    if (unrecorded) {
        releaseOutdirLock(outdirLock)
        error unrecordedTargetsProblem(params.outdir, unrecorded)
    }
    def foreignSamples = foreignSampleFolders(params.outdir, sampleIds)
    if (foreignSamples) {
        log.warn "--outdir ${params.outdir} also holds results of samples not in this run: ${foreignSamples.join(', ')}"
    }
    def earlierRecord = removeEarlierResults(params.outdir, sampleIds)

    // The reference (CRAM): its .fai and .gzi (bgzipped FASTA) when they are there, else [] (made by the run).
    def (fasta, fai, gzi) = referenceFiles ?: [null, null, null]
    ch_samples = channel.fromList(inputs)
    def stagedBed = regionsBed ? stageablePath(regionsBed, workflow.workDir) : null
    ch_reference = channel.value(fasta ? [stageablePath(fasta, workflow.workDir), fasta.name, fai ?: [], gzi ?: []] : [[], '', [], []])
    // The BED's regions as its size tells them (a HEAD request for a remote one): only the grouping depends on it.
    ch_regions = channel.value(regionsBed ? [stagedBed, regionsBed.name, estimatedBedRegions(regionsBed)] : [[], '', 0L])
    run_state = [sample_ids: sampleIds, foreign_samples: foreignSamples, earlier_record: earlierRecord, outdir_lock: outdirLock]

    emit:
    samples   = ch_samples    // [meta, alignments, index or null] per sample, in the order of the input
    regions   = ch_regions    // value: [BED, its name, its estimated regions] or [[], '', 0]
    reference = ch_reference  // value: [FASTA, its name, .fai or [], .gzi or []] or [[], '', [], []]
    run       = run_state     // value: what PIPELINE_COMPLETION needs of this start (the samples, the lock, ...)
}

workflow PIPELINE_COMPLETION {

    take:
    run           // value: PIPELINE_INITIALISATION.out.run
    count_files   // <sample>/<sample>_count.txt
    tables        // <sample>/<sample>.counts.tsv
    matrix        // counts_matrix.tsv
    report        // multiqc_report.html (none with --skip_multiqc)
    multiqc_data  // multiqc_data/ (none with --skip_multiqc)
    multiqc_plots // multiqc_report_plots/ (none with --skip_multiqc)
    versions      // software_versions.yml
    warnings      // warnings.txt of the tasks that wrote warnings and succeeded

    main:
    // Bound when PIPELINE_INITIALISATION ended: read at once.
    def state = run.val
    def sampleIds = state.sample_ids

    // This run's own results (cached tasks too), for the summary: never the published files, which another
    // run or an earlier one may have written. `published`: path in --outdir -> this run's file in the work
    // directory, for the record of what this run wrote (pipeline_info/regioncount_outputs.tsv).
    def counted = Collections.synchronizedMap([:])
    def published = Collections.synchronizedMap([:])
    count_files.flatten().subscribe { count_file -> counted[count_file.parent.name] = count_file }
    count_files.mix(tables).flatten()
        .subscribe { result -> published["${result.parent.name}/${result.name}".toString()] = result }
    matrix.subscribe { made -> published['counts_matrix.tsv'] = made }
    report.subscribe { made -> published['multiqc/multiqc_report.html'] = made }
    multiqc_data.subscribe { data ->
        data.eachFileRecurse(groovy.io.FileType.FILES) { made -> published["multiqc/multiqc_data/${data.relativize(made)}".toString()] = made }
    }
    multiqc_plots.subscribe { plots ->
        plots.eachFileRecurse(groovy.io.FileType.FILES) { made -> published["multiqc/multiqc_report_plots/${plots.relativize(made)}".toString()] = made }
    }
    // Warnings of tasks that succeeded (Nextflow shows a task's output only when it fails): on the console.
    warnings.subscribe { warnings_file -> warnings_file.readLines().each { line -> log.warn line } }
    def versionsFile = Collections.synchronizedList([])
    versions.subscribe { versions_file -> versionsFile << versions_file }

    // With errorStrategy 'ignore' (a user's config) a failed task does not fail the run: once every task has
    // ended, a result that was not made fails it here (the exit status; an error in onComplete does not).
    // Judged from the collected files themselves: the other subscribers may not have seen them yet.
    count_files.mix(matrix, report).collect().ifEmpty([]).subscribe { made ->
        def madeCounts = made.findAll { result -> result.name.endsWith('_count.txt') }.collectEntries { result -> [result.parent.name, result] }
        def madeCohort = made.findAll { result -> !result.name.endsWith('_count.txt') }
            .collectEntries { result -> [result.name == 'counts_matrix.tsv' ? result.name : "multiqc/${result.name}".toString(), result] }
        def missing = missingResults(sampleIds, madeCounts, madeCohort)
        if (missing && !session.isAborted()) {
            error "Not every result was made (a task failed and was ignored): ${missing.join(', ')}"
        }
    }
    workflow.onComplete {
        finishRun(sampleIds, counted, published, versionsFile, state.foreign_samples, state.earlier_record, state.outdir_lock)
    }
}

/*
 * FUNCTIONS
 */

// [sample, alignments, index or null] for every input: a samplesheet (.csv, or .tsv with tabs; any case of the
// extension) or a file or glob.
def inputRows(input) {
    def sheetFormat = input.toLowerCase().find(/\.(csv|tsv)$/)
    if (sheetFormat) {
        def sheet = file(input, glob: false)
        if (!pathExists(sheet)) {
            error "${input}: samplesheet not found"
        }
        return samplesheetRows(sheet, sheetFormat == '.tsv' ? '\t' as char : ',' as char)
    }
    // An existing file is that file, whatever its characters ('s[1].bam'); a pattern only when none exists.
    // A remote path (https://, s3://) is never a pattern.
    def literal = file(input, glob: false)
    def found = pathExists(literal) || isRemote(literal) ? literal : file(input)
    def files = (found instanceof List ? found : [found]).findAll { path -> pathExists(path) }
    if (!files) {
        error "${input}: ${input =~ /[*?\[{]/ ? 'no file matches this pattern' : 'file not found'}"
    }
    // The sample is the file name without its extension; characters a sample name may not hold become '_'.
    return files.sort { path -> path.name }.collect { path -> [path.name.replaceFirst(/\.(bam|cram)$/, '').replaceAll(/[^A-Za-z0-9._-]/, '_'), path, null] }
}

// [meta, alignments, index or null] for every sample, after checking everything that can be checked
// before work starts; all problems are reported together, one line each, in the order of the inputs.
def describeInputs(rows, fasta) {
    def contract = samplesheetContract()
    // What names and paths tell first; then the content of every input, in one call of input_checks.py.
    def found = rows.collect { id, alignments, index ->
        def shown = alignments.toUriString()
        def problem = sampleNameProblem(id, shown, contract) ?: (pathExists(alignments) ? null : "${shown}: file not found")
        index = problem ? null : (index ?: findIndex(alignments))
        // A remote pair is checked by the first task that stages it (the driver reads no remote file), and
        // its freshness cannot be seen from here (nor on the staged copies, whose mtimes are their download
        // times): the user's index is trusted.
        return [id: id, alignments: alignments, shown: shown, problem: problem, index: index,
                remote: isRemote(alignments) || isRemote(index)]
    }
    def checked = found.findAll { input -> !input.problem }
    def answers = checkedContents(checked.collect { input ->
        [alignments: isRemote(input.alignments) ? null : input.alignments.toString(), name: input.alignments.name,
         shown: input.shown, has_reference: fasta as boolean,
         index: input.index && !input.remote ? input.index.toString() : null, shown_index: input.index ? input.index.toString() : '']
    })
    // Without python3 here, the first task checks every input (format by name), as it does remote ones.
    checked.eachWithIndex { input, i ->
        input.answer = answers ? answers[i] : [format: input.alignments.name.endsWith('.cram') ? 'cram' : 'bam']
        input.unchecked = input.remote || answers == null
    }
    def problems = []
    def firstFileOf = [:]  // sample name in lower case -> the input that first had it (see samplesheetRows)
    def inputs = found.collect { input ->
        def problem = input.problem ?: input.answer.problem
        def earlier = firstFileOf[input.id.toLowerCase()]
        if (!problem && earlier) {
            // Only file-named samples meet here (a samplesheet's duplicates are refused by line): name both.
            def otherCase = earlier.id == input.id ? '' : " in other case ('${earlier.id}': on a case-insensitive file system, such as macOS', one folder)"
            problem = "${input.shown}: sample name '${input.id}' is also that of ${earlier.shown}${otherCase} (a file's name without .bam/.cram, " +
                "other characters than letters, digits, '.', '_' and '-' made '_'): rename one, or name the samples in a samplesheet"
        }
        if (!problem) {
            firstFileOf[input.id.toLowerCase()] = input
        }
        problem = problem ?: input.answer.reference_problem ?: input.answer.index_problem
        if (problem) {
            problems << problem
            return null
        }
        def index = input.index
        if (index && !input.remote && indexIsStale(index, input.alignments)) {
            log.warn "${index} is older than ${input.alignments}: re-indexing"
            index = null
        }
        // check_name, index_check_name: the names input_checks.py gives the files it checks ('' = checked here).
        // index_name: the user's index (given or found beside the file), which PLAN_UNITS checks against the file.
        def meta = [id: input.id, file_name: input.alignments.name, format: input.answer.format, index_name: index ? index.name : '',
                    fingerprint: contentFingerprint(input.alignments) + contentFingerprint(index),
                    check_name: input.unchecked ? input.shown : '', index_check_name: input.unchecked && index ? index.toUriString() : '']
        return [meta, stageablePath(input.alignments, workflow.workDir), stageablePath(index, workflow.workDir)]
    }
    if (problems) {
        error "Input problems:\n  " + problems.join('\n  ')
    }
    return inputs
}

// [fasta, its .fai or null, its .gzi or null (bgzipped FASTA), bgzipped], or null without --fasta.
def describeReference(fasta) {
    if (!fasta) {
        return null
    }
    def path = file(fasta, glob: false)
    if (!pathExists(path)) {
        error "--fasta ${fasta}: file not found"
    }
    // A remote FASTA is not read here: bgzipped by its name (samtools faidx refuses a plain gzip one).
    def answer = checkedContents([[fasta: isRemote(path) ? null : path.toString(), shown: "--fasta ${fasta}".toString()]])
    if (answer && answer[0].problem) {
        error answer[0].problem
    }
    def bgzipped = answer ? answer[0].bgzipped : path.name ==~ /.*\.(gz|bgz)$/
    def fai = path.resolveSibling("${path.name}.fai")
    def gzi = path.resolveSibling("${path.name}.gzi")
    def indexed = pathExists(fai) && (!bgzipped || pathExists(gzi))
    return [path, indexed ? fai : null, bgzipped && indexed ? gzi : null, bgzipped]
}

// -profile awsbatch: refuse before any work when the run cannot work on AWS Batch. conf/awsbatch.config
// refuses a missing --awsqueue earlier when it can (a run with --outdir on S3 touches S3 before this).
def checkAwsBatchSetup() {
    if (!workflow.profile.tokenize(',').contains('awsbatch')) {
        return
    }
    if (!params.awsqueue) {
        error "-profile awsbatch needs --awsqueue: the AWS Batch job queue that runs the tasks"
    }
    if (workflow.workDir.toUri().scheme != 's3') {
        error "-profile awsbatch needs a work directory on S3, e.g. -work-dir s3://my-bucket/work (AWS Batch jobs cannot see ${workflow.workDir})"
    }
}

// The inputs, checked by check(rows). When a check stops the run, this run's samples lose their earlier
// results first, as a run that starts work does: none keeps a count file of an input that is now refused.
def checkedInputs(String input, Closure check) {
    def rows = null
    try {
        rows = inputRows(input)
        return check(rows)
    } catch (Exception problem) {
        removeResultsOfRefusedRun(rows != null ? rows*.get(0) : (input.endsWith('.csv') ? samplesheetSampleIds(input) : []))
        throw problem
    }
}

// Only with a record of our own outputs there (else nothing could be removed), and only when no other run
// holds --outdir (that run replaces them itself).
def removeResultsOfRefusedRun(sampleIds) {
    if (!readOutputsRecord(params.outdir)) {
        return
    }
    def lock = null
    try {
        lock = acquireOutdirLock(params.outdir, workflow.runName)
    } catch (Exception busy) {
        return
    }
    try {
        removeEarlierResults(params.outdir, sampleIds)
    } finally {
        releaseOutdirLock(lock)
    }
}

// At the end of the run, done or not: the tool versions published on success, the record of what this run
// wrote, the summary, the lock released.
def finishRun(sampleIds, counted, published, versionsFile, foreignSamples, earlierRecord, outdirLock) {
    try {
        def outdir = file(params.outdir)
        def writeProblem = null
        if (workflow.success && !missingResults(sampleIds, counted, published) && versionsFile) {
            try {
                publishFile(versionsFile[0], outdir.resolve('pipeline_info/software_versions.yml'))
                published['pipeline_info/software_versions.yml'] = versionsFile[0]
            } catch (IOException problem) {
                writeProblem = problem.message
            }
        }
        def written = writtenResults(outdir, published)
        // Publishing that failed (a full disk) aborts the run without a failed task, as Ctrl-C does.
        def notWritten = published.keySet().findAll { relative -> !written.containsKey(relative) }.sort()
        writeProblem = writeProblem ?: (notWritten ? publishProblem(workflow.errorMessage) : null)
        writeProblem = writeProblem ?: writeOutputsRecord(params.outdir, earlierRecord + written)
        def interrupted = session.isAborted() && !workflow.stats.failedCount && !writeProblem
        log.info runSummary(sampleIds, counted, interrupted, foreignSamples, written, writeProblem, notWritten)
    } finally {
        releaseOutdirLock(outdirLock)
    }
}
