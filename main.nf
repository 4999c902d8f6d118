#!/usr/bin/env nextflow
/*
 * regioncount: count the reads of BAM/CRAM files per genomic region, in parallel.
 *
 *   alignments ─┬─(no usable index)─ SAMTOOLS_INDEX ─┐
 *               └────────────────────────────────────┴─ PLAN_UNITS ─ COUNT_UNIT (per unit) ─ REDUCE_COUNTS
 */
nextflow.enable.dsl = 2

include { CHECK_SAMTOOLS_ARGS } from './modules/local/check_samtools_args'
include { SAMTOOLS_FAIDX      } from './modules/local/samtools_faidx'
include { SAMTOOLS_INDEX      } from './modules/local/samtools_index'
include { PLAN_UNITS          } from './modules/local/plan_units'
include { COUNT_UNIT          } from './modules/local/count_unit'
include { REDUCE_COUNTS       } from './modules/local/reduce_counts'
include { COUNTS_MATRIX       } from './modules/local/counts_matrix'
include { MULTIQC             } from './modules/local/multiqc'
include {
    acquireOutdirLock; alignmentFormat; alignmentFormatByName; alignmentProblem; contentFingerprint; countCpusProblem;
    estimatedBedRegions; findIndex; foreignSampleFolders; indexIsStale; indexProblem; isBgzf; isGzip;
    isRemote; paramsHelp; parameterProblems; pathExists; publishModeProblem; readOutputsRecord; releaseOutdirLock;
    removeEarlierResults; sampleGroup; fileStamp; samplesheetSampleIds; writeOutputsRecord;
    missingToolProblems; splitSizeProblem; splitSizeWarning; taskPathMayDiffer;
    groupTaskBound; sampleGroupCount; sampleGroupsFor;
    sampleNameProblem; samplesheetRows; stageablePath
} from './subworkflows/local/utils_regioncount'

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
    def files = (found instanceof List ? found : [found]).findAll { pathExists(it) }
    if (!files) {
        error "${input}: ${input =~ /[*?\[{]/ ? 'no file matches this pattern' : 'file not found'}"
    }
    // The sample is the file name without its extension; characters a sample name may not hold become '_'.
    return files.sort { it.name }.collect { [it.name.replaceFirst(/\.(bam|cram)$/, '').replaceAll(/[^A-Za-z0-9._-]/, '_'), it, null] }
}

// [meta, alignments, index or null] for every sample, after checking everything that can be checked
// before work starts; all problems are reported together, one line each.
def describeInputs(rows, fasta) {
    def problems = []
    def firstFileOf = [:]  // sample name -> the input that first had it
    def inputs = rows.collect { id, alignments, index ->
        def shown = alignments.toUriString()
        def problem = sampleNameProblem(id, shown) ?: alignmentProblem(alignments)
        if (!problem && firstFileOf.containsKey(id)) {
            // Only file-named samples meet here (a samplesheet's duplicates are refused by line): name both.
            problem = "${shown}: sample name '${id}' is also that of ${firstFileOf[id]} (a file's name without .bam/.cram, " +
                "other characters than letters, digits, '.', '_' and '-' made '_'): rename one, or name the samples in a samplesheet"
        }
        if (!problem) {
            firstFileOf[id] = shown
        }
        def format = problem ? null : (isRemote(alignments) ? alignmentFormatByName(alignments) : alignmentFormat(alignments))
        if (!problem && format == 'cram' && !fasta) {
            problem = "${shown}: CRAM input needs --fasta, the reference it was compressed against"
        }
        index = problem ? null : (index ?: findIndex(alignments))
        // A remote pair is checked by the first task that stages it; its freshness cannot be seen from here
        // (nor on the staged copies, whose mtimes are their download times): the user's index is trusted.
        def remote = isRemote(alignments) || isRemote(index)
        problem = problem ?: (index && !remote ? indexProblem(index, alignments, format) : null)
        if (problem) {
            problems << problem
            return null
        }
        if (index && !remote && indexIsStale(index, alignments)) {
            log.warn "${index} is older than ${alignments}: re-indexing"
            index = null
        }
        // check_name, index_check_name: the names input_checks.py gives the files it checks ('' = checked here).
        // index_name: the user's index (given or found beside the file), which PLAN_UNITS checks against the file.
        def meta = [id: id, file_name: alignments.name, format: format, index_name: index ? index.name : '',
                    fingerprint: contentFingerprint(alignments) + contentFingerprint(index),
                    check_name: remote ? shown : '', index_check_name: remote && index ? index.toUriString() : '']
        return [meta, stageablePath(alignments, workflow.workDir), stageablePath(index, workflow.workDir)]
    }
    if (problems) {
        error "Input problems:\n  " + problems.join('\n  ')
    }
    return inputs
}

