"""Where the time of the offline commands goes: `govcloud validate FILE` and `govcloud validate DIR`.

    .venv/bin/python benchmarks/profile_offline.py wall     [--runs 7] [TARGET ...]  # whole processes
    .venv/bin/python benchmarks/profile_offline.py phases   [--runs 7] [--clock cpu] [TARGET ...]  # phases, stages
    .venv/bin/python benchmarks/profile_offline.py imports  [--runs 5] [--top 20] [TARGET ...]  # -X importtime
    .venv/bin/python benchmarks/profile_offline.py cprofile [--top 12] [TARGET ...]  # cProfile per stage
    .venv/bin/python benchmarks/profile_offline.py ratio    [--runs 7] [--repeat 3]  # in-process, vs the bare parse
    .venv/bin/python benchmarks/profile_offline.py split    [--runs 7] [--jobs 2]  # validate DIR --jobs N, by phase
    .venv/bin/python benchmarks/profile_offline.py all      # every one of them, on every target
    # --root DIR: measure that checkout's package (default: the one holding this script)
    # --before DIR (wall, ratio): measure DIR and --root in turn, e.g. `git worktree add /tmp/before <commit>`

Every child process runs the package of the checkout measured (it runs in
that directory, which goes first on sys.path), exactly as the `govcloud`
console script starts it (`from govcloud.cli import main; sys.exit(main())`),
so that the "before" and "after" of a change are measured the same way,
and with --before side by side, alternating. Output goes to /dev/null, as a
CI job's or an editor's would be piped.

TARGETs: `pass` (bare `python -c pass`), `libs` (`import click, yaml,
pydantic, jinja2`), `libs-no-pydantic` (`import click, yaml, jinja2`),
`libs-model` (the four, then one `class M(BaseModel)`, with
PYDANTIC_DISABLE_PLUGINS=__all__ as the govcloud command sets it: the floor
of a command that builds a model), `cli-import` (`import govcloud.cli`), `one-simple`
(validate examples/mefa/hr-app.yaml: no blueprint, two roles),
`one-portal` (validate examples/moh/patient-portal.yaml: the web-app
blueprint), `dir` (validate the 1,000 manifests of bench_pipeline.py,
generated into benchmarks/out/manifests if missing; by default in one
process per CPU, agencies split between them), `dir-1` (the same with
`--jobs 1`: in one process; `phases` and `cprofile` measure this one for
the directory, as forked children's stages are not seen; in a checkout
from before `validate --jobs`, `dir` itself, which is one process there).

- `wall`: wall time and CPU time (user + system, from the child's rusage)
  of whole processes, median / min / max of --runs, the targets (and the
  checkouts) taken in turn (after --warmup runs that are not counted).
- `phases`: one child process per run that notes the time at each phase
  (interpreter start-up, `import govcloud.cli`, the imports `validate` makes
  on its first call, the command itself, interpreter teardown) and, inside
  the command, the exclusive time of each stage (YAML compose and build,
  blueprint merge, pydantic parse, reference checks, inventory load,
  compile, user-data render with the Jinja2 template compile apart, policy
  rules one by one, locating findings, printing), through thin wrappers
  around the stage functions (about 2 us per call, the part outside the
  timed span taken out of the enclosing stage; no profiler). A stage
  function the checkout does not have is listed, not fatal. Phases are
  given in wall and CPU time; stages in wall time, or CPU time with
  `--clock cpu`. Cyclic-GC pauses during the command are counted with
  gc.callbacks. A `SystemExit` (validate's exit code 1) keeps the results
  alive until the interpreter exits, as in the console script: freeing them
  is reported apart from the rest of the teardown.
- `imports`: `-X importtime` of the command, median of --runs: the top
  imports by cumulative time, govcloud's module bodies by self time, and
  which govcloud module first pulls in which package (and what that costs).
- `cprofile`: the same stages with one cProfile profile per stage (the
  profiler is switched when a stage starts and ends), top functions by own
  time in each, and over the whole command; plus the imports under cProfile
  (pydantic's model-class construction counted apart). Profiled times are
  inflated by the profiler: read the shares, and take times from `phases`.
- `ratio`: what bench_pipeline.py computes (CPU time of the 1,000 in one
  warm process against the bare CSafeLoader parse) for `check.check_paths`
  (what `govcloud validate` calls), with cost.estimate over the plans for
  reference (validate does not estimate cost; plan, cost and deploy do):
  --runs processes per checkout, each warmed and then timing --repeat rounds
  of the rows in turn; the ratio is the median of each round's ratio.
- `split`: where the wall time of `validate DIR --jobs N` goes (validate_paths,
  in one process per run): the set-up, the split into shares (peeking each
  file's agency), the shares checked at once (each share's own wall and CPU
  time measured in the process that checks it), merging the findings.

The dev machine is shared: `--idle 0.75` waits before each run until the
CPUs were at least 75 % idle, and `--clock cpu` makes the stage figures
CPU time. `--no-pyc` measures without govcloud's .pyc files (moved aside
meanwhile, PYTHONDONTWRITEBYTECODE=1), as in a checkout whose environment
sets that variable; by default the children write and use .pyc files.
"""
from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MANIFEST_DIR = os.path.join(HERE, "out", "manifests")
SIMPLE = os.path.join("examples", "mefa", "hr-app.yaml")
PORTAL = os.path.join("examples", "moh", "patient-portal.yaml")
CLI_MAIN = "import sys; from govcloud.cli import main; sys.exit(main())"  # what the console script runs
# the floor of any command that checks a manifest with pydantic: its first model class loads pydantic's internals
ONE_MODEL = ("import os; os.environ.setdefault('PYDANTIC_DISABLE_PLUGINS', '__all__')\n"
             "import click, yaml, pydantic, jinja2\nclass M(pydantic.BaseModel):\n    x: int = 0")

