#!/usr/bin/env nextflow
/*
 * Which of the given Groovy files (pipeline scripts, configs) Groovy 4's parser cannot read in its fast
 * mode. Nextflow compiles every script of the pipeline at the start of each run, cold; Groovy's parser first
 * tries ANTLR's SLL prediction and, on a file where that fails, parses the whole file again in full LL mode,
 * which caches nothing. A command call with named arguments after a positional one, as in
 * `path 'x.tsv', emit: table`, is such a construct: the eight modules written that way cost ~0.3 s of every
 * run's start (measured: launch to the first process 2.90 -> 2.62 s, medians of 5 tiny runs each), the same
 * declarations in parentheses, `path('x.tsv', emit: table)`, none.
 *
 * Run: nextflow run tools/groovy_parse_check.nf [--files a.nf,b.config]   (make lint: without --files, the
 * pipeline's own files). Prints "<file>\tSLL" or "<file>\tLL" per file; exits 1 when any needs LL, naming them.
 */
import groovyjarjarantlr4.v4.runtime.BailErrorStrategy
import groovyjarjarantlr4.v4.runtime.CharStreams
import groovyjarjarantlr4.v4.runtime.CommonTokenStream
import groovyjarjarantlr4.v4.runtime.atn.PredictionMode
import groovyjarjarantlr4.v4.runtime.misc.ParseCancellationException
import org.apache.groovy.parser.antlr4.GroovyLangLexer
import org.apache.groovy.parser.antlr4.GroovyLangParser

// As Groovy's AstBuilder.buildCST does for its first attempt: SLL prediction, bailing out at the first
// conflict (the point where Groovy would start again in LL mode).
def parsesInSllMode(String text) {
    def parser = new GroovyLangParser(new CommonTokenStream(new GroovyLangLexer(CharStreams.fromString(text))))
    parser.interpreter.predictionMode = PredictionMode.SLL
    parser.errorHandler = new BailErrorStrategy()
    parser.removeErrorListeners()
    try {
        parser.compilationUnit()
        return true
    } catch (ParseCancellationException needsLl) {
        return false
    }
}

// The Groovy files Nextflow compiles at the start of a run of the pipeline (this script's repository), by path.
def pipelineFiles() {
    def patterns = ['main.nf', 'workflows/*.nf', 'subworkflows/local/*/main.nf', 'modules/local/*/main.nf',
                    'nextflow.config', 'conf/*.config', 'benchmarks/hello/main.nf', 'tools/*.nf']
    return patterns.collectMany { pattern -> files("${projectDir.parent}/${pattern}") }*.toString().sort()
}

def files = params.files ? params.files.toString().tokenize(',') : pipelineFiles()
def slow = files.findAll { name ->
    def fast = parsesInSllMode(new File(name).getText('UTF-8'))
    println "${name}\t${fast ? 'SLL' : 'LL'}"
    return !fast
}
if (slow) {
    System.err.println("Groovy parses ${slow.join(', ')} twice (its fast SLL mode fails): write declarations with named " +
        "arguments in parentheses, e.g. path('x.tsv', emit: table) instead of path 'x.tsv', emit: table")
    System.exit(1)
}