// [fasta, its .fai or null, its .gzi or null (bgzipped FASTA)], or null without --fasta.
def describeReference(fasta) {
    if (!fasta) {
        return null
    }
    def path = file(fasta, glob: false)
    if (!pathExists(path)) {
        error "--fasta ${fasta}: file not found"
    }
    // A remote FASTA is not read here: bgzipped by its name (samtools faidx refuses a plain gzip one).
    def gzipped = isRemote(path) ? path.name ==~ /.*\.(gz|bgz)$/ : isGzip(path)
    def bgzipped = gzipped && (isRemote(path) || isBgzf(path))
    if (gzipped && !bgzipped) {
        error "--fasta ${fasta}: compressed with gzip, which samtools cannot index: use bgzip (or an uncompressed FASTA)"
    }
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

workflow {
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
        problems = problems.findAll { !it.startsWith('--publish_dir_mode:') } + [modeProblem]
    }
    if (problems) {
        error "Invalid parameters (see --help):\n  " + problems.join('\n  ')
    }
    def missingTools = missingToolProblems(params, session.config)
    if (missingTools && !taskPathMayDiffer(session.config)) {
        error "Tools missing for this run's tasks:\n  " + missingTools.join('\n  ')
    }
    missingTools.each { log.warn "${it} (unless the configuration's env.PATH, module or beforeScript provides it)" }
    def splitWarning = splitSizeWarning(params)
    if (splitWarning) {
        log.warn splitWarning
    }
    def regionsBed = params.regions ? file(params.regions, glob: false) : null
    def reference = null
    def inputs = checkedInputs(params.input.toString()) { rows ->
        if (regionsBed && !pathExists(regionsBed)) {
            error "--regions ${params.regions}: file not found"
        }
        reference = describeReference(params.fasta)
        return describeInputs(rows, params.fasta)
    }
    def sampleIds = inputs.collect { it[0].id }

    // One run at a time writes --outdir; this run's samples lose their earlier results before any work.
    def outdirLock = acquireOutdirLock(params.outdir, workflow.runName)
    def foreignSamples = foreignSampleFolders(params.outdir, sampleIds)
    if (foreignSamples) {
        log.warn "--outdir ${params.outdir} also holds results of samples not in this run: ${foreignSamples.join(', ')}"
    }
    def earlierRecord = removeEarlierResults(params.outdir, sampleIds)

    // --samtools_args are checked once (one cheap samtools call) before any other task starts.
    ch_args_checked = Channel.value('no samtools_args')
    ch_check_versions = Channel.empty()
    if (params.samtools_args) {
        CHECK_SAMTOOLS_ARGS(params.samtools_args.toString())
        ch_args_checked = CHECK_SAMTOOLS_ARGS.out.checked
        ch_check_versions = CHECK_SAMTOOLS_ARGS.out.versions
    }
    ch_inputs = Channel
        .fromList(inputs)
        .combine(ch_args_checked)
        .map { meta, alignments, index, checked -> [meta, alignments, index] }
        .branch { meta, alignments, index ->
            indexed: index != null
            unindexed: true
                return [meta, alignments]
        }

    SAMTOOLS_INDEX(ch_inputs.unindexed)
    ch_indexed = ch_inputs.indexed.mix(ch_inputs.unindexed.join(SAMTOOLS_INDEX.out.index))

    ch_regions_bed = Channel.value(regionsBed ? [stageablePath(regionsBed, workflow.workDir), regionsBed.name] : [[], ''])
    // The reference (CRAM): [fasta, .fai, .gzi (bgzipped FASTA) or []], the indexes made when missing.
    def (fasta, fai, gzi, bgzipped) = reference ?: [null, null, null, false]
    ch_fasta_unindexed = Channel.fromList(fasta && !fai ? [[stageablePath(fasta, workflow.workDir), fasta.name]] : [])
    SAMTOOLS_FAIDX(ch_fasta_unindexed)
    ch_made_reference = bgzipped
        ? SAMTOOLS_FAIDX.out.fai.combine(SAMTOOLS_FAIDX.out.gzi)
        : SAMTOOLS_FAIDX.out.fai.map { [it, []] }
    // A value channel either way: the indexes made (a queue channel, made one by first()) or the given ones.
    def stagedFasta = fasta ? stageablePath(fasta, workflow.workDir) : null
    ch_reference = !fasta ? Channel.value([[], [], []])
        : fai ? Channel.value([stagedFasta, fai, gzi ?: []])
        : ch_made_reference.map { made_fai, made_gzi -> [stagedFasta, made_fai, made_gzi] }.first()

    // Samples in groups (sampleGroup): each group is planned by one task, its units may hold several of its
    // samples, and one task reduces it. Groups and their samples are sorted, so that -resume caches them.
    def baseGroups = sampleGroupCount(params, session.config)
    def bedRegions = estimatedBedRegions(regionsBed)
    def nGroups = sampleGroupsFor(baseGroups, inputs.size(), bedRegions, params.max_group_regions as long)
    ch_groups = ch_indexed
        .toSortedList { a, b -> a[0].id <=> b[0].id }
        .flatMap { rows ->
            rows.groupBy { sampleGroup(it[0].id, nGroups) }.sort().collect { number, members ->
                [[id: "group_${number}", samples: members*.get(0)], members*.get(1), members*.get(2)]
            }
        }

    PLAN_UNITS(ch_groups, ch_regions_bed, ch_reference, groupTaskBound(params, session.config, nGroups, inputs.size()))

    // One task per work unit, with the files of the samples it holds (unit_samples.tsv); the group's unit
    // count travels in meta so that results can be grouped as they come.
    ch_units = PLAN_UNITS.out.units
        .map { group, units, unitSamples -> [group.id, group, units, unitSamples] }
        .join(ch_groups.map { group, alignments, indexes -> [group.id, alignments, indexes] })
        .flatMap { id, group, units, unitSamples, alignments, indexes ->
            def unitList = units instanceof List ? units : [units]
            def samplesOf = unitSamples.readLines().drop(1)*.split('\t').groupBy { it[0] }
            def position = group.samples.withIndex().collectEntries { meta, i -> [meta.id, i] }
            unitList.collect { unit ->
                def ids = samplesOf[unit.name]*.getAt(1)
                def meta = [group: group.id, unit: unit.baseName, n_units: unitList.size(),
                            samples: ids.collect { group.samples[position[it]] }]
                [meta, ids.collect { alignments[position[it]] }, ids.collect { indexes[position[it]] }, unit]
            }
        }

    COUNT_UNIT(ch_units, ch_reference)

    ch_reduce_inputs = COUNT_UNIT.out.results
        .map { meta, result -> [groupKey(meta.group, meta.n_units), result] }
        .groupTuple()
        // Sorted so that the reducer's inputs, and so its cache key, do not depend on completion order.
        .map { id, results -> [id.toString(), results.sort { it.name }] }
        .join(PLAN_UNITS.out.regions.map { group, regions -> [group.id, group, regions] })
        .map { id, results, group, regions -> [group, regions, results] }

    REDUCE_COUNTS(ch_reduce_inputs)

    // All samples' tables and every group's failure report in one task, sorted so that -resume caches it;
    // it fails the run, naming every failed sample and region, once the others' results are published.
    ch_tables = REDUCE_COUNTS.out.tables.flatten().toSortedList { a, b -> a.name <=> b.name }
    ch_failures = REDUCE_COUNTS.out.failures.toSortedList { a, b -> a.text <=> b.text }
    COUNTS_MATRIX(ch_tables, ch_failures)

    // Collected in the work directory (never staged back from --outdir, whose path may hold any character)
    // and published by this run only when it succeeds, so that no partial file is left.
    ch_software_versions = ch_check_versions
        .mix(SAMTOOLS_INDEX.out.versions, SAMTOOLS_FAIDX.out.versions, PLAN_UNITS.out.versions,
             COUNT_UNIT.out.versions, REDUCE_COUNTS.out.versions, COUNTS_MATRIX.out.versions)
        .map { it.text }
        .unique()
        .mix(Channel.of("Workflow:\n    Nextflow: ${workflow.nextflow.version}\n    ${workflow.manifest.name}: ${workflow.manifest.version}\n".toString()))
        .collectFile(name: 'software_versions.yml', sort: true, newLine: false)

    if (!params.skip_multiqc) {
        // The report's first section: how this run was started (runSummaryMqc).
        ch_run_summary = channel.of(runSummaryMqc(params, workflow)).collectFile(name: 'regioncount_summary_mqc.yml')
        ch_mqc = COUNTS_MATRIX.out.mqc.combine(ch_run_summary).map { files -> files.flatten() }
        MULTIQC(ch_mqc, ch_software_versions, file("${projectDir}/assets/multiqc_config.yml", checkIfExists: true))
    }

    // This run's own results (cached tasks too), for the summary: never the published files, which another
    // run or an earlier one may have written. `published`: path in --outdir -> this run's file in the work
    // directory, for the record of what this run wrote (pipeline_info/regioncount_outputs.tsv).
    def counted = Collections.synchronizedMap([:])
    def published = Collections.synchronizedMap([:])
    REDUCE_COUNTS.out.count_files.flatten().subscribe { count_file -> counted[count_file.parent.name] = count_file }
    REDUCE_COUNTS.out.count_files.mix(REDUCE_COUNTS.out.tables).flatten()
        .subscribe { result -> published["${result.parent.name}/${result.name}".toString()] = result }
    COUNTS_MATRIX.out.matrix.subscribe { published['counts_matrix.tsv'] = it }
    ch_report = Channel.empty()
    if (!params.skip_multiqc) {
        ch_report = MULTIQC.out.report
        MULTIQC.out.report.subscribe { published['multiqc/multiqc_report.html'] = it }
        MULTIQC.out.data.subscribe { data ->
            data.eachFileRecurse(groovy.io.FileType.FILES) { published["multiqc/multiqc_data/${data.relativize(it)}".toString()] = it }
        }
        MULTIQC.out.plots.subscribe { plots ->
            plots.eachFileRecurse(groovy.io.FileType.FILES) { plot -> published["multiqc/multiqc_report_plots/${plots.relativize(plot)}".toString()] = plot }
        }
    }
    // Warnings of tasks that succeeded (Nextflow shows a task's output only when it fails): on the console.
    PLAN_UNITS.out.warnings.mix(COUNTS_MATRIX.out.warnings).subscribe { it.readLines().each { line -> log.warn line } }
    def versionsFile = Collections.synchronizedList([])
    ch_software_versions.subscribe { versionsFile << it }

    // With errorStrategy 'ignore' (a user's config) a failed task does not fail the run: once every task has
    // ended, a result that was not made fails it here (the exit status; an error in onComplete does not).
    // Judged from the collected files themselves: the other subscribers may not have seen them yet.
    REDUCE_COUNTS.out.count_files.mix(COUNTS_MATRIX.out.matrix, ch_report).collect().ifEmpty([]).subscribe { made ->
        def madeCounts = made.findAll { it.name.endsWith('_count.txt') }.collectEntries { [it.parent.name, it] }
        def madeCohort = made.findAll { !it.name.endsWith('_count.txt') }
            .collectEntries { [it.name == 'counts_matrix.tsv' ? it.name : "multiqc/${it.name}".toString(), it] }
        def missing = missingResults(sampleIds, madeCounts, madeCohort)
        if (missing && !session.isAborted()) {
            error "Not every result was made (a task failed and was ignored): ${missing.join(', ')}"
        }
    }
    workflow.onComplete {
        finishRun(sampleIds, counted, published, versionsFile, foreignSamples, earlierRecord, outdirLock)
    }
}

