"""Tests of stracker.simulation: the label contract, raqqa scale, determinism, and the files of a simulation."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

import stracker
from stracker.labels import LABEL_COLUMNS
from stracker.scenario import Scenario
from stracker.simulation import SIMULATION_FILES, Simulation, simulate

TASKS = ("timeline", "compare")
DATA_FILES = tuple(name for name in SIMULATION_FILES if name != "buildings.gpkg")


def _small(task: str, seed: int = 0) -> Scenario:
    return Scenario.preset("small", seed=seed).replace(tasks={"task": task})


@pytest.fixture(scope="module", params=TASKS)
def sim(request, simulated) -> Simulation:
    return simulated(_small(request.param))


def _assert_same(a: Simulation, b: Simulation) -> None:
    """Two simulations hold identical data, dtypes and column order included."""
    assert a.scenario == b.scenario
    assert list(a.buildings.columns) == list(b.buildings.columns)
    assert a.buildings.equals(b.buildings)
    assert_geodataframe_equal(a.buildings, b.buildings)
    assert (shapely.to_wkb(a.buildings.geometry.values) == shapely.to_wkb(b.buildings.geometry.values)).all()
    assert a.buildings.crs == b.buildings.crs
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert a.labels.equals(b.labels)
    pd.testing.assert_frame_equal(a.images, b.images)
    pd.testing.assert_frame_equal(a.volunteers, b.volunteers)
    assert a.volunteers.equals(b.volunteers)
    assert a.visibility.dtype == b.visibility.dtype
    assert np.array_equal(a.visibility, b.visibility)


# --- the label contract -----------------------------------------------------------------------------------


def test_labels_encode_without_warnings(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = stracker.encode_labels(sim.labels, sim.image_dates, on_duplicate="warn")
    assert enc.n_answers == len(sim.labels)
    assert enc.n_images == len(sim.images)
    assert enc.n_buildings == len(sim.buildings)
    assert (enc.lo < enc.hi).all()


def test_labels_columns_and_dtypes(sim):
    labels = sim.labels
    assert list(labels.columns) == [*LABEL_COLUMNS, "frames_viewed"]
    assert labels["before"].dtype == np.dtype("datetime64[ns]")
    assert labels["after"].dtype == np.dtype("datetime64[ns]")
    assert labels["destroyed"].dtype == pd.BooleanDtype()
    assert pd.api.types.is_integer_dtype(labels["building_id"])
    assert pd.api.types.is_integer_dtype(labels["volunteer_id"])
    assert pd.api.types.is_integer_dtype(labels["frames_viewed"])
    assert set(labels["task"].astype(str)) == {sim.scenario.tasks.task}
    assert labels["after"].notna().all()


def test_labels_dates_are_catalogue_dates(sim):
    labels = sim.labels
    catalogue = set(sim.image_dates)
    assert set(labels["after"]) <= catalogue
    assert set(labels["before"].dropna()) <= catalogue
    has_before = labels["before"].notna()
    assert (labels.loc[has_before, "before"] < labels.loc[has_before, "after"]).all()
    assert has_before.any() and (~has_before).any()


def test_labels_ids_are_known(sim):
    assert set(sim.labels["building_id"]) == set(sim.buildings["building_id"])
    assert set(sim.labels["volunteer_id"]) == set(sim.volunteers.index)


def test_frames_viewed(sim):
    labels = sim.labels
    frames = labels["frames_viewed"].to_numpy()
    D = len(sim.images)
    if sim.scenario.tasks.task == "compare":
        assert np.array_equal(frames, np.where(labels["before"].isna(), 1, 2))
        assert not labels["destroyed"].isna().all()
    else:
        assert ((frames >= 1) & (frames <= D)).all()
        hi = sim.image_dates.get_indexer(labels["after"])
        marked = labels["destroyed"].fillna(False).to_numpy(dtype=bool)
        assert marked.any() and (~marked).any()
        assert np.array_equal(frames[marked], hi[marked] + 1)
        assert (frames[~marked] == D).all()
        # "no destruction" answers carry destroyed=False (or NA when nothing was visible)
        assert not labels.loc[~marked, "destroyed"].fillna(False).any()


def test_answers_mostly_right(sim):
    """A sanity check that answers carry signal about the truth: "destroyed by `after`?" is mostly right."""
    enc = stracker.encode_labels(sim.labels, sim.image_dates)
    k = sim.true_states()[pd.Index(sim.buildings["building_id"]).get_indexer(sim.labels["building_id"])]
    answered = enc.answer >= 0
    if sim.scenario.tasks.task == "compare":
        truth = (enc.lo < k) & (k <= enc.hi)  # destroyed between the two images
    else:
        truth = k <= enc.hi  # a mark claims destroyed by `after`; "no destruction" claims intact up to it
    agree = (enc.answer[answered] == 1) == truth[answered]
    assert agree.mean() > 0.75, agree.mean()


def test_truth_and_states(sim):
    truth = sim.truth
    assert truth.index.name == "building_id"
    assert truth.dtype == np.dtype("datetime64[ns]")
    states = sim.true_states()
    assert states.min() >= 0 and states.max() <= len(sim.images)
    prior = sim.true_prior()
    assert prior.shape == (len(sim.images) + 1,)
    assert prior.sum() == pytest.approx(1.0)
    assert prior[-1] == pytest.approx(1 - sim.scenario.offensive.destroyed_fraction, abs=0.01)


def test_summary_and_repr(sim):
    s = sim.summary()
    assert s["buildings"] == len(sim.buildings)
    assert s["answers"] == len(sim.labels)
    assert s["frames_viewed"] == int(sim.labels["frames_viewed"].sum())
    assert s["task"] == sim.scenario.tasks.task
    assert "Simulation small" in repr(sim)


# --- the raqqa preset -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_raqqa_scale(raqqa):
    s = raqqa.summary()
    assert s["buildings"] == raqqa.scenario.city.n_buildings
    assert 10_500 <= s["buildings"] <= 12_000
    assert 3_000 <= s["volunteers"] <= 3_300
    assert s["countries"] == 124
    answering = raqqa.labels["volunteer_id"].unique()
    assert raqqa.volunteers.loc[answering, "country"].nunique() == 124
    assert abs(s["frames_viewed"] - 2_000_000) <= 0.15 * 2_000_000, s["frames_viewed"]
    assert s["destroyed"] / s["buildings"] == pytest.approx(0.8, abs=0.02)
    assert (raqqa.true_states() == 0).sum() > 0  # destroyed before the first image
    assert 20 <= s["images"] < 100
    assert raqqa.buildings.crs.to_epsg() == 32637
    assert set(raqqa.timings) == {"footprints", "destruction", "catalogue", "visibility", "volunteers", "answers"}


@pytest.mark.slow
def test_raqqa_labels_contract(raqqa):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stracker.encode_labels(raqqa.labels, raqqa.image_dates)
    frames = raqqa.labels["frames_viewed"]
    assert frames.between(1, len(raqqa.images)).all()


# --- determinism ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_identical(task):
    _assert_same(simulate(_small(task, seed=4)), simulate(_small(task, seed=4)))


def test_seed_argument_and_preset_name():
    a = simulate("small", seed=4)
    assert a.scenario == Scenario.preset("small", seed=4)
    b = simulate(Scenario.preset("small", seed=9), seed=4)
    _assert_same(a, b)


@pytest.mark.parametrize("task", TASKS)
def test_different_seed_differs(task):
    a, b = simulate(_small(task, seed=4)), simulate(_small(task, seed=5))
    assert not a.labels.equals(b.labels)
    assert not a.images["image_date"].equals(b.images["image_date"])
    assert not a.volunteers["activity"].equals(b.volunteers["activity"])
    assert not a.buildings["destroyed_on"].equals(b.buildings["destroyed_on"])
    assert not (shapely.to_wkb(a.buildings.geometry.values) == shapely.to_wkb(b.buildings.geometry.values)).all()
    assert not np.array_equal(a.visibility, b.visibility)


def test_stages_have_independent_streams():
    """Changing the task or the crowd's skills does not reshuffle the world or the volunteers' draw."""
    base = simulate(_small("timeline", seed=2))
    other = simulate(_small("compare", seed=2).replace(crowd={"p_late_mean": 0.3}))
    assert base.buildings.equals(other.buildings)
    pd.testing.assert_frame_equal(base.images, other.images)
    assert np.array_equal(base.visibility, other.visibility)
    pd.testing.assert_series_equal(base.volunteers["activity"], other.volunteers["activity"])
    pd.testing.assert_series_equal(base.volunteers["country"], other.volunteers["country"])


def test_progress_reports_every_stage():
    seen = []
    simulate("small", progress=lambda stage, seconds: seen.append((stage, seconds)))
    assert [stage for stage, _ in seen] == [
        "footprints",
        "destruction",
        "catalogue",
        "visibility",
        "volunteers",
        "answers",
    ]
    assert all(seconds >= 0 for _, seconds in seen)


# --- files ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_twice(tmp_path_factory) -> tuple[Path, Path]:
    """The same seed simulated and saved twice, into two directories."""
    a, b = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    simulate(_small("compare", seed=1)).save(a)
    time.sleep(0.02)  # the GeoPackage timestamp has millisecond resolution; make sure it would differ
    simulate(_small("compare", seed=1)).save(b)
    return a, b


@pytest.mark.parametrize("name", DATA_FILES)
def test_saved_files_byte_identical(saved_twice, name):
    a, b = saved_twice
    assert (a / name).read_bytes() == (b / name).read_bytes()


def test_saved_geopackage_layers_identical(saved_twice):
    a, b = saved_twice
    la = pyogrio.read_dataframe(a / "buildings.gpkg", layer="buildings")
    lb = pyogrio.read_dataframe(b / "buildings.gpkg", layer="buildings")
    assert_geodataframe_equal(la, lb)
    assert (shapely.to_wkb(la.geometry.values) == shapely.to_wkb(lb.geometry.values)).all()
    assert pyogrio.list_layers(a / "buildings.gpkg").tolist() == pyogrio.list_layers(b / "buildings.gpkg").tolist()


def test_saved_geopackage_byte_identical(saved_twice):
    """GDAL stamps a GeoPackage with the time of writing unless OGR_CURRENT_DATE fixes it; save must fix it."""
    a, b = saved_twice
    assert (a / "buildings.gpkg").read_bytes() == (b / "buildings.gpkg").read_bytes()


def test_save_restores_gdal_config(tmp_path, small):
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    small.save(tmp_path)
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") == previous


@pytest.mark.parametrize("task", TASKS)
def test_save_load_round_trip(tmp_path, task, simulated):
    original = simulated(_small(task, seed=3))
    out = original.save(tmp_path / "nested" / "run")
    assert out == tmp_path / "nested" / "run"
    loaded = Simulation.load(out)
    _assert_same(original, loaded)
    assert loaded.buildings.crs.to_epsg() == 32637
    assert loaded.buildings["destroyed_on"].dtype == np.dtype("datetime64[ns]")
    assert loaded.buildings["destroyed_on"].isna().sum() == original.buildings["destroyed_on"].isna().sum()
    assert isinstance(loaded.volunteers["kind"].dtype, pd.CategoricalDtype)
    assert list(loaded.volunteers["kind"].cat.categories) == list(original.volunteers["kind"].cat.categories)
    assert loaded.volunteers.index.name == "volunteer_id"
    assert loaded.labels["destroyed"].dtype == pd.BooleanDtype()
    assert loaded.labels["destroyed"].isna().sum() == original.labels["destroyed"].isna().sum()
    assert loaded.labels["task"].dtype == original.labels["task"].dtype
    assert loaded.visibility.dtype == np.float32
    assert loaded.summary() | {"seconds": 0} == original.summary() | {"seconds": 0}


def test_folder_of_the_old_spelling_loads_with_a_warning(tmp_path, simulated):
    """A folder saved when the task kind was spelled tasks.design loads as the same simulation, with a warning."""
    import json

    from stracker.errors import RenamedWarning
    from stracker.io.files import file_digest

    original = simulated(_small("compare", seed=3))
    out = original.save(tmp_path)
    old = json.loads((out / "scenario.json").read_text())
    old["tasks"]["design"] = old["tasks"].pop("task")
    (out / "scenario.json").write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")
    manifest = json.loads((out / "manifest.json").read_text())  # as that version's save would have written it
    path = out / "scenario.json"
    manifest["files"]["scenario.json"] = {"bytes": path.stat().st_size, "sha256": file_digest(path)}
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(RenamedWarning, match=r"tasks\.design is renamed tasks\.task"):
        loaded = Simulation.load(out)
    _assert_same(original, loaded)


def test_save_writes_exactly_the_files(tmp_path, small):
    small.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SIMULATION_FILES)


def test_save_refuses_to_overwrite(tmp_path, simulated):
    first = simulated("small", seed=1)
    first.save(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in SIMULATION_FILES}
    second = simulated("small", seed=2)
    with pytest.raises(FileExistsError, match=r"overwrite=True") as info:
        second.save(tmp_path)
    assert isinstance(info.value, stracker.StrackerError)
    assert "labels.parquet" in str(info.value)
    assert {name: (tmp_path / name).read_bytes() for name in SIMULATION_FILES} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SIMULATION_FILES)
    # overwrite=True replaces them
    second.save(tmp_path, overwrite=True)
    _assert_same(Simulation.load(tmp_path), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SIMULATION_FILES)


def test_save_refuses_when_any_one_file_exists(tmp_path, small):
    (tmp_path / "labels.parquet").write_bytes(b"not mine")
    with pytest.raises(FileExistsError, match=r"labels\.parquet"):
        small.save(tmp_path)
    assert (tmp_path / "labels.parquet").read_bytes() == b"not mine"


def test_failed_save_leaves_no_temp_files(tmp_path, monkeypatch, small):
    def broken(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half written")
        raise OSError("disk full")

    sim = small
    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        sim.save(tmp_path)
    # all or none: files written before the failure are not renamed into place; nothing temporary is left
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_array_save_leaves_no_temp_files(tmp_path, monkeypatch, small):
    def broken(fh, array, *args, **kwargs):
        fh.write(b"\x93NUMPY half written")
        raise OSError("disk full")

    sim = small
    monkeypatch.setattr(np, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        sim.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_load_names_missing_files(tmp_path, small):
    small.save(tmp_path)
    (tmp_path / "labels.parquet").unlink()
    (tmp_path / "visibility.npy").unlink()
    with pytest.raises(stracker.StrackerError, match=r"labels\.parquet.*visibility\.npy") as info:
        Simulation.load(tmp_path)
    assert "scenario.json" not in str(info.value)
    assert "buildings.gpkg" not in str(info.value)


def test_load_empty_directory(tmp_path):
    with pytest.raises(stracker.StrackerError) as info:
        Simulation.load(tmp_path)
    for name in SIMULATION_FILES:
        assert name in str(info.value)