TARGETS = {
    "pass": ("bare interpreter: python -c pass", ["-c", "pass"]),
    "libs": ("python -c 'import click, yaml, pydantic, jinja2'", ["-c", "import click, yaml, pydantic, jinja2"]),
    "libs-no-pydantic": ("python -c 'import click, yaml, jinja2'", ["-c", "import click, yaml, jinja2"]),
    "libs-model": ("the four libraries, then one pydantic model class (plugins off, as govcloud runs it)",
                   ["-c", ONE_MODEL]),
    "cli-import": ("python -c 'import govcloud.cli'", ["-c", "import govcloud.cli"]),
    "one-simple": (f"govcloud validate {SIMPLE}", ["-c", CLI_MAIN, "validate", SIMPLE]),
    "one-portal": (f"govcloud validate {PORTAL}", ["-c", CLI_MAIN, "validate", PORTAL]),
    "dir": ("govcloud validate benchmarks/out/manifests (1,000)", ["-c", CLI_MAIN, "validate", MANIFEST_DIR]),
    "dir-1": ("govcloud validate benchmarks/out/manifests --jobs 1 (1,000, one process)",
              ["-c", CLI_MAIN, "validate", MANIFEST_DIR, "--jobs", "1"]),
}
COMMANDS = ("one-simple", "one-portal", "dir", "dir-1")  # the targets that run a command
# the stage timers see one process: `dir` checks its shares in forked children (validate --jobs), so its
# stages are measured with `dir-1`, the same work in one process, and `dir` by `wall` only
STAGED = ("one-simple", "one-portal", "dir-1")
NEEDS_JOBS = ("dir-1",)  # targets a checkout from before `validate --jobs` cannot run
CHECKOUTS: list[tuple[str, str]] = []  # (label, checkout root) measured: --root, and --before when given
CHILD_ENV = dict(os.environ)  # main() drops PYTHONDONTWRITEBYTECODE from it unless --no-pyc
IDLE = {"threshold": 0.0, "timeout": 600.0, "busy_rounds": 0, "waited": 0.0}  # --idle