// The results a run must make that this one did not: samples without counts, the matrix, the report.
def missingResults(sampleIds, counted, published) {
    def missing = sampleIds.findAll { !counted.containsKey(it) }.collect { "no counts for ${it}".toString() }
    missing += ['counts_matrix.tsv'].findAll { !published.containsKey(it) }.collect { "no ${it}".toString() }
    if (!params.skip_multiqc && !published.containsKey('multiqc/multiqc_report.html')) {
        missing << 'no MultiQC report'
    }
    return missing
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
        def notWritten = published.keySet().findAll { !written.containsKey(it) }.sort()
        writeProblem = writeProblem ?: (notWritten ? publishProblem(workflow.errorMessage) : null)
        writeProblem = writeProblem ?: writeOutputsRecord(params.outdir, earlierRecord + written)
        def interrupted = session.isAborted() && !workflow.stats.failedCount && !writeProblem
        log.info runSummary(sampleIds, counted, interrupted, foreignSamples, written, writeProblem, notWritten)
    } finally {
        releaseOutdirLock(outdirLock)
    }
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

// Why publishing failed, from the run's error without the paths it names ('No space left on device').
def publishProblem(errorMessage) {
    def first = (errorMessage ?: '').readLines().collect { it.trim() }.find { it }
    return first ? first.replaceFirst(/^.*: /, '') : 'publishing failed (see .nextflow.log)'
}

