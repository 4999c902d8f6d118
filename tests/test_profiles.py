"""Executor and software profiles, checked with the real Nextflow where a run is impossible here.

Docker, Singularity/Apptainer, conda and AWS Batch cannot run on this machine (no container engine, no
conda, no nf-amazon plugin, no AWS), so what Nextflow resolves is checked instead: `nextflow config
-profile <name>` for every profile, the pinned container and conda environment of every process, and the
refusals of `-profile awsbatch` without a queue or without an S3 work directory. The Slurm profile runs
for real in test_slurm.py.
"""

import glob
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT

pytestmark = pytest.mark.pipeline

TIMEOUT_S = 300
PROFILES = ["test", "test_full", "slurm", "awsbatch", "docker", "singularity", "apptainer", "conda"]
TEST_BAM = os.path.join(ROOT, "assets", "test-data", "test1.bam")


def nextflow(args, cwd):
    os.makedirs(cwd, exist_ok=True)
    command = [shutil.which("nextflow") or "nextflow", *args]
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)} did not finish within {TIMEOUT_S} s", pytrace=False)


def flat_config(text):
    """`nextflow config -o flat` output as {key: value text}."""
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


@pytest.fixture(scope="module")
def nf(tmp_path_factory):
    """Every Nextflow command of this module, run side by side (each one is a JVM start-up)."""
    if shutil.which("nextflow") is None:
        pytest.fail("nextflow is not on PATH: run the tests with `make test`, which sets it up", pytrace=False)
    base = tmp_path_factory.mktemp("profiles")
    commands = {
        f"config:{profile}": (["config", ROOT, "-o", "flat", "-profile", profile], base / "config")
        for profile in PROFILES
    }
    commands["aws:no-queue"] = (
        ["run", ROOT, "-ansi-log", "false", "-profile", "awsbatch", "--input", TEST_BAM, "--outdir", "s3://b/o"],
        base / "aws-no-queue",
    )
    commands["aws:local-workdir"] = (
        [
            "run",
            ROOT,
            "-ansi-log",
            "false",
            "-profile",
            "awsbatch",
            "--awsqueue",
            "q",
            "--input",
            TEST_BAM,
            "--outdir",
            str(base / "aws-out"),
            "-work-dir",
            str(base / "aws-local-workdir" / "work"),
        ],
        base / "aws-local-workdir",
    )
    # The caps in a -c config file, as the refusal of --max_cpus/--max_memory/--max_time says (test_inputs.py).
    caps = base / "caps.config"
    caps.write_text("process.resourceLimits = [cpus: 4, memory: 8.GB, time: 4.h]\n")
    commands["config:caps"] = (["-c", str(caps), "config", ROOT, "-o", "flat", "-profile", "test"], base / "caps")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(nextflow, args, cwd) for name, (args, cwd) in commands.items()}
        results = {name: future.result() for name, future in futures.items()}
    results["base"] = base
    return results


def config(nf, profile):
    result = nf[f"config:{profile}"]
    assert result.returncode == 0, result.stdout + result.stderr
    return flat_config(result.stdout)


def test_test_profile_fits_two_cpus_and_four_gb(nf):
    cfg = config(nf, "test")
    assert cfg["process.resourceLimits"] == "[cpus:2, memory:'4 GB', time:'1h']"


def test_resource_caps_from_a_config_file_replace_the_profiles(nf):
    cfg = config(nf, "caps")
    assert cfg["process.resourceLimits"] == "[cpus:4, memory:'8 GB', time:'4h']"
    assert not any(key.startswith(("params.max_cpus", "params.max_memory", "params.max_time")) for key in cfg)


def test_test_full_profile_runs_the_benchmark_cohort_on_its_panel(nf):
    cfg = config(nf, "test_full")
    assert cfg["params.input"] == f"'{ROOT}/.bench/cohort16/sheet.csv'"
    assert cfg["params.regions"] == f"'{ROOT}/.bench/exome.bed'"
    assert "cohort16-panel" in open(os.path.join(ROOT, "conf", "test_full.config")).read()  # how to make them


def test_slurm_profile(nf):
    cfg = config(nf, "slurm")
    # Default caps (conf/base.config; changed with -c, see below); no container engine unless asked for.
    assert cfg["process.resourceLimits"] == "[cpus:16, memory:'64 GB', time:'1d']"
    assert not any(cfg.get(f"{engine}.enabled") == "true" for engine in ("docker", "singularity", "apptainer", "conda"))
    assert cfg["process.executor"] == "'slurm'"
    assert cfg["executor.queueSize"] == "100"
    assert cfg["executor.submitRateLimit"] == "'10/1s'"
    assert cfg["executor.pollInterval"] == "'15 sec'"
    assert cfg["executor.queueStatInterval"] == "'1 min'"
    # Job arrays for the many counting tasks, of --slurm_array_size (default 50) tasks each.
    assert cfg["process.'withName:COUNT_UNIT'.array"] == "50"
    assert int(cfg["params.slurm_array_size"]) <= int(cfg["executor.queueSize"])
    # Queue, account and extra options are null (cluster defaults) until given as params.
    assert cfg["process.queue"] == cfg["process.clusterOptions"] == cfg["executor.account"] == "null"


def test_awsbatch_profile(nf):
    cfg = config(nf, "awsbatch")
    assert cfg["process.executor"] == "'awsbatch'"
    assert cfg["conda.enabled"] == "false"
    assert {"process.queue", "aws.region", "aws.batch.cliPath"} <= cfg.keys()