def _cpu_idle(interval: float = 0.5) -> float:
    """Fraction of the machine's CPU time that was idle over `interval` seconds (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])  # idle + iowait, total (without guest time, already in user)
    i0, t0 = sample()
    time.sleep(interval)
    i1, t1 = sample()
    return (i1 - i0) / max(1, t1 - t0)


def wait_idle() -> None:
    """With --idle F: wait until the CPUs were at least F idle over half a second, at most --idle-timeout
    seconds (then measure anyway, and say so): the dev machine is shared, and a neighbour's test run
    doubles a wall time."""
    if IDLE["threshold"] <= 0 or not os.path.exists("/proc/stat"):
        return
    start = time.perf_counter()
    while _cpu_idle() < IDLE["threshold"]:
        if time.perf_counter() - start > IDLE["timeout"]:
            IDLE["busy_rounds"] += 1
            break
    IDLE["waited"] += time.perf_counter() - start


# -- the child process: phases and stages ---------------------------------------------------------------

class Stages:
    """Exclusive wall time per stage (nested stages are subtracted from their parent).

    With `profile=True`, each stage also gets its own cProfile profile,
    switched on while that stage (and not one nested in it) runs.
    """

    def __init__(self, profile: bool = False, cpu: bool = False):
        import collections

        self.clock = time.process_time if cpu else time.perf_counter  # cpu: steadier on a busy machine
        self.times: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.Counter()
        self.stack: list[list] = []  # [name, key, start, time of nested stages]
        self.profiles: dict | None = None
        self.outer = 0.0  # a wrapped call's own cost outside its measured span (charged back to its parent)
        if profile:
            import cProfile

            self._new = cProfile.Profile
            self.profiles = {"(command)": self._new()}

    def _profile(self, name: str):
        p = self.profiles.get(name)
        if p is None:
            p = self.profiles[name] = self._new()
        return p

    def enter(self, name: str) -> bool:
        """Start stage `name` ("... in {parent}": one figure per enclosing stage); False if already in it."""
        if self.stack and self.stack[-1][0] == name:
            return False  # a stage calling itself (MergedLocator.locate -> YamlDocument.locate): one stage
        key = name.format(parent=self.stack[-1][1] if self.stack else "(command)")
        if self.profiles is not None:
            self._profile(self.stack[-1][1] if self.stack else "(command)").disable()
            self._profile(key).enable()
        self.stack.append([name, key, self.clock(), 0.0])
        return True

    def exit(self) -> None:
        _name, key, start, nested = self.stack.pop()
        elapsed = self.clock() - start
        self.times[key] += elapsed - nested
        self.calls[key] += 1
        if self.stack:
            self.stack[-1][3] += elapsed + self.outer
        if self.profiles is not None:
            self._profile(key).disable()
            self._profile(self.stack[-1][1] if self.stack else "(command)").enable()

    def calibrate(self, n: int = 20000) -> float:
        """Measure what a wrapped call costs outside the span it measures; returns the whole cost per call."""
        probe = Stages(cpu=self.clock is time.process_time)
        noop = probe.wrap("probe", lambda: None)
        bare = lambda: None  # noqa: E731
        clock = self.clock
        t0 = clock()
        for _ in range(n):
            bare()
        t1 = clock()
        for _ in range(n):
            noop()
        t2 = clock()
        whole = max(0.0, ((t2 - t1) - (t1 - t0)) / n)
        self.outer = max(0.0, whole - probe.times["probe"] / n)
        return whole

    def wrap(self, name, fn):
        import functools

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            pushed = self.enter(name(*args, **kwargs) if callable(name) else name)
            try:
                return fn(*args, **kwargs)
            finally:
                if pushed:
                    self.exit()
        return timed

    def wrap_generator(self, name: str, fn):
        import functools

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            it = fn(*args, **kwargs)
            while True:
                pushed = self.enter(name)
                try:
                    item = next(it)
                except StopIteration:
                    return
                finally:
                    if pushed:
                        self.exit()
                yield item
        return timed


def _wrap(stages: Stages, missing: list, owner, attr: str, name, generator: bool = False) -> None:
    """Replace `owner.attr` by a timed wrapper; a hook point this checkout does not have is noted, not fatal
    (the same script measures the code before and after a change)."""
    fn = getattr(owner, attr, None)
    if fn is None:
        missing.append(f"{getattr(owner, '__name__', owner)}.{attr}")
        return
    setattr(owner, attr, (stages.wrap_generator if generator else stages.wrap)(name, fn))


def install_stage_timers(stages: Stages, captured: dict) -> list[str]:
    """Wrap the functions each stage of `govcloud validate` goes through (where their callers look them up).

    Returns the hook points this checkout lacks."""
    import importlib

    import jinja2.environment

    from govcloud import check
    from govcloud.cli import render
    from govcloud.load import blueprints, inventory, yamlsource
    from govcloud.plan import compile as compile_

    policy = importlib.import_module("govcloud.policy")
    evaluate_mod = sys.modules["govcloud.policy.evaluate"]  # the module: the package's `evaluate` is the function
    missing: list[str] = []

    def w(owner, attr, name, generator=False):
        _wrap(stages, missing, owner, attr, name, generator)

    w(check.Workspace, "__init__", "config repo + workspace")
    w(check, "manifest_files", "find files (scandir)", generator=True)
    w(check, "load_yaml_file", "YAML: read + safe build")
    w(yamlsource._Loader, "get_single_node", "YAML: libyaml compose")
    if hasattr(blueprints, "Blueprints"):  # a Workspace owns its blueprints (after 2026-12-04)
        w(blueprints.Blueprints, "apply", "blueprint merge")
        w(blueprints.Blueprints, "load", "blueprint file load (cached)")
    else:
        w(check, "apply_blueprint", "blueprint merge")
        w(blueprints, "load_blueprint", "blueprint file load (cached)")
    w(yamlsource.YamlDocument, "locate", "locate (file:line:col) in {parent}")
    w(blueprints.MergedLocator, "locate", "locate (file:line:col) in {parent}")
    w(check, "parse_manifest", "pydantic parse (Manifest)")
    w(check, "check_references", "reference checks")
    w(inventory, "load_yaml_file", "inventory load (sites, agencies)")
    w(inventory, "validate_model", "inventory load (sites, agencies)")
    w(check, "compile_plan", "compile (ResourcePlan)")
    w(compile_, "render_user_data", "user data: render_user_data")
    w(jinja2.environment.Environment, "get_template", "user data: get_template (compile once)")
    w(jinja2.environment.Template, "render", "user data: Template.render")
    w(policy, "load_rules", "policy: load rules (+ entry points)")
    w(policy, "load_policy_config", "policy: policies.yaml + settings")
    w(policy, "evaluate", "policy: evaluate (contexts, record, sort)")
    w(evaluate_mod, "_run", lambda r, target: f"policy rule {r.id}")
    w(render, "print_check_results", "print findings")

    # the command calls validate_paths (before `validate --jobs`: check_paths) at its first call
    entry = "validate_paths" if hasattr(check, "validate_paths") else "check_paths"
    timed_entry = stages.wrap(f"{entry} (dedup, merge results, batch GC)", getattr(check, entry))
    timed_compile = check.compile_plan
    captured["resources"] = 0

    def counted_compile(*args, **kwargs):  # validate_paths' results carry no plans: count them here
        plan = timed_compile(*args, **kwargs)
        captured["resources"] += len(plan.resources)
        return plan

    def keep(*args, **kwargs):  # the counts only: the results are freed when the command lets go of them
        results, report = out = timed_entry(*args, **kwargs)
        captured.update(files=len(results), findings=len(report.findings))
        return out

    check.compile_plan = counted_compile
    setattr(check, entry, keep)
    return missing


def child() -> None:
    """One measured process: `python -c 'import profile_offline; profile_offline.child()' validate ...`."""
    t_start = time.time()  # first thing after the interpreter and `site` are up
    c_start = time.process_time()
    mode = os.environ["GOVCLOUD_PROFILE_MODE"]  # phases | cprofile
    out_file = os.environ["GOVCLOUD_PROFILE_OUT"]
    profile = mode == "cprofile"
    import_prof = None
    if profile:
        import cProfile

        import_prof = cProfile.Profile()
        import_prof.enable()
    p0, c0 = time.perf_counter(), time.process_time()
    import importlib

    importlib.import_module("govcloud.cli")
    p1, c1 = time.perf_counter(), time.process_time()
    # what `validate` imports on its first call: the offline check (pydantic and the models), the policy pack
    # (at its first run), the output helpers, and Jinja2's sandbox (at the first user-data render)
    for name in ("govcloud.check", "govcloud.policy", "govcloud.cli.render", "jinja2.sandbox"):
        importlib.import_module(name)
    p2, c2 = time.perf_counter(), time.process_time()
    if import_prof is not None:
        import_prof.disable()
    modules_before = set(sys.modules)

    import gc
    import json

    stages = Stages(profile=profile, cpu=os.environ.get("GOVCLOUD_PROFILE_CLOCK") == "cpu")
    overhead = 0.0 if profile else stages.calibrate()
    captured: dict = {}
    missing = install_stage_timers(stages, captured)
    gc_pauses: list[tuple[int, float]] = []  # (generation, seconds)
    gc_started: list[float] = []

    def on_gc(phase, info):
        if phase == "start":
            gc_started.append(time.perf_counter())
        elif gc_started:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_started.pop()))

    gc.callbacks.append(on_gc)
    argv = sys.argv[1:]
    sys.argv = ["govcloud", *argv]
    from govcloud.cli import main

    code = 0
    exit_exc = None
    t0, ct0 = time.perf_counter(), time.process_time()
    if profile:
        stages.profiles["(command)"].enable()
    try:
        main()
    except SystemExit as exc:
        # kept, as the console script's SystemExit keeps the command's frames (and its results) alive until the
        # interpreter exits: with exit code 1 they are freed in the teardown, as in `govcloud validate`
        exit_exc = exc
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if profile:
        stages.profiles["(command)"].disable()
    t1, ct1 = time.perf_counter(), time.process_time()
    gc.callbacks.remove(on_gc)
    # the console script's SystemExit (exit code 1: `validate` calls sys.exit(1)) holds the command's frames,
    # and so its results, until the interpreter exits; freeing them is timed apart from the rest of the teardown
    if exit_exc is not None:
        exit_exc.__traceback__ = None
    t2, ct2 = time.perf_counter(), time.process_time()
    data = {
        "start": t_start, "import_cli": p1 - p0, "import_lazy": p2 - p1, "command": t1 - t0,
        "stages": dict(stages.times), "calls": dict(stages.calls), "exit_code": code, "overhead": overhead,
        "free": t2 - t1, "gc": gc_pauses,
        "cpu": {"startup": c_start, "import_cli": c1 - c0, "import_lazy": c2 - c1, "command": ct1 - ct0,
                "free": ct2 - ct1},
        "new_modules": sorted(set(sys.modules) - modules_before),
        "missing_hooks": missing,
        "files": captured.get("files"), "resources": captured.get("resources"), "findings": captured.get("findings"),
    }
    if profile:
        data["profiles"] = {name: _stats(p) for name, p in stages.profiles.items()}
        data["profiles"]["(imports)"] = _stats(import_prof)
    data["end"] = time.time()
    data["cpu"]["end"] = time.process_time()
    with open(out_file, "w") as f:
        json.dump(data, f)
    sys.stdout.flush()
    sys.stderr.flush()
    raise exit_exc if exit_exc is not None else SystemExit(code)


def _stats(prof) -> list:
    """A profile as [file, line, function, calls, own time, cumulative time] rows."""
    import pstats

    st = pstats.Stats(prof)
    return [[f, ln, fn, nc, tt, ct] for (f, ln, fn), (cc, nc, tt, ct, _callers) in st.stats.items()]


# -- the parent: running, aggregating, printing ---------------------------------------------------------

def ensure_manifests(count: int = 1000) -> None:
    if os.path.isdir(MANIFEST_DIR) and len(os.listdir(MANIFEST_DIR)) >= count:
        return
    sys.path.insert(0, HERE)
    sys.path.insert(0, ROOT)
    from pathlib import Path

    from bench_pipeline import generate

    generate(Path(MANIFEST_DIR), count)


def _run(args: list[str], root: str, env: dict | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of one child process in checkout `root` (CPU: user + system, from its rusage)."""
    import resource
    import subprocess

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env or CHILD_ENV, cwd=root, check=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def _stat(values: list[float]) -> tuple[float, float, float]:
    import statistics

    return statistics.median(values), min(values), max(values)


