/*
 * Samples in groups and the counting tasks each group gets: sample grouping and the CPU arithmetic of the
 * local executor or a scheduler.
 */

// Samples are planned, counted and reduced in groups, so that a cohort costs tasks by its reads, not by its
// number of samples: a group's small samples share tasks, a big sample still gets up to --max_units units.
// The group of a sample depends on its name only (CRC32), so adding a sample to a cohort changes one group
// and -resume recounts that group alone. Groups: the CPU slots of the local executor; on a scheduler, whose
// capacity is unknown here, half of --max_units (8 by default): each group plans its panel again, so not one
// per possible task.
def sampleGroupCount(parameters, config) {
    if (!runsLocally(config)) {
        return Math.max(1, (parameters.max_units as int).intdiv(2))
    }
    return Math.max(1, countingTaskBound(parameters, config).intdiv(parameters.units_per_cpu as int))
}

// More groups for a cohort on a large panel: a group's reducer holds its samples x regions tallies (~16 B each;
// the planner ~36 B each when the samples share no plan, bin/plan_units.py StreamedPlan), so a group holds at
// most --max_group_regions of them (8,000,000: every task under 1 GB). Each group plans its panel again: fewer,
// larger groups pay that once per group, not once per 2,000,000 tallies (the earlier default). The count
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

def sampleGroup(String id, int groups) {
    def crc = new java.util.zip.CRC32()
    crc.update(id.getBytes('UTF-8'))
    return (int) (crc.value % groups) + 1
}

// Counting tasks per sample: at most --max_units; on the local executor also at most --units_per_cpu per
// CPU it may use (per --count_cpus). Each task has a fixed cost (wrapper, trace, start-up, a samtools pass per
// sample it holds), so a laptop is best served by one task per CPU (the planner balances their reads), while a
// scheduler, whose capacity is unknown here, gets max_units.
def countingTaskBound(parameters, config) {
    if (!runsLocally(config)) {
        return parameters.max_units as int
    }
    def slots = Math.max(1, localCpus(config).intdiv(countTaskCpus(parameters, config)))
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
def countTaskCpus(parameters, config) {
    return Math.min(parameters.count_cpus as int, (config.process?.resourceLimits?.cpus ?: Integer.MAX_VALUE) as int)
}

// The local executor refuses a task that asks for more CPUs than it has, but only once planning is done:
// say so before any work.
def countCpusProblem(parameters, config) {
    if (!runsLocally(config) || countTaskCpus(parameters, config) <= localCpus(config)) {
        return null
    }
    return "--count_cpus ${parameters.count_cpus}: the local executor has only ${localCpus(config)} CPUs " +
        "(use --count_cpus ${localCpus(config)} or less, or raise executor.cpus)"
}