@pytest.mark.parametrize("engine", ["docker", "singularity", "apptainer", "conda"])
def test_software_profiles_enable_one_engine(nf, engine):
    cfg = config(nf, engine)
    for other in ("docker", "singularity", "apptainer", "conda"):
        assert cfg[f"{other}.enabled"] == ("true" if other == engine else "false"), (engine, other)
    if engine in ("singularity", "apptainer"):
        assert cfg[f"{engine}.autoMounts"] == "true"
    if engine == "docker":
        assert cfg["docker.runOptions"] == "'-u $(id -u):$(id -g)'"
    if engine == "conda":
        assert cfg["conda.channels"] == "['conda-forge', 'bioconda']"


def module_files():
    return sorted(glob.glob(os.path.join(ROOT, "modules", "local", "*", "main.nf")))


def container_of(main_nf):
    found = re.findall(r"^\s*container\s+'([^']+)'", open(main_nf).read(), re.M)
    assert len(found) == 1, f"{main_nf}: expected one plain container '<image>' line, found {found}"
    return found[0]


def pins_of(main_nf):
    env = os.path.join(os.path.dirname(main_nf), "environment.yml")
    assert 'conda "${moduleDir}/environment.yml"' in open(main_nf).read(), main_nf
    return dict(re.findall(r"^\s*-\s*(?:[\w-]+::)?([\w.-]+)=([\w.]+)\s*$", open(env).read(), re.M))


@pytest.mark.parametrize("main_nf", module_files(), ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_every_process_pins_a_container_matching_its_conda_environment(main_nf):
    image = container_of(main_nf)
    registry_path, tag = image.rsplit(":", 1)
    assert tag != "latest" and re.search(r"\d", tag), image
    assert "." in registry_path.split("/")[0], f"{image}: name the registry, the pull must not depend on config"
    pins = pins_of(main_nf)
    # The tool version in the image tag, and the Python of a bioconda pyXY build, are the ones
    # environment.yml pins.
    tool = registry_path.rsplit("/", 1)[1]
    checked = 0
    if tool in pins:
        assert pins[tool] == tag.split("--")[0], (image, pins)
        checked += 1
    python_build = re.search(r"--py(\d)(\d+)", tag)
    if python_build and "python" in pins:
        assert pins["python"] == ".".join(python_build.groups()), (image, pins)
        checked += 1
    assert checked, f"{image}: neither its tool nor its Python is pinned in environment.yml {pins}"


def test_awsbatch_refuses_without_queue_before_any_work(nf):
    result = nf["aws:no-queue"]
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "awsqueue" in line]
    assert lines == ["ERROR ~ -profile awsbatch needs --awsqueue: the AWS Batch job queue that runs the tasks"]
    assert "Submitted process" not in result.stdout
    assert glob.glob(str(nf["base"] / "aws-no-queue" / "work" / "*" / "*")) == []


def test_awsbatch_refuses_a_work_dir_not_on_s3(nf):
    result = nf["aws:local-workdir"]
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "-profile awsbatch needs a work directory on S3, e.g. -work-dir s3://my-bucket/work" in out, out
    assert "Submitted process" not in out
    assert glob.glob(str(nf["base"] / "aws-local-workdir" / "work" / "*" / "*")) == []


def process_interface(main_nf):
    """(number of input channels, emit names) of a module's process, read from its main.nf."""
    text = open(main_nf).read()
    inputs = text.split("    input:\n", 1)[1].split("    output:\n", 1)[0]
    outputs = text.split("    output:\n", 1)[1].split("    when:\n", 1)[0]
    n_inputs = len([line for line in inputs.splitlines() if re.match(r"\s*(tuple|path|val)\b", line)])
    return n_inputs, re.findall(r"emit:\s*(\w+)", outputs)


@pytest.mark.parametrize("main_nf", module_files(), ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_every_module_describes_its_inputs_outputs_and_tools_in_meta_yml(main_nf):
    """nf-core's module meta.yml: one entry per input channel (a tuple's elements as a list), one output per emit
    name, the tools, and a name that is the module's folder."""
    import yaml

    with open(os.path.join(os.path.dirname(main_nf), "meta.yml")) as handle:
        meta = yaml.safe_load(handle)
    n_inputs, emits = process_interface(main_nf)
    assert meta["name"] == os.path.basename(os.path.dirname(main_nf))
    assert len(meta["input"]) == n_inputs, meta["input"]
    assert list(meta["output"]) == emits, (list(meta["output"]), emits)
    assert meta["tools"] and len(meta["keywords"]) >= 3 and meta["description"].strip()
    described = [entry for channel in meta["input"] for entry in (channel if isinstance(channel, list) else [channel])]
    assert all(next(iter(entry.values()))["description"] for entry in described)


def test_nf_core_yml_lists_exactly_the_files_whose_f_strings_look_like_templates():
    """.nf-core.yml tells nf-core's template_strings check which files hold f-strings with literal braces
    (samtools' {contig} region syntax): the check takes exact paths, so a file that gains or loses one must be listed or
    dropped, or `make lint` fails (or ignores a file for nothing). Same expression as nf-core tools 4.2.1."""
    import yaml

    with open(os.path.join(ROOT, ".nf-core.yml")) as handle:
        listed = set(yaml.safe_load(handle)["lint"]["template_strings"])
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    # nf-core's expression, spelled so that this file does not match it.
    template = re.compile("[^$]" + "{" * 2 + "[^:}]*" + "}" * 2)
    holding = set()
    for name in tracked.stdout.split():
        path = os.path.join(ROOT, name)
        if not name.endswith((".py", ".nf", ".config", ".md", ".yml", ".json", ".sh", ".groovy", ".test")):
            continue
        with open(path, encoding="latin1") as handle:
            if any(template.search(line) for line in handle):
                holding.add(name)
    assert holding, "no file with brace f-strings found: the expression or the file walk is wrong"
    assert listed == holding, f"only listed: {sorted(listed - holding)}; not listed: {sorted(holding - listed)}"