def _ms(values) -> str:
    med, lo, hi = _stat(list(values))
    return f"{med * 1e3:8.1f} ms (min {lo * 1e3:.1f}, max {hi * 1e3:.1f})"


def _md(values) -> str:
    med, lo, hi = _stat(list(values))
    digits = 0 if med >= 0.1 else 1 if med >= 0.001 else 2
    return f"{med * 1e3:.{digits}f} ms | {lo * 1e3:.{digits}f} | {hi * 1e3:.{digits}f}"


def _checkout_order(round_: int) -> list[tuple[str, str]]:
    """The checkouts measured, in turn; with --before the order alternates from round to round."""
    return CHECKOUTS if round_ % 2 == 0 else CHECKOUTS[::-1]


def _loads() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _can_run(target: str, root: str) -> bool:
    if target not in NEEDS_JOBS:
        return True
    with open(os.path.join(root, "govcloud", "cli", "offline.py")) as f:
        return '"--jobs"' in f.read()


def _staged(target: str) -> bool:
    """Whether the stage timers see the target's work: `dir` too in a checkout from before `validate --jobs`,
    which checks a directory in one process."""
    return target in STAGED or (target == "dir" and not _can_run("dir-1", CHECKOUTS[-1][1]))


def cmd_wall(targets: list[str], runs: int, warmup: int) -> None:
    print(f"## whole processes: wall time and CPU time (user + system), median of {runs} runs (min, max); "
          f"load average at the start {_loads()}")
    print("| what | checkout | wall median | min | max | CPU median | min | max |\n|---|---|---|---|---|---|---|---|")
    for t in targets:
        for label, root in CHECKOUTS:
            for _ in range(warmup if _can_run(t, root) else 0):
                _run(TARGETS[t][1], root)
    times: dict[tuple, list] = {(t, label): [] for t in targets for label, _ in CHECKOUTS}
    for i in range(runs):  # round robin: a neighbour's burst on the shared machine spreads over every target
        wait_idle()
        for t in targets:
            for label, root in _checkout_order(i):
                if _can_run(t, root):
                    times[(t, label)].append(_run(TARGETS[t][1], root))
    for t in targets:
        for label, root in CHECKOUTS:
            vals = times[(t, label)]
            if not vals:
                print(f"| {TARGETS[t][0]} | {label} | (no `validate --jobs` in this checkout) | | | | | |")
                continue
            print(f"| {TARGETS[t][0]} | {label} | {_md(w for w, _ in vals)} | {_md(c for _, c in vals)} |")
    print(f"(load average at the end {_loads()})")


