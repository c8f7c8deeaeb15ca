"""Outputs appear whole or not at all, under real faults: a writer killed with SIGKILL at random points, SIGTERM,
a full disk (the file size limit), a path under a file, a read-only directory, two writers racing for one new
output; readers refuse parts of different writes; an output may not be an input; a user's columns are kept."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import box

import stracker
from stracker.cli import cli
from stracker.errors import (
    FileFormatError,
    OutputExistsError,
    OutputIsInputError,
    OutputWriteError,
    RenamedColumnsWarning,
)
from stracker.io import consensus_outputs
from stracker.io.consensus import consensus_run_id
from stracker.io.files import (
    STALE_SECONDS,
    TEMP_MARK,
    atomic_path,
    atomic_paths,
    stale_temporaries,
    sweep_temporaries,
    temporary_name,
)
from stracker.simulation import MANIFEST, SIMULATION_FILES, Simulation

ROOT = Path(__file__).resolve().parents[1]


def _temps(folder: Path) -> list[str]:
    """stracker's temporary files (and GDAL's journals of them) in a folder."""
    return sorted(p.name for p in folder.iterdir() if TEMP_MARK in p.name)


def _one_line(result, *words):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two different campaigns and their consensus, pickled for writer processes."""
    folder = tmp_path_factory.mktemp("runs")
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        sim = stracker.simulate("small", seed=seed)
        consensus = stracker.aggregate(sim.labels, sim.image_dates)
        out[name] = (sim, consensus)
        (folder / f"{name}.pickle").write_bytes(pickle.dumps((sim, consensus)))
    out["folder"] = folder
    return out


# --- a writer process, killed -------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import pickle, sys
    from pathlib import Path
    kind, target, *pickles = sys.argv[1:]
    runs = [pickle.loads(Path(p).read_bytes()) for p in pickles]
    n = 0
    while True:
        sim, consensus = runs[n % len(runs)]
        if kind == "simulation":
            sim.save(target, overwrite=True)
        else:
            consensus.to_file(target, sim.buildings, overwrite=True)
        n += 1
        print(n, flush=True)