// Copy through a temporary name, so that no reader sees a half-written file.
def publishFile(source, target) {
    def partial = target.resolveSibling(".${target.name}.partial")
    java.nio.file.Files.createDirectories(target.parent)
    java.nio.file.Files.copy(source, partial, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
    java.nio.file.Files.move(partial, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
}

// The end-of-run summary: each sample's regions and reads (from this run's own results), failures, outputs.
def runSummary(samples, counted, interrupted, foreignSamples, written, writeProblem, notWritten) {
    def complete = workflow.success && !writeProblem && !missingResults(samples, counted, written)
    def state = complete ? 'finished' : (interrupted ? 'INTERRUPTED' : 'FAILED')
    def lines = ["regioncount ${state}: ${samples.size()} sample(s)"]
    samples.each { id ->
        if (!counted.containsKey(id)) {
            lines << "  ${id}: no counts (${interrupted ? 'not finished' : 'failed or not run'})"
            return
        }
        def text = counted[id].text.readLines()
        def total = text.find { it.startsWith('Total reads: ') }?.substring('Total reads: '.length()) ?: 'no'
        def lost = written.containsKey("${id}/${id}_count.txt".toString()) ? '' : ' (not written to --outdir)'
        // Overlapping BED regions each count a read they share: the sum is not the reads in any region. Contigs do
        // not overlap: there the sum is that union (samtools view -c -M -L <all contigs>).
        def union = params.regions ? 'overlapping regions each count a read they share' : "${total} reads in any region"
        lines << "  ${id}: ${text.count { it.startsWith('Region ') }} regions, region counts sum to ${total} (${union})${lost}"
    }
    if (writeProblem) {
        lines << "  Results could not be written to ${params.outdir}: ${writeProblem}"
        if (notWritten) {
            lines << "  Not written: ${notWritten.take(5).join(', ')}${notWritten.size() > 5 ? " and ${notWritten.size() - 5} more" : ''}"
        }
    } else if (interrupted) {
        lines << "  Interrupted before the end: run again with -resume to finish (finished tasks are cached)"
    } else if (!complete) {
        // failedCount counts the ignored failures too.
        def ignored = workflow.stats.ignoredCount ? " (${workflow.stats.ignoredCount} ignored by errorStrategy)" : ''
        lines << "  Failed tasks: ${workflow.stats.failedCount}${ignored} (see the errors above and .nextflow.log)"
    }
    if (foreignSamples) {
        lines << "  Note: ${params.outdir} also holds results of samples not in this run (from earlier runs): ${foreignSamples.join(', ')}"
    }
    def countsWritten = samples.findAll { written.containsKey("${it}/${it}_count.txt".toString()) }
    if (complete) {
        lines << "Results: ${params.outdir} (per sample: <sample>/; all samples: counts_matrix.tsv)"
        if (!params.skip_multiqc) {
            lines << "Report:  ${params.outdir}/multiqc/multiqc_report.html"
        }
        lines << "Run info and tool versions: ${params.outdir}/pipeline_info/"
    } else if (countsWritten && written.containsKey('counts_matrix.tsv')) {
        lines << "Results of the samples counted: ${params.outdir}/<sample>/ and counts_matrix.tsv"
    } else if (countsWritten && countsWritten.size() < counted.size()) {
        lines << "Results written: ${params.outdir}/<sample>/ of ${countsWritten.join(', ')} only"
    } else if (countsWritten) {
        lines << "Results of the samples counted: ${params.outdir}/<sample>/ (no counts_matrix.tsv: not every sample was counted)"
    }
    return lines.join('\n')
}

// The run summary section of the MultiQC report (custom content, an HTML table): the profiles, the Nextflow
// and pipeline versions, and every parameter that has a value. Nothing that changes from run to run (run
// name, command line) nor how results are published (--publish_dir_mode), so that -resume still finds
// MULTIQC cached. Its id, regioncount-regioncount-summary, is placed by assets/multiqc_config.yml.
def runSummaryMqc(parameters, run) {
    def escape = { value -> value.toString().replaceAll(/\s+/, ' ').replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;') }
    def rows = [
        'Pipeline': "${run.manifest.name} ${run.manifest.version}",
        'Nextflow': run.nextflow.version,
        'Profile' : run.profile,
    ] + parameters.findAll { name, value -> value != null && value != '' && name != 'publish_dir_mode' }
        .collectEntries { name, value -> ["--${name}", value] }
    def html = ['<table class="table table-condensed">'] +
        rows.collect { name, value -> "  <tr><th>${escape(name)}</th><td><code>${escape(value)}</code></td></tr>" } + ['</table>']
    return ([
        "id: '${run.manifest.name.replace('/', '-')}-summary'",
        "section_name: 'Run summary'",
        "description: 'How this run of ${run.manifest.name} was started.'",
        'plot_type: html',
        'data: |',
    ] + html.collect { "    ${it}" }).join('\n') + '\n'
}