def _child_run(target: str, mode: str) -> dict:
    import json
    import subprocess
    import tempfile

    label, args = TARGETS[target]
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    import resource

    env = dict(CHILD_ENV, GOVCLOUD_PROFILE_MODE=mode, GOVCLOUD_PROFILE_OUT=out,
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, CHILD_ENV.get("PYTHONPATH")])))
    boot = "import profile_offline; profile_offline.child()"
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = time.perf_counter()
    subprocess.run([sys.executable, "-c", boot, *args[2:]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, cwd=CHECKOUTS[-1][1], check=False)
    wall = time.perf_counter() - p
    t1 = time.time()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    data["startup"] = data["start"] - t0
    data["teardown"] = t1 - data["end"]
    data["wall"] = wall
    cpu = data["cpu"]
    cpu["wall"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)  # the whole process's CPU time
    cpu["teardown"] = cpu["wall"] - cpu.pop("end")
    return data


def cmd_phases(targets: list[str], runs: int) -> None:
    for t in targets:
        if not _staged(t):
            if t in COMMANDS:
                print(f"\n({t}: its shares run in forked children, whose stages are not seen; see dir-1)")
            continue
        _child_run(t, "phases")  # warm the file cache and the .pyc files
        rs = []
        for _ in range(runs):
            wait_idle()
            rs.append(_child_run(t, "phases"))
        r0 = rs[0]
        print(f"\n## {TARGETS[t][0]}: phases, median of {runs} runs (min, max)")
        if r0["files"] is not None:
            print(f"{r0['files']} manifests, {r0['resources']} planned resources, {r0['findings']} policy findings, "
                  f"exit code {r0['exit_code']}")
        print("| phase | wall median | min | max | CPU median | min | max |\n|---|---|---|---|---|---|---|")
        for key, label in (("startup", "interpreter start-up (to the first statement)"),
                           ("import_cli", "`import govcloud.cli` (click, the command modules)"),
                           ("import_lazy", "imports `validate` makes on its first call (check, policy, "
                                           "pydantic + models, jinja2)"),
                           ("command", "the command (`main()`)"),
                           ("free", "freeing the results the SystemExit holds (in the real CLI: at exit)"),
                           ("teardown", "interpreter teardown (the rest, to process exit)"),
                           ("wall", "whole process (as measured by the parent)")):
            print(f"| {label} | {_md(r[key] for r in rs)} | {_md(r['cpu'][key] for r in rs)} |")
        for gen in sorted({g for r in rs for g, _ in r["gc"]}):
            n = sorted(sum(1 for g, _ in r["gc"] if g == gen) for r in rs)[len(rs) // 2]
            print(f"| of the command: cyclic GC of generation {gen} ({n} collections) | "
                  f"{_md(sum(t for g, t in r['gc'] if g == gen) for r in rs)} | | | |")
        cmd = _stat([r["command"] for r in rs])[0]
        names = sorted({n for r in rs for n in r["stages"]}, key=lambda n: -_stat([r["stages"].get(n, 0.0)
                                                                                      for r in rs])[0])
        cpu_clock = CHILD_ENV.get("GOVCLOUD_PROFILE_CLOCK") == "cpu"
        if cpu_clock:
            cmd = _stat([r["cpu"]["command"] for r in rs])[0]
        print(f"\nstages of the command (exclusive {'CPU' if cpu_clock else 'wall'} times; share of the command's "
              f"median {cmd * 1e3:.1f} ms)")
        print("| stage | calls | median | min | max | share |\n|---|---|---|---|---|---|")
        accounted = [sum(r["stages"].values()) for r in rs]
        for n in names:
            vals = [r["stages"].get(n, 0.0) for r in rs]
            med = _stat(vals)[0]
            print(f"| {n} | {r0['calls'].get(n, 0)} | {_md(vals)} | {med / cmd:.1%} |")
        rest = [(r["cpu"]["command"] if cpu_clock else r["command"]) - a for r, a in zip(rs, accounted)]
        print(f"| (rest of the command: click, the CLI function, the timers' own cost) | | {_md(rest)} | "
              f"{_stat(rest)[0] / cmd:.1%} |")
        calls = sum(r0["calls"].values())
        per = _stat([r["overhead"] for r in rs])[0]
        print(f"\nthe stage timers: {calls} timed calls at {per * 1e6:.1f} us each, {calls * per * 1e3:.1f} ms in all "
              f"(the part of it outside each timed span is taken out of the enclosing stage's figure)")
        if r0.get("missing_hooks"):
            print(f"\nstage functions this checkout does not have (not timed apart): {', '.join(r0['missing_hooks'])}")
        new = r0["new_modules"]
        if new:
            print(f"\nmodules imported during the command itself: {len(new)}: {', '.join(new[:30])}"
                  f"{' ...' if len(new) > 30 else ''}")


def _parse_importtime(stderr: str) -> list[dict]:
    """-X importtime lines -> nodes {name, self, cum, parent, depth} in import order of completion."""
    nodes: list[dict] = []
    pending: list[dict] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, raw = line[len("import time:"):].split("|", 2)
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2
        node = {"name": raw.strip(), "self": int(self_us) / 1e6, "cum": int(cum_us) / 1e6, "depth": depth,
                "children": []}
        while pending and pending[-1]["depth"] > depth:
            child_ = pending.pop()
            child_["parent"] = node
            node["children"].insert(0, child_)
        pending.append(node)
        nodes.append(node)
    for n in pending:
        n["parent"] = None
    return nodes


def _top(name: str) -> str:
    return name.split(".")[0]


def _is_third_party(name: str) -> bool:
    top = _top(name)
    return top != "govcloud" and top not in sys.stdlib_module_names and not top.startswith("_")


def _foreign_ancestor(node: dict) -> bool:
    """Imported (directly or not) by a module that is not govcloud's: part of that module's cost."""
    p = node.get("parent")
    while p is not None:
        if _top(p["name"]) != "govcloud":
            return True
        p = p.get("parent")
    return False


def _gov_ancestor(node: dict) -> str | None:
    p = node.get("parent")
    while p is not None:
        if _top(p["name"]) == "govcloud":
            return p["name"]
        p = p.get("parent")
    return None


def cmd_imports(targets: list[str], runs: int, top: int) -> None:
    import collections
    import subprocess

    for t in targets:
        if t == "pass":
            continue
        label, args = TARGETS[t]
        samples: dict[str, list] = collections.defaultdict(list)
        pulls: dict[tuple, list] = collections.defaultdict(list)  # (govcloud module, package) -> cum
        packages: dict[str, list] = collections.defaultdict(list)  # package -> cum of its entry imports
        totals = []
        for _ in range(runs + 1):
            wait_idle()
            proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True,
                                  env=CHILD_ENV, check=False)
            nodes = _parse_importtime(proc.stderr)
            if _ == 0:
                continue  # warm-up
            totals.append(sum(n["cum"] for n in nodes if n["parent"] is None))
            per_run_pull: dict[tuple, float] = collections.defaultdict(float)
            per_run_pkg: dict[str, float] = collections.defaultdict(float)
            for n in nodes:
                samples[n["name"]].append((n["self"], n["cum"]))
                if _top(n["name"]) != "govcloud" and not _foreign_ancestor(n):
                    pkg = _top(n["name"]) + ("" if _is_third_party(n["name"]) else " (stdlib)")
                    per_run_pkg[pkg] += n["cum"]
                    per_run_pull[(_gov_ancestor(n) or "(top level: -c, or a function's import at run time)", pkg)] \
                        += n["cum"]
            for k, v in per_run_pull.items():
                pulls[k].append(v)
            for k, v in per_run_pkg.items():
                packages[k].append(v)
        print(f"\n## -X importtime: {label} (median of {runs} runs; -X importtime itself adds overhead)")
        print(f"all imports: {_ms(totals)}")
        print(f"\ntop {top} imports by cumulative time\n| module | cumulative | self |\n|---|---|---|")
        rows = sorted(samples.items(), key=lambda kv: -_stat([c for _, c in kv[1]])[0])
        for name, vals in rows[:top]:
            print(f"| {name} | {_stat([c for _, c in vals])[0] * 1e3:.1f} ms | "
                  f"{_stat([s for s, _ in vals])[0] * 1e3:.1f} ms |")
        print("\ngovcloud modules by own (self) time: module bodies, e.g. pydantic building model classes"
              "\n| module | self | cumulative |\n|---|---|---|")
        gov = sorted(((n, v) for n, v in samples.items() if _top(n) == "govcloud"),
                     key=lambda kv: -_stat([s for s, _ in kv[1]])[0])
        for name, vals in gov[:top]:
            print(f"| {name} | {_stat([s for s, _ in vals])[0] * 1e3:.1f} ms | "
                  f"{_stat([c for _, c in vals])[0] * 1e3:.1f} ms |")
        print("\nwhich govcloud module first pulls in which package (cumulative time of those imports, the package's "
              "own dependencies included)"
              "\n| govcloud module | package | cumulative |\n|---|---|---|")
        for (mod, pkg), vals in sorted(pulls.items(), key=lambda kv: -_stat(kv[1])[0]):
            if _stat(vals)[0] >= 0.0005:
                print(f"| {mod} | {pkg} | {_stat(vals)[0] * 1e3:.1f} ms |")
        print("\npackages in all (every first import of the package outside other packages)"
              "\n| package | cumulative |\n|---|---|")
        for pkg, vals in sorted(packages.items(), key=lambda kv: -_stat(kv[1])[0]):
            if _stat(vals)[0] >= 0.0005:
                print(f"| {pkg} | {_stat(vals)[0] * 1e3:.1f} ms |")
        gov = [sum(v for v in (s for s, _ in vals)) for vals in zip(*(samples[n] for n in samples
                                                                      if _top(n) == "govcloud"))]
        if gov:
            print(f"| govcloud's own module bodies (self times summed) | {_stat(gov)[0] * 1e3:.1f} ms |")


def _print_profile(rows: list, top: int, title: str) -> None:
    total = sum(r[4] for r in rows)
    if total <= 0:
        return
    print(f"\n### {title}: {total * 1e3:.1f} ms own time under the profiler")
    print("| function | calls | own | share | cumulative |\n|---|---|---|---|---|")
    for f, ln, fn, nc, tt, ct in sorted(rows, key=lambda r: -r[4])[:top]:
        where = f"{_short(f)}:{ln}({fn})" if ln else fn
        print(f"| {where} | {nc} | {tt * 1e3:.1f} ms | {tt / total:.1%} | {ct * 1e3:.1f} ms |")


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return os.path.relpath(path, ROOT) if path.startswith(ROOT) else path


def cmd_cprofile(targets: list[str], top: int) -> None:
    import collections

    for t in targets:
        if not _staged(t):
            if t in COMMANDS:
                print(f"\n({t}: its shares run in forked children, whose stages are not seen; see dir-1)")
            continue
        _child_run(t, "phases")  # warm-up
        wait_idle()
        data = _child_run(t, "cprofile")
        profiles = data["profiles"]
        print(f"\n## cProfile: {TARGETS[t][0]} (one profiled run; times inflated by the profiler)")
        imports = profiles.pop("(imports)")
        build = [r for r in imports if r[2] == "__new__" and r[0].endswith("pydantic/_internal/_model_construction.py")]
        if build:
            print(f"imports under cProfile: pydantic ModelMetaclass.__new__ (building model classes and their "
                  f"validators) {build[0][3]} classes, {build[0][5] * 1e3:.1f} ms cumulative of "
                  f"{max(r[5] for r in imports) * 1e3:.1f} ms")
        _print_profile(imports, top, "imports (govcloud.cli + what validate imports)")
        merged: dict[tuple, list] = {}
        for rows in profiles.values():
            for f, ln, fn, nc, tt, ct in rows:
                m = merged.setdefault((f, ln, fn), [f, ln, fn, 0, 0.0, 0.0])
                m[3] += nc
                m[4] += tt
                m[5] = max(m[5], ct)
        _print_profile(list(merged.values()), top * 2, "the whole command, all stages")
        own = collections.Counter({name: sum(r[4] for r in rows) for name, rows in profiles.items()})
        for name, _ in own.most_common():
            _print_profile(profiles[name], top, f"stage: {name}")


def bare_parse(files) -> int:
    """The floor: PyYAML's libyaml loader over the same files, reading them included (as bench_pipeline.py)."""
    import yaml

    n = 0
    for f in files:
        n += len(yaml.load(f.read_text(), Loader=yaml.CSafeLoader))
    return n


def ratio_child() -> None:
    """One process of `ratio`, in the checkout to be measured (its cwd): warm, then GOVCLOUD_PROFILE_REPEAT rounds
    of (bare parse, check_paths, cost.estimate), CPU and wall seconds of each, as JSON to GOVCLOUD_PROFILE_OUT."""
    import json
    from pathlib import Path

    sys.path.insert(0, os.getcwd())
    from govcloud.check import Workspace, check_paths
    from govcloud.config import ConfigRepo
    from govcloud.plan.cost import estimate

    repeat = int(os.environ["GOVCLOUD_PROFILE_REPEAT"])
    files = sorted(Path(MANIFEST_DIR).glob("*.yaml"))
    ws = Workspace(ConfigRepo(None))
    check_paths(files[:20], ws)  # warm caches (site files, templates, blueprints) as bench_pipeline.py does
    results, _ = check_paths(files, ws)
    plans = [(r.plan, ws.inventory.site(r.plan.service.site).rate_card) for r in results if r.plan is not None]
    del results
    rows = [lambda: bare_parse(files), lambda: check_paths(files, Workspace(ConfigRepo(None))),
            lambda: [estimate(p, rc) for p, rc in plans]]
    out: list[list[tuple[float, float]]] = [[] for _ in rows]
    for _ in range(repeat):  # round robin, so that each round's ratio compares runs under the same load
        for i, fn in enumerate(rows):
            c, w = time.process_time(), time.perf_counter()
            fn()
            out[i].append((time.process_time() - c, time.perf_counter() - w))
    with open(os.environ["GOVCLOUD_PROFILE_OUT"], "w") as f:
        json.dump(out, f)


RATIO_ROWS = ("bare YAML parse (CSafeLoader)", "check.check_paths (the work of `govcloud validate` in one process: "
              "load, compile, policy pack)", "for reference: cost.estimate of the 1,000 plans (not part of validate)")


def cmd_ratio(runs: int, repeat: int) -> None:
    import json
    import statistics
    import subprocess
    import tempfile

    cpu: dict[str, list[list[float]]] = {label: [[] for _ in RATIO_ROWS] for label, _ in CHECKOUTS}
    wall: dict[str, list[list[float]]] = {label: [[] for _ in RATIO_ROWS] for label, _ in CHECKOUTS}
    env = dict(CHILD_ENV, GOVCLOUD_PROFILE_REPEAT=str(repeat),
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, CHILD_ENV.get("PYTHONPATH")])))
    boot = "import profile_offline; profile_offline.ratio_child()"
    print(f"## in process, warm, 1,000 manifests: {runs} processes per checkout (in turn) of {repeat} rounds each; "
          f"CPU time, median of all rounds (min, max), wall median; the ratio is the median of each round's "
          f"ratio to that round's bare parse; load average at the start {_loads()}")
    for i in range(runs):
        wait_idle()
        for label, root in _checkout_order(i):
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
                out = f.name
            subprocess.run([sys.executable, "-c", boot], env=dict(env, GOVCLOUD_PROFILE_OUT=out), cwd=root,
                           check=True)
            with open(out) as f:
                rounds = json.load(f)
            os.unlink(out)
            for r, samples in enumerate(rounds):
                cpu[label][r] += [c for c, _ in samples]
                wall[label][r] += [w for _, w in samples]
    print("| what | checkout | CPU median | min | max | wall median | vs bare parse (min, max) |"
          "\n|---|---|---|---|---|---|---|")
    for r, what in enumerate(RATIO_ROWS):
        for label, _ in CHECKOUTS:
            c = cpu[label][r]
            ratios = [x / b for x, b in zip(c, cpu[label][0])]
            print(f"| {what} | {label} | {statistics.median(c):.3f} s | {min(c):.3f} | {max(c):.3f} | "
                  f"{statistics.median(wall[label][r]):.3f} s | {statistics.median(ratios):.2f}x "
                  f"({min(ratios):.2f}, {max(ratios):.2f}) |", flush=True)
    print(f"(load average at the end {_loads()})")