""")


def _writer(kind: str, target: Path, runs) -> subprocess.Popen:
    folder = runs["folder"]
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, kind, str(target), str(folder / "a.pickle"), str(folder / "b.pickle")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _started(process: subprocess.Popen) -> None:
    """Wait until the writer has finished one whole write (the output exists, old and whole)."""
    line = process.stdout.readline()
    assert line.strip() == "1", process.stderr.read()


def _which(target: Path, runs, kind: str) -> str:
    """'a' or 'b': whose whole result the output is; 'refused' if readers refuse it as a mix."""
    try:
        if kind == "simulation":
            posterior_like = Simulation.load(target).labels
            got = {name: runs[name][0].labels.equals(posterior_like) for name in ("a", "b")}
        else:
            read = stracker.read_consensus(target)
            got = {name: np.array_equal(read.posterior, runs[name][1].posterior) for name in ("a", "b")}
    except FileFormatError as exc:
        assert "do not belong together" in str(exc) or "different writes" in str(exc), exc
        return "refused"
    assert sum(got.values()) == 1, got
    return next(name for name, same in got.items() if same)


def _when_writing(folder: Path, process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Return as soon as the writer has a temporary file in the folder (or after the timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if _temps(folder):
            return


@pytest.mark.parametrize(
    "kind,name", [("consensus", "consensus.parquet"), ("consensus", "consensus.gpkg"), ("simulation", "sim")]
)
def test_sigkill_at_random_points_leaves_the_old_or_the_new_whole(runs, tmp_path, kind, name):
    """SIGKILL a process that rewrites an output in a loop, at random moments: the output reads back as one
    whole result, A's or B's; a kill between the renames of a multi-file result leaves a mix that readers refuse.
    Its temporary files stay behind (nothing can run on SIGKILL) and the next write sweeps them away."""
    rng = np.random.default_rng(17)
    target = tmp_path / name
    folder = target if kind == "simulation" else tmp_path
    outcomes, leftovers = [], 0
    # Five kills at random moments, then (a fast write may spend most of its time outside its temporary
    # files) kills aimed at a moment a temporary file is seen, until one has landed mid-write.
    for attempt in range(15):
        if attempt >= 5 and leftovers:
            break
        process = _writer(kind, target, runs)
        _started(process)
        if attempt < 5:
            time.sleep(rng.uniform(0.0, 0.6))
        else:
            _when_writing(folder, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        outcomes.append(_which(target, runs, kind))
        leftovers += bool(_temps(folder))
    assert set(outcomes) <= {"a", "b", "refused"}
    assert {"a", "b"} & set(outcomes)
    assert leftovers, "no kill landed during a write: the test did not test anything"
    # the next write (of another process: the killed ones are gone) sweeps the stale temporary files
    left = _temps(folder)
    sim, consensus = runs["a"]
    if kind == "simulation":
        sim.save(target, overwrite=True)
    else:
        consensus.to_file(target, sim.buildings, overwrite=True)
    assert _temps(folder) == []
    assert _which(target, runs, kind) == "a"
    if left:
        assert all(not (folder / name).exists() for name in left)


@pytest.mark.parametrize("kind,name", [("consensus", "consensus.parquet"), ("simulation", "sim")])
def test_sigterm_removes_temporary_files_and_never_leaves_a_mix(runs, tmp_path, kind, name):
    """SIGTERM during a write: the process dies of it, its temporary files are gone, and the output is one whole
    result (SIGTERM is held back while the parts are renamed into place)."""
    rng = np.random.default_rng(5)
    target = tmp_path / name
    folder = target if kind == "simulation" else tmp_path
    for _ in range(4):
        process = _writer(kind, target, runs)
        _started(process)
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGTERM, process.stderr.read()
        assert _temps(folder) == []
        assert _which(target, runs, kind) in ("a", "b")


# --- readers refuse a mix -------------------------------------------------------------------------------------


def test_consensus_parts_share_one_run_id_and_the_same_write_gives_the_same_bytes(runs, tmp_path):
    sim, consensus = runs["a"]
    first, second = tmp_path / "one" / "c.parquet", tmp_path / "two" / "c.parquet"
    consensus.to_file(first, sim.buildings)
    consensus.to_file(second, sim.buildings)
    import pyarrow.parquet as pq

    ids = {json.loads(pq.read_schema(p).metadata[b"stracker_run"])["run_id"] for p in consensus_outputs(first)}
    assert len(ids) == 1 and consensus_run_id(first) == ids.pop()
    # the run id is a digest of what is written, not a random number: files stay reproducible
    for a, b in zip(consensus_outputs(first), consensus_outputs(second), strict=True):
        assert a.read_bytes() == b.read_bytes()
    other = tmp_path / "other.parquet"
    runs["b"][1].to_file(other, runs["b"][0].buildings)
    assert consensus_run_id(other) != consensus_run_id(first)
    gpkg = tmp_path / "c.gpkg"
    consensus.to_file(gpkg, sim.buildings)
    assert consensus_run_id(gpkg) == consensus_run_id(first)  # same content, same id, whatever the format


@pytest.mark.parametrize("part", ["volunteers", "images", "states"])
def test_readers_refuse_a_consensus_of_parts_of_two_writes(runs, tmp_path, part):
    """One part of another run beside the others: read_consensus, `stracker info` and `stracker evaluate` refuse,
    naming the files of each run and the fix."""
    (sim_a, a), (sim_b, b) = runs["a"], runs["b"]
    mixed, other = tmp_path / "consensus.parquet", tmp_path / "other" / "consensus.parquet"
    a.to_file(mixed, sim_a.buildings)
    b.to_file(other, sim_b.buildings)
    shutil.copy(other.with_name(f"consensus.{part}.parquet"), mixed.with_name(f"consensus.{part}.parquet"))
    with pytest.raises(FileFormatError, match="different writes") as info:
        stracker.read_consensus(mixed)
    assert f"consensus.{part}.parquet" in str(info.value) and "--overwrite" in str(info.value)
    truth = tmp_path / "truth.gpkg"
    sim_a.buildings.to_file(truth)
    for args in (["info", str(mixed)], ["evaluate", str(mixed), str(truth)]):
        _one_line(CliRunner().invoke(cli, args), "different writes", f"consensus.{part}.parquet")


def test_readers_refuse_a_consensus_missing_a_part_or_of_an_unstamped_part(runs, tmp_path):
    sim, consensus = runs["a"]
    path = tmp_path / "consensus.parquet"
    consensus.to_file(path, sim.buildings)
    states = path.with_name("consensus.states.parquet")
    # a part written without the stamp (by hand, or an older stracker) beside stamped ones
    pd.read_parquet(states).to_parquet(states, index=False)
    with pytest.raises(FileFormatError, match="no run id"):
        stracker.read_consensus(path)
    states.unlink()
    with pytest.raises(FileFormatError, match="missing"):
        stracker.read_consensus(path)
    # info sees a stamped main part and says what is missing, rather than calling it a footprint table
    _one_line(CliRunner().invoke(cli, ["info", str(path)]), "missing", "consensus.states.parquet")


def test_simulation_folder_of_two_writes_is_refused_by_load_and_info(runs, tmp_path):
    (sim_a, _), (sim_b, _) = runs["a"], runs["b"]
    folder, other = tmp_path / "a", tmp_path / "b"
    sim_a.save(folder)
    sim_b.save(other)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(SIMULATION_FILES[:-1])
    shutil.copy(other / "labels.parquet", folder / "labels.parquet")
    with pytest.raises(FileFormatError, match=r"do not belong together.*labels\.parquet"):
        Simulation.load(folder)
    _one_line(CliRunner().invoke(cli, ["info", str(folder)]), "do not belong together", "labels.parquet")
    _one_line(CliRunner().invoke(cli, ["report", str(folder)]), "do not belong together")


def test_simulation_folder_without_a_manifest_reads_with_a_warning(runs, tmp_path):
    sim, _ = runs["a"]
    sim.save(tmp_path)
    (tmp_path / MANIFEST).unlink()
    with pytest.warns(stracker.errors.StrackerWarning, match="cannot be checked"):
        again = Simulation.load(tmp_path)
    assert again.labels.equals(sim.labels)


def test_simulate_writes_its_consensus_with_the_simulation_and_overwrite_drops_the_old_run(tmp_path):
    out = tmp_path / "run"
    first = CliRunner().invoke(cli, ["simulate", "--preset", "small", "--seed", "1", "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert {"consensus.gpkg", "consensus_volunteers.parquet", "evaluation.csv"} <= set(listed)
    scored = CliRunner().invoke(cli, ["evaluate", str(out / "consensus.gpkg"), str(out / "buildings.gpkg")])
    assert scored.exit_code == 0, scored.output
    # a consensus or a truth of another run, dropped into the folder, is not scored as this folder's
    other = tmp_path / "other"
    assert CliRunner().invoke(cli, ["simulate", "--preset", "small", "--seed", "3", "--out", str(other)]).exit_code == 0
    for name in ("consensus.gpkg", "buildings.gpkg"):
        mixed = tmp_path / f"mixed-{name}"
        shutil.copytree(out, mixed)
        shutil.copy(other / name, mixed / name)
        _one_line(
            CliRunner().invoke(cli, ["evaluate", str(mixed / "consensus.gpkg"), str(mixed / "buildings.gpkg")]),
            "not the file written with the rest",
            name,
        )
    # a run without the consensus over it: the old consensus is not left beside the new simulation
    again = CliRunner().invoke(
        cli, ["simulate", "--preset", "small", "--seed", "2", "--no-aggregate", "--out", str(out), "--overwrite"]
    )
    assert again.exit_code == 0, again.output
    assert not (out / "consensus.gpkg").exists() and not (out / "evaluation.csv").exists()
    assert Simulation.load(out).scenario.seed == 2


# --- stale temporary files --------------------------------------------------------------------------------------


def test_only_stale_temporary_files_are_swept(tmp_path):
    target = tmp_path / "consensus.gpkg"
    mine = temporary_name(target)

    def named(pid: int) -> Path:
        return mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{pid}-"))

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_pid = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dead, live = named(int(dead_pid)), named(alive.pid)
        old = live.with_name(live.name[:-13] + "deadbeef.gpkg")  # of a live pid, but untouched for long
        journal = dead.with_name(dead.name + "-journal")
        other_target = temporary_name(tmp_path / "other.gpkg")
        other_target = other_target.with_name(other_target.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
        for path in (dead, journal, live, old, other_target):
            path.write_bytes(b"half")
        long_ago = time.time() - STALE_SECONDS - 60
        os.utime(old, (long_ago, long_ago))
        legacy = tmp_path / ".consensus.0123abcd.tmp.gpkg"  # the temporary names before this version
        legacy.write_bytes(b"half")
        os.utime(legacy, (long_ago, long_ago))
        stale = stale_temporaries(target)
        assert stale == sorted([dead, journal, old, legacy])
        with atomic_path(target) as tmp:
            assert tmp not in stale_temporaries(target)  # a write under way is never stale
            tmp.write_bytes(b"new")
        remaining = sorted(p.name for p in tmp_path.iterdir())
        assert remaining == sorted(["consensus.gpkg", live.name, other_target.name])
        assert sweep_temporaries(target) == []
    finally:
        alive.kill()
        alive.wait()


# --- two writers, one new output ---------------------------------------------------------------------------------

RACER = textwrap.dedent("""
    import pickle, sys, time
    from pathlib import Path
    import stracker
    target, data, start = sys.argv[1:]
    sim, consensus = pickle.loads(Path(data).read_bytes())
    while time.time() < float(start):
        time.sleep(0.001)
    def slow(path):  # a big extra output (a long .rejected.csv, say): both writers are past every early check
        time.sleep(1.0)
        path.write_text("rejected answers")

    try:
        consensus.to_file(target, sim.buildings, extra={Path(target).with_name("rejected.csv"): slow})
    except stracker.OutputExistsError as exc:
        print("lost", exc, flush=True)
        sys.exit(3)
    print("won", flush=True)
