/*
 * The tools the local executor's tasks run (samtools, python3 with pysam, multiqc), looked for before any work.
 */

// Whether the tasks get their tools from a container or an environment (-profile conda|docker|...).
def softwareProfileEnabled(config) {
    def scopes = ['conda', 'mamba', 'spack', 'docker', 'podman', 'singularity', 'apptainer', 'charliecloud', 'shifter',
                  'sarus', 'wave']
    return scopes.any { scope -> config.navigate("${scope}.enabled")?.toString() == 'true' }
}

// Whether the configuration may give the tasks another PATH than the launcher's (env.PATH, a module, a
// beforeScript such as `module load samtools`): the tools can then only be looked for, not required.
def taskPathMayDiffer(config) {
    return ['env.PATH', 'process.module', 'process.beforeScript'].any { setting -> config.navigate(setting) }
}

// The executable `name` in the folders of a PATH string, or null.
def onPath(String name, String path) {
    return path.tokenize(File.pathSeparator).collect { folder -> new File(folder, name) }.find { candidate -> candidate.isFile() && candidate.canExecute() }
}

// Whether `python` imports pysam (the planner's one non-standard module): one short call.
def importsPysam(File python) {
    def process = [python.path, '-c', 'import pysam'].execute()
    process.consumeProcessOutput(new StringBuilder(), new StringBuilder())
    return process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) && process.exitValue() == 0
}

// One line per tool a local task would miss, run before any work: the local executor's tasks run with the
// launcher's PATH (and the pipeline's bin/), so what is not on it now fails a task later, with a traceback.
// Containers and conda bring their own tools; on a scheduler the nodes' PATH is not this one: the caller asks
// only for the local executor.
def missingToolProblems(parameters, config) {
    if (softwareProfileEnabled(config)) {
        return []
    }
    def howToGet = 'run `make setup` (then put .venv/bin and .tools/bin on PATH as README says), ' +
        'or use -profile conda, docker or singularity'
    def path = System.getenv('PATH') ?: ''
    def problems = []
    if (!onPath('samtools', path)) {
        problems << "samtools: not found on PATH (the indexing and counting tasks run it): ${howToGet}"
    }
    def python = onPath('python3', path)
    if (!python) {
        problems << "python3: not found on PATH (the planning and counting tasks run it): ${howToGet}"
    } else if (!importsPysam(python)) {
        problems << "python3 (${python}): cannot import pysam (the planning task needs it): ${howToGet}"
    }
    if (!parameters.skip_multiqc && !onPath('multiqc', path)) {
        problems << "multiqc: not found on PATH (the report needs it; --skip_multiqc runs without it): ${howToGet}"
    }
    return problems
}