def split_child() -> None:
    """One process of `split`: what validate_paths does for the 1,000 with --jobs N, phase by phase (wall and
    CPU of this process), each share's own time measured where it runs, as JSON to GOVCLOUD_PROFILE_OUT."""
    import json

    sys.path.insert(0, os.getcwd())
    t0, c0 = time.perf_counter(), time.process_time()
    import importlib

    from govcloud import check, fanout

    importlib.import_module("govcloud.cli.render")  # what validate imports too

    jobs = int(os.environ["GOVCLOUD_PROFILE_JOBS"])
    marks = {"imports": (time.perf_counter() - t0, time.process_time() - c0)}

    def mark(name, since):
        marks[name] = (time.perf_counter() - since[0], time.process_time() - since[1])
        return time.perf_counter(), time.process_time()

    def timed_share(files):
        w, c = time.perf_counter(), time.process_time()
        answer = batch.check_share(files)
        return answer, len(files), time.perf_counter() - w, time.process_time() - c

    with check.batch_gc():
        at = time.perf_counter(), time.process_time()
        batch = check._Batch([MANIFEST_DIR], None, ())
        at = mark("set-up: config repo, inventory, policy pack, the file list", at)
        split = check.shares(batch.files, batch.rules, jobs, batch.ws)
        at = mark("the split (load.peek of each file's agency)", at)
        answers = fanout.fan_out(timed_share, split)
        at = mark("the shares, all at once (fork, check, pickle, read back)", at)
    from govcloud.policy.evaluate import merge_findings

    merge_findings([a[0].findings for a in answers])
    mark("merging the findings", at)
    shares = [{"files": n, "wall": w, "cpu": c} for _a, n, w, c in answers]
    with open(os.environ["GOVCLOUD_PROFILE_OUT"], "w") as f:
        json.dump({"marks": marks, "shares": shares}, f)