""")


@pytest.mark.parametrize("name", ["consensus.parquet", "consensus.gpkg"])
def test_two_writers_racing_for_one_new_output_exactly_one_wins(runs, tmp_path, name):
    """Both pass the existence check before either renames (they start together and a write takes a while);
    the rename refuses a name that appeared meanwhile, so one wins whole and the other says the output exists."""
    folder = runs["folder"]
    at_rename = 0
    for round_ in range(2):
        target = tmp_path / str(round_) / name
        target.parent.mkdir()
        start = time.time() + 3.0  # both imported and waiting by then
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(target), str(folder / f"{who}.pickle"), str(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for who in ("a", "b")
        ]
        results = [(r.wait(timeout=120), r.stdout.read(), r.stderr.read()) for r in racers]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 3], results
        loser = next(out for code, out, _ in results if code == 3)
        assert "exists" in loser
        at_rename += "meanwhile" in loser  # refused by the rename itself, after both passed the early check
        winner = "ab"[[code for code, _, _ in results].index(0)]
        assert _which(target, runs, "consensus") == winner
        assert _temps(target.parent) == []
    assert at_rename, "the loser never got past the early existence check: no race was run"


def test_an_output_that_appears_during_the_write_is_not_replaced(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    with pytest.raises(OutputExistsError, match="meanwhile"):
        with atomic_paths([first, second], overwrite=False) as (tmp_a, tmp_b):
            tmp_a.write_text("mine a")
            tmp_b.write_text("mine b")
            second.write_text("theirs")  # another process claims the second name
    assert second.read_text() == "theirs"
    assert not first.exists()  # none of this write's outputs is left in place
    assert _temps(tmp_path) == []


# --- unwritable outputs ----------------------------------------------------------------------------------------

LIMITED = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
    from stracker.cli.main import main
    sys.argv = ["stracker", *sys.argv[2:]]
    main()
""")