def cmd_split(runs: int, jobs: int) -> None:
    import json
    import statistics
    import subprocess
    import tempfile

    env = dict(CHILD_ENV, GOVCLOUD_PROFILE_JOBS=str(jobs),
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, CHILD_ENV.get("PYTHONPATH")])))
    boot = "import profile_offline; profile_offline.split_child()"
    data = []
    for _ in range(runs + 1):  # the first warms the file cache and the .pyc files
        wait_idle()
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = f.name
        subprocess.run([sys.executable, "-c", boot], env=dict(env, GOVCLOUD_PROFILE_OUT=out), cwd=CHECKOUTS[-1][1],
                       check=True)
        with open(out) as f:
            data.append(json.load(f))
        os.unlink(out)
    data = data[1:]
    print(f"## validate_paths of the 1,000 with --jobs {jobs}, in one process per run (imports as validate's), "
          f"median of {runs} runs (min, max); load average {_loads()}")
    print("| phase | wall median | min | max | CPU median (of the process it runs in) |\n|---|---|---|---|---|")
    for name in data[0]["marks"]:
        w = [d["marks"][name][0] for d in data]
        c = [d["marks"][name][1] for d in data]
        print(f"| {name} | {_md(w)} | {statistics.median(c) * 1e3:.0f} ms |")
    for i, share in enumerate(data[0]["shares"]):
        w = [d["shares"][i]["wall"] for d in data]
        c = [d["shares"][i]["cpu"] for d in data]
        where = "this process" if i == 0 else f"child {i}"
        print(f"| share {i + 1} ({share['files']} manifests, in {where}): its check | {_md(w)} | "
              f"{statistics.median(c) * 1e3:.0f} ms |")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["wall", "phases", "imports", "cprofile", "ratio", "split", "all"])
    ap.add_argument("targets", nargs="*", help="of: " + ", ".join(TARGETS) + " (default: all)")
    ap.add_argument("--runs", type=int, default=7, help="runs per figure (wall, phases, imports)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=2, help="`split` only: the processes of validate --jobs")
    ap.add_argument("--repeat", type=int, default=3, help="rounds in each process of `ratio` (it runs --runs of them)")
    ap.add_argument("--root", default=ROOT, metavar="DIR",
                    help="the checkout whose package is measured (default: the one holding this script)")
    ap.add_argument("--before", default=None, metavar="DIR",
                    help="`wall` and `ratio` only: also measure this checkout (e.g. a `git worktree add` of the "
                         "commit before a change), in turn with --root, the order alternating from round to round")
    ap.add_argument("--idle", type=float, default=0.0, metavar="F",
                    help="before each run (each round of `wall`), wait until the CPUs were at least this idle "
                         "(0-1) over half a second: the dev machine is shared")
    ap.add_argument("--idle-timeout", type=float, default=600.0, metavar="S",
                    help="with --idle, measure anyway after waiting this long (and say how often that happened)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="what the stage timers of `phases` measure: wall time, or the process's CPU time (steadier "
                         "when neighbours compete for the CPUs)")
    ap.add_argument("--no-pyc", action="store_true",
                    help="measure without govcloud's .pyc files: PYTHONDONTWRITEBYTECODE=1 and govcloud/__pycache__ "
                         "moved aside meanwhile, so that every process compiles govcloud's modules from source (as in "
                         "a checkout with that variable set); by default the children write and use .pyc files, as "
                         "an installed govcloud does")
    args = ap.parse_intermixed_args()
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        ap.error(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    root = os.path.abspath(args.root)
    CHECKOUTS[:] = [("before", os.path.abspath(args.before)), ("after", root)] if args.before else [("", root)]
    os.chdir(root)  # children import the package of the checkout they run in, and the examples' paths are relative
    IDLE.update(threshold=args.idle, timeout=args.idle_timeout)
    CHILD_ENV["GOVCLOUD_PROFILE_CLOCK"] = args.clock
    if args.no_pyc:
        CHILD_ENV["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    print(f"python {sys.version.split()[0]} ({sys.executable}), "
          f"package {' and '.join(f'{r}/govcloud' for _, r in CHECKOUTS)}, "
          f"govcloud's .pyc files {'not used: compiled from source' if args.no_pyc else 'used'}, "
          f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ensure_manifests()
    targets = args.targets or list(TARGETS)
    aside = _move_pycache_aside() if args.no_pyc else None
    try:
        _measure(args, targets)
    finally:
        if aside is not None:
            _restore_pycache(*aside)
    if IDLE["threshold"] > 0:
        print(f"\n(--idle {IDLE['threshold']:g}: waited {IDLE['waited']:.0f} s in all for idle CPUs; "
              f"{IDLE['busy_rounds']} runs measured on a busy machine after --idle-timeout; load average now "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})")


def _move_pycache_aside():
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="govcloud-pyc-")
    moved = []
    for dirpath, dirnames, _ in (w for _, root in CHECKOUTS for w in os.walk(os.path.join(root, "govcloud"))):
        if "__pycache__" in dirnames:
            src = os.path.join(dirpath, "__pycache__")
            dst = os.path.join(tmp, str(len(moved)))
            shutil.move(src, dst)
            moved.append((src, dst))
            dirnames.remove("__pycache__")
    return tmp, moved


def _restore_pycache(tmp: str, moved: list) -> None:
    import shutil

    for src, dst in moved:
        if not os.path.exists(src):
            shutil.move(dst, src)
    shutil.rmtree(tmp, ignore_errors=True)


def _measure(args, targets: list[str]) -> None:
    if args.what in ("wall", "all"):
        cmd_wall(targets, args.runs, args.warmup)
    if args.what in ("phases", "all"):
        cmd_phases(targets, args.runs)
    if args.what in ("imports", "all"):
        cmd_imports(targets, max(1, args.runs), args.top)
    if args.what in ("cprofile", "all"):
        cmd_cprofile(targets, args.top)
    if args.what in ("ratio", "all"):
        cmd_ratio(args.runs, args.repeat)
    if args.what in ("split", "all"):
        cmd_split(args.runs, args.jobs)


if __name__ == "__main__":
    main()