@pytest.fixture(scope="module")
def inputs(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    sim, _ = runs["a"]
    sim.labels.drop(columns="frames_viewed").to_parquet(folder / "answers.parquet", index=False)
    sim.buildings.to_file(folder / "buildings.gpkg")
    return folder


@pytest.mark.parametrize("name", ["consensus.gpkg", "consensus.parquet"])
def test_a_full_disk_ends_in_one_line_naming_the_file_and_keeps_the_old_output(runs, inputs, tmp_path, name):
    """The real thing: the process's file size limit (``ulimit -f``) makes writes fail with EFBIG."""
    sim, consensus = runs["b"]
    target = tmp_path / name
    consensus.to_file(target, sim.buildings)
    before = {p: p.read_bytes() for p in consensus_outputs(target)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            LIMITED,
            "20000",
            "aggregate",
            str(inputs / "answers.parquet"),
            "--footprints",
            str(inputs / "buildings.gpkg"),
            "--out",
            str(target),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(target) in lines[0] and "File too large" in lines[0] and "errno 27" in lines[0], lines[0]
    assert {p: p.read_bytes() for p in consensus_outputs(target)} == before
    assert _temps(tmp_path) == []


def test_a_full_disk_in_the_library_is_an_oserror_naming_the_output(runs, tmp_path, monkeypatch):
    """ENOSPC at the OS layer (os.write of every file Python writes): an OutputWriteError, an OSError with the
    system's code, the old file kept."""
    sim, consensus = runs["a"]
    target = tmp_path / "evaluation.csv"
    target.write_text("old\n")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    table = stracker.evaluate(consensus, sim.truth)
    with pytest.raises(OutputWriteError) as info:
        with atomic_path(target) as tmp:
            monkeypatch.setattr(pd.DataFrame, "to_csv", no_space)
            table.to_csv(tmp)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert str(target) in str(info.value) and "No space left" in str(info.value)
    assert target.read_text() == "old\n" and _temps(tmp_path) == []


@pytest.mark.parametrize("name", ["consensus.gpkg", "consensus.parquet"])
def test_an_output_under_a_file_ends_in_one_line(inputs, tmp_path, name):
    """Works as root too (root ignores permissions, not file types)."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file")
    for out in (blocker / name, blocker / "deeper" / name):
        line = _one_line(
            CliRunner().invoke(
                cli,
                [
                    "aggregate",
                    str(inputs / "answers.parquet"),
                    "--footprints",
                    str(inputs / "buildings.gpkg"),
                    "--out",
                    str(out),
                ],
            ),
            str(out),
            "is a file, not a directory",
        )
        assert str(blocker) in line
    assert blocker.read_text() == "a file"
    with pytest.raises(OutputWriteError, match="is a file, not a directory") as info:
        stracker.simulate("small").save(blocker / "sim")
    assert info.value.errno == errno.ENOTDIR


def _unprivileged() -> list[str]:
    """A command prefix under which permissions hold: none for a user; for root, setpriv without the
    capabilities that let root write anywhere (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, which ignores permissions, and setpriv (util-linux) is not installed")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("name", ["consensus.gpkg", "consensus.parquet"])
def test_a_read_only_directory_ends_in_one_line_and_keeps_the_old_output(runs, inputs, tmp_path, name):
    sim, consensus = runs["b"]
    folder = tmp_path / "ro"
    target = folder / name
    consensus.to_file(target, sim.buildings)
    before = {p: p.read_bytes() for p in consensus_outputs(target)}
    folder.chmod(0o555)
    try:
        for args in (
            [
                "aggregate",
                str(inputs / "answers.parquet"),
                "--footprints",
                str(inputs / "buildings.gpkg"),
                "--out",
                str(target),
                "--overwrite",
            ],
            ["evaluate", str(target), str(inputs / "buildings.gpkg"), "--out", str(folder / "m.csv")],
            ["-q", "simulate", "--preset", "small", "--no-aggregate", "--out", str(folder / "sim")],
        ):
            done = subprocess.run(
                [*_unprivileged(), sys.executable, "-m", "stracker.cli", *args],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                timeout=300,
            )
            assert done.returncode == 1, done.stderr
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
            assert "Permission denied" in lines[0] and "errno 13" in lines[0], lines[0]
            assert str(folder) in lines[0]
    finally:
        folder.chmod(0o755)
    assert {p: p.read_bytes() for p in consensus_outputs(target)} == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in before)


# --- an output may not be an input --------------------------------------------------------------------------------


def test_overwrite_refuses_an_output_that_is_an_input(runs, inputs, tmp_path):
    answers = tmp_path / "answers.parquet"
    shutil.copy(inputs / "answers.parquet", answers)
    footprints = tmp_path / "buildings.gpkg"
    shutil.copy(inputs / "buildings.gpkg", footprints)
    before = answers.read_bytes(), footprints.read_bytes()
    link = tmp_path / "link.gpkg"
    link.symlink_to(footprints)
    for out, role in (
        (answers, "LABELS"),
        (footprints, "--footprints"),
        (tmp_path / "x" / ".." / "buildings.gpkg", "--footprints"),
        (link, "--footprints"),
    ):
        _one_line(
            CliRunner().invoke(
                cli, ["aggregate", str(answers), "--footprints", str(footprints), "--out", str(out), "--overwrite"]
            ),
            "is also the",
            role,
            "another --out",
        )
    assert (answers.read_bytes(), footprints.read_bytes()) == before
    sim, consensus = runs["a"]
    consensus_path = tmp_path / "c.parquet"
    consensus.to_file(consensus_path, sim.buildings)
    for out in (footprints, consensus_path, tmp_path / "c.states.parquet"):
        _one_line(
            CliRunner().invoke(
                cli, ["evaluate", str(consensus_path), str(footprints), "--out", str(out), "--overwrite"]
            ),
            "is also the",
        )
    assert issubclass(OutputIsInputError, ValueError)


# --- a user's columns; --on-unknown report; --id-column --------------------------------------------------------------


def test_footprint_columns_named_like_consensus_columns_are_kept_with_a_prefix(runs, tmp_path):
    sim, consensus = runs["a"]
    footprints = sim.buildings.copy()
    footprints["confidence"] = np.arange(len(footprints)) / 10  # e.g. Microsoft's building footprints
    footprints["p_destroyed"] = "user's"
    footprints["footprint_p_destroyed"] = 7  # the first new name is taken too
    with pytest.warns(RenamedColumnsWarning, match="'confidence' -> 'footprint_confidence'"):
        layer = consensus.to_file(tmp_path / "c.gpkg", footprints)
    assert layer.attrs["renamed_columns"] == {
        "confidence": "footprint_confidence",
        "p_destroyed": "footprint_p_destroyed_2",
    }
    written = gpd.read_file(tmp_path / "c.gpkg", layer="buildings", engine="pyogrio")
    np.testing.assert_allclose(written["footprint_confidence"], np.arange(len(footprints)) / 10)
    assert (written["footprint_p_destroyed_2"] == "user's").all() and (written["footprint_p_destroyed"] == 7).all()
    joined = consensus.buildings.reindex(written["building_id"])
    np.testing.assert_allclose(written["confidence"], joined["confidence"].fillna(np.nan), equal_nan=True)
    assert "confidence" in footprints.columns  # the caller's frame is not changed
    again = stracker.read_consensus(tmp_path / "c.gpkg")
    np.testing.assert_array_equal(again.posterior, consensus.posterior)


def test_footprint_column_renames_reach_the_command_line_as_a_warning(runs, inputs, tmp_path):
    sim, _ = runs["a"]
    footprints = sim.buildings.copy()
    footprints["n_labels"] = 99
    footprints.to_file(tmp_path / "fp.gpkg")
    result = CliRunner().invoke(
        cli,
        [
            "aggregate",
            str(inputs / "answers.parquet"),
            "--footprints",
            str(tmp_path / "fp.gpkg"),
            "--out",
            str(tmp_path / "c.gpkg"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "footprint_n_labels" in result.output
    written = gpd.read_file(tmp_path / "c.gpkg", layer="buildings", engine="pyogrio")
    assert (written["footprint_n_labels"] == 99).all()


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet"])
def test_on_unknown_report_writes_a_consensus_that_reads_back(runs, inputs, tmp_path, suffix):
    sim, _ = runs["a"]
    kept = sim.buildings.iloc[50:]  # the first 50 buildings have answers but no footprint
    kept.to_file(tmp_path / "some.gpkg")
    out = tmp_path / f"consensus{suffix}"
    result = CliRunner().invoke(
        cli,
        [
            "aggregate",
            str(inputs / "answers.parquet"),
            "--footprints",
            str(tmp_path / "some.gpkg"),
            "--on-unknown",
            "report",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(summary["unmatched_buildings"]) == 50
    read = stracker.read_consensus(out)
    assert set(read.buildings.index) == set(kept["building_id"]) & set(sim.labels["building_id"])
    assert read.posterior.shape == (len(read.buildings), len(read.image_dates) + 1)
    truth = tmp_path / "truth.gpkg"
    sim.buildings.to_file(truth)
    assert CliRunner().invoke(cli, ["info", str(out)]).exit_code == 0
    evaluated = CliRunner().invoke(cli, ["evaluate", str(out), str(truth), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    rejected = pd.read_csv(out.with_name("consensus.rejected.csv"))
    assert set(rejected["building_id"]) == set(sim.buildings["building_id"].iloc[:50])


def test_a_consensus_keyed_by_another_id_column_reads_back(runs, tmp_path):
    sim, consensus = runs["a"]
    footprints = sim.buildings.rename(columns={"building_id": "osm_id"})
    consensus.to_file(tmp_path / "c.gpkg", footprints, on="osm_id")
    again = stracker.read_consensus(tmp_path / "c.gpkg")
    np.testing.assert_array_equal(again.posterior, consensus.posterior)
    assert again.buildings.index.name == "building_id"


def test_library_writes_refuse_a_path_under_a_file(tmp_path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    labels = pd.DataFrame(
        {
            "building_id": [1],
            "volunteer_id": [1],
            "before": pd.NaT,
            "after": pd.to_datetime(["2017-06-10"]),
            "destroyed": [True],
            "task": "compare",
        }
    )
    consensus = stracker.aggregate(labels, method="majority")
    footprints = gpd.GeoDataFrame({"building_id": [1]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:32637")
    for name in ("c.gpkg", "c.parquet"):
        with pytest.raises(OutputWriteError, match="is a file, not a directory"):
            consensus.to_file(blocker / name, footprints)


@pytest.mark.parametrize("name", ["c.gpkg", "c.parquet"])
def test_extra_outputs_land_with_the_consensus_or_not_at_all(runs, tmp_path, name):
    """`stracker aggregate --on-unknown report` writes its .rejected.csv this way: a failure writing it leaves no
    consensus either; success places both."""
    sim, consensus = runs["a"]
    target, rejected = tmp_path / name, tmp_path / "c.rejected.csv"

    def broken(path: Path) -> None:
        path.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputWriteError, match="No space left"):
        consensus.to_file(target, sim.buildings, extra={rejected: broken})
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    consensus.to_file(target, sim.buildings, extra={rejected: lambda path: path.write_text("row\n")})
    assert rejected.read_text() == "row\n" and stracker.read_consensus(target).method == "em"


def test_import_refuses_an_output_that_is_an_input_and_writes_both_files_together(tmp_path):
    fixtures = ROOT / "tests" / "data" / "platforms"
    export = tmp_path / "pybossa_task_run.csv"
    shutil.copy(fixtures / "pybossa_task_run.csv", export)
    before = export.read_bytes()
    base = ["import", "pybossa", str(export), "--building", "task_id", "--before", ""]
    for args in (
        ["--out", str(tmp_path / "answers.csv"), "--rejected", str(export)],
        ["--out", str(tmp_path / "x" / ".." / "pybossa_task_run.csv")],
    ):
        _one_line(CliRunner().invoke(cli, [*base, *args, "--overwrite"]), "is also the", "export")
    assert export.read_bytes() == before
    done = CliRunner().invoke(
        cli, [*base, "--out", str(tmp_path / "answers.parquet"), "--rejected", str(tmp_path / "rejected.csv")]
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "answers.parquet").is_file() and (tmp_path / "rejected.csv").is_file()
    assert _temps(tmp_path) == []


def test_atomic_directory_replaces_whole_and_keeps_a_moved_aside_copy_while_it_is_the_only_one(tmp_path):
    from stracker.io.files import atomic_directory

    target = tmp_path / "chips"
    target.mkdir()
    (target / "old.png").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "new.png").write_text("half")
            raise RuntimeError("stopped halfway")
    assert sorted(p.name for p in target.iterdir()) == ["old.png"] and _temps(tmp_path) == []
    with atomic_directory(target) as tmp:
        (tmp / "new.png").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.png"] and _temps(tmp_path) == []
    # a kill -9 between the two renames: no target, the old copy moved aside by a process that is gone
    aside = temporary_name(target)
    aside = aside.with_name(aside.name.replace(TEMP_MARK, ".stracker-old-").replace(f"-{os.getpid()}-", "-999999999-"))
    target.rename(aside)
    assert stale_temporaries(target) == []  # the only copy: kept
    target.mkdir()
    assert stale_temporaries(target) == [aside]  # a target is back: the copy aside is stale
