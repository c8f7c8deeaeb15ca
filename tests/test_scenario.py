"""Tests of stracker.scenario: presets, immutability, replace, dict/JSON round trips and validation."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest

import stracker
from stracker.errors import RenamedWarning, ScenarioError, StrackerError, StrackerWarning
from stracker.scenario import (
    PRESETS,
    CityScenario,
    CrowdScenario,
    ImageryScenario,
    OffensiveScenario,
    Scenario,
    TaskScenario,
)


@pytest.fixture
def small() -> Scenario:
    return Scenario.preset("small", seed=3)


# --- presets ----------------------------------------------------------------------------------------------


def test_presets_exist():
    assert {"raqqa", "small"} <= set(PRESETS)


def test_raqqa_preset_published_scale():
    s = Scenario.preset("raqqa")
    assert s.name == "raqqa"
    assert s.seed == 0
    assert s.city.n_buildings >= 11_000
    assert s.city.crs == "EPSG:32637"
    assert (s.city.center_lat_deg, s.city.center_lon_deg) == (35.95, 39.01)
    assert s.crowd.n_countries == 124
    assert s.crowd.n_volunteers > 3_000
    assert s.offensive.destroyed_fraction == pytest.approx(0.8)
    assert (s.offensive.start, s.offensive.end) == ("2017-06-06", "2017-10-17")
    assert s.tasks.task == "timeline"


def test_small_preset_is_small(small):
    assert small.name == "small"
    assert small.seed == 3
    assert small.city.n_buildings < Scenario.preset("raqqa").city.n_buildings
    assert small.city.n_buildings <= 1_000


def test_preset_seed_is_applied_and_presets_are_fresh():
    assert Scenario.preset("raqqa", seed=7).seed == 7
    assert Scenario.preset("small", seed=1) == Scenario.preset("small", seed=1)
    assert Scenario.preset("small", seed=1) != Scenario.preset("small", seed=2)


def test_unknown_preset():
    with pytest.raises(stracker.ScenarioError, match=r"unknown preset 'mosul'.*raqqa.*small"):
        Scenario.preset("mosul")


# --- immutability -----------------------------------------------------------------------------------------


def test_frozen(small):
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.seed = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.city.n_buildings = 10  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.tasks.task = "compare"  # type: ignore[misc]


def test_hashable_and_equal_by_value(small):
    same = Scenario.preset("small", seed=3)
    assert same == small
    assert hash(same) == hash(small)
    assert isinstance(small.offensive.entry_bearings_deg, tuple)


def test_entry_bearings_normalised_to_tuple_of_floats():
    off = OffensiveScenario(entry_bearings_deg=[90, 270])  # type: ignore[arg-type]
    assert off.entry_bearings_deg == (90.0, 270.0)
    assert all(isinstance(b, float) for b in off.entry_bearings_deg)


# --- replace ----------------------------------------------------------------------------------------------


def test_replace_nested_dicts(small):
    changed = small.replace(tasks={"task": "compare"}, crowd={"careless_share": 0.3}, seed=9)
    assert changed.tasks.task == "compare"
    assert changed.crowd.careless_share == 0.3
    assert changed.seed == 9
    # untouched fields of a changed part keep their values
    assert changed.tasks.volunteers_per_building == small.tasks.volunteers_per_building
    assert changed.crowd.n_volunteers == small.crowd.n_volunteers
    # untouched parts are kept as they are
    assert changed.city == small.city
    assert changed.imagery == small.imagery
    # the original is unchanged
    assert small.tasks.task == "timeline"
    assert small.seed == 3


def test_replace_with_part_object(small):
    city = CityScenario(n_buildings=123, n_districts=3)
    assert small.replace(city=city).city is city


def test_replace_validates(small):
    with pytest.raises(stracker.ScenarioError, match="destroyed_fraction"):
        small.replace(offensive={"destroyed_fraction": 1.5})
    with pytest.raises(stracker.ScenarioError, match="seed"):
        small.replace(seed=-1)


# --- the old spelling of the task kind (design, until the next release) -----------------------------------


def test_old_task_spellings_give_the_same_scenario_with_a_warning(small):
    new = small.replace(tasks={"task": "compare", "questions_per_volunteer": 3})
    with pytest.warns(RenamedWarning, match=r"tasks\.design is renamed tasks\.task") as caught:
        old = small.replace(tasks={"design": "compare", "questions_per_volunteer": 3})
    assert old == new and old.to_dict() == new.to_dict()
    assert caught[0].filename == __file__  # the warning points at the caller's line
    with pytest.warns(RenamedWarning, match=r"TaskScenario\(design=\.\.\.\) is renamed TaskScenario\(task=\.\.\.\)"):
        part = TaskScenario(design="compare", volunteers_per_building=5, questions_per_volunteer=3)
    assert part == new.tasks
    with pytest.warns(RenamedWarning, match=r"TaskScenario\.design is renamed TaskScenario\.task"):
        assert new.tasks.design == "compare"
    old_dict = new.to_dict()
    old_dict["tasks"]["design"] = old_dict["tasks"].pop("task")  # as scenario.json was written before the rename
    with pytest.warns(RenamedWarning, match=r"tasks\.design is renamed tasks\.task"):
        assert Scenario.from_json(json.dumps(old_dict)) == new


def test_renamed_warning_is_a_future_warning_not_a_data_warning():
    assert issubclass(RenamedWarning, FutureWarning)
    assert not issubclass(RenamedWarning, StrackerWarning)  # about the caller's code, shown to users by default


def test_new_task_spellings_warn_nothing(small):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        changed = small.replace(tasks={"task": "compare"})
        assert TaskScenario(task="compare").task == changed.tasks.task == "compare"
        assert Scenario.from_json(changed.to_json()) == changed
        assert "design" not in changed.to_dict()["tasks"]


def test_old_and_new_task_spelling_together_must_agree(small):
    with pytest.warns(RenamedWarning), pytest.raises(ScenarioError, match=r"tasks\.design='compare' contradicts"):
        small.replace(tasks={"design": "compare", "task": "timeline"})
    with pytest.warns(RenamedWarning):
        assert small.replace(tasks={"design": "compare", "task": "compare"}).tasks.task == "compare"
    with pytest.warns(RenamedWarning), pytest.raises(ScenarioError, match=r"design='timeline'\) contradicts"):
        TaskScenario(task="compare", design="timeline")
    with pytest.warns(RenamedWarning), pytest.raises(ScenarioError, match="must be 'timeline' or 'compare'"):
        TaskScenario(design="survey")  # type: ignore[arg-type]


# --- dict and JSON round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_dict_round_trip(name):
    s = Scenario.preset(name, seed=11)
    assert Scenario.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name):
    s = Scenario.preset(name, seed=11).replace(
        offensive={"entry_bearings_deg": (10.0, 200.5, 300.0)}, tasks={"task": "compare"}
    )
    text = s.to_json()
    assert isinstance(json.loads(text), dict)
    back = Scenario.from_json(text)
    assert back == s
    assert back.to_json() == text
    # through plain json too
    assert Scenario.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_to_dict_is_json_ready_and_complete(small):
    d = small.to_dict()
    assert set(d) == {"name", "seed", "city", "offensive", "imagery", "crowd", "tasks"}
    assert d["city"]["n_buildings"] == small.city.n_buildings
    assert d["offensive"]["entry_bearings_deg"] == list(small.offensive.entry_bearings_deg)
    json.dumps(d)  # no tuples or numpy scalars that json cannot handle


def test_from_dict_partial_uses_defaults():
    s = Scenario.from_dict({"name": "x", "seed": 2, "city": {"n_buildings": 500}})
    assert s.city.n_buildings == 500
    assert s.city.n_districts == CityScenario().n_districts
    assert s.crowd == CrowdScenario()


def test_from_dict_unknown_part_field(small):
    d = small.to_dict()
    d["city"]["n_buildingz"] = 3
    with pytest.raises(stracker.ScenarioError, match=r"unknown city fields \['n_buildingz'\]"):
        Scenario.from_dict(d)


def test_from_dict_unknown_top_level_field(small):
    d = small.to_dict()
    d["colour"] = "red"
    with pytest.raises(stracker.ScenarioError, match=r"unknown scenario fields \['colour'\]"):
        Scenario.from_dict(d)


def test_from_dict_does_not_mutate_input(small):
    d = small.to_dict()
    before = json.dumps(d, sort_keys=True)
    Scenario.from_dict(d)
    assert json.dumps(d, sort_keys=True) == before


# --- validation -------------------------------------------------------------------------------------------


def test_scenario_error_hierarchy():
    assert issubclass(stracker.ScenarioError, ValueError)
    assert issubclass(stracker.ScenarioError, StrackerError)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # negative or zero counts
        (lambda: CityScenario(n_buildings=-5), r"CityScenario\.n_buildings must be positive, got -5"),
        (lambda: CityScenario(n_buildings=0), r"n_buildings must be positive"),
        (lambda: CityScenario(n_districts=-1), r"n_districts must be positive"),
        (lambda: CrowdScenario(n_volunteers=-10), r"n_volunteers must be positive"),
        (lambda: CrowdScenario(n_countries=0), r"n_countries must be positive"),
        (lambda: CrowdScenario(n_countries=500), r"n_countries must be at most"),
        (lambda: CrowdScenario(n_volunteers=50, n_countries=60), r"at least one volunteer per country"),
        (lambda: ImageryScenario(n_images=1), r"n_images must be at least 2, got 1"),
        (lambda: ImageryScenario(n_images=-3), r"n_images must be at least 2"),
        (lambda: TaskScenario(volunteers_per_building=0), r"volunteers_per_building must be positive"),
        (lambda: TaskScenario(questions_per_volunteer=-2), r"questions_per_volunteer must be positive"),
        (lambda: Scenario(seed=-1), r"seed must be a non-negative integer"),
        # fractions outside [0, 1]
        (lambda: OffensiveScenario(destroyed_fraction=1.2), r"destroyed_fraction must lie in \[0, 1\], got 1.2"),
        (lambda: OffensiveScenario(destroyed_fraction=-0.1), r"destroyed_fraction must lie in \[0, 1\]"),
        (lambda: OffensiveScenario(destroyed_fraction=float("nan")), r"destroyed_fraction must lie in \[0, 1\]"),
        (lambda: CityScenario(vacant_parcel_share=1.01), r"vacant_parcel_share must lie in \[0, 1\]"),
        (lambda: ImageryScenario(mean_cloud_cover=2.0), r"mean_cloud_cover must lie in \[0, 1\]"),
        (lambda: ImageryScenario(hidden_visibility=-0.5), r"hidden_visibility must lie in \[0, 1\]"),
        (lambda: CrowdScenario(careless_share=1.5), r"careless_share must lie in \[0, 1\]"),
        (lambda: CrowdScenario(p_late_mean=1.0), r"p_late_mean must lie in \(0, 1\)"),
        (lambda: CrowdScenario(sensitivity_mean=0.0), r"sensitivity_mean must lie in \(0, 1\)"),
        (lambda: TaskScenario(single_image_share=1.5), r"single_image_share must lie in \[0, 1\]"),
        # shares summing over 1
        (
            lambda: CrowdScenario(careless_share=0.6, random_share=0.3, adversarial_share=0.2),
            r"careless_share \+ random_share \+ adversarial_share must not exceed 1",
        ),
        # bad dates
        (lambda: OffensiveScenario(start="2017-13-45"), r"OffensiveScenario\.start must be an ISO date.*'2017-13-45'"),
        (lambda: OffensiveScenario(end="soon"), r"OffensiveScenario\.end must be an ISO date.*'soon'"),
        (lambda: ImageryScenario(first_image="yesterday"), r"ImageryScenario\.first_image must be an ISO date"),
        (lambda: OffensiveScenario(start="2017-11-01"), r"air_campaign_start <= start < end"),
        (lambda: OffensiveScenario(air_campaign_start="2017-07-01"), r"air_campaign_start <= start < end"),
        (lambda: ImageryScenario(first_image="2017-11-01"), r"first_image < last_image"),
        # image catalogue that cannot fit between its ends (whole-day dates)
        (lambda: ImageryScenario(n_images=200), r"200 images .* do not fit in 151 days"),
        (lambda: ImageryScenario(min_gap_days=0.0), r"min_gap_days must be positive"),
        (lambda: ImageryScenario(min_gap_days=-2.0), r"min_gap_days must be positive"),
        (lambda: ImageryScenario(n_images=101, min_gap_days=1.5), r"101 images .* do not fit in 151 days"),
        # other
        (lambda: TaskScenario(task="survey"), r"task must be 'timeline' or 'compare', got 'survey'"),
        (lambda: CrowdScenario(careless_error_factor=0.5), r"careless_error_factor must be >= 1"),
        (lambda: OffensiveScenario(entry_bearings_deg=()), r"entry_bearings_deg needs a bearing"),
        (
            lambda: Scenario(city=CityScenario(n_buildings=100), crowd=CrowdScenario(n_volunteers=1000)),
            r"more volunteers than answers",
        ),
        (
            lambda: Scenario(tasks=TaskScenario(volunteers_per_building=200), crowd=CrowdScenario(n_volunteers=150)),
            r"volunteers_per_building exceeds n_volunteers",
        ),
        (lambda: Scenario(city={"n_buildings": 10}), r"Scenario\.city must be a CityScenario"),  # type: ignore[arg-type]
    ],
)
def test_invalid_values_raise_helpful_errors(make, message):
    with pytest.raises(stracker.ScenarioError, match=message) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_invalid_value_in_from_dict(small):
    d = small.to_dict()
    d["crowd"]["n_volunteers"] = -1
    with pytest.raises(ValueError, match="n_volunteers must be positive, got -1"):
        Scenario.from_dict(d)


def test_catalogue_that_exactly_fits_is_valid():
    # 151 days from 2017-05-30 to 2017-10-28: 152 daily images fit exactly
    assert ImageryScenario(n_images=152, min_gap_days=1.0).n_images == 152
    assert ImageryScenario(n_images=76, min_gap_days=2.0).n_images == 76


@pytest.mark.parametrize(
    "make",
    [
        lambda: CityScenario(n_buildings=10.5),
        lambda: CityScenario(n_buildings=True),
        lambda: Scenario(seed=True),
        lambda: Scenario().replace(city={"bogus": 1}),
        lambda: Scenario().replace(colour=1),
        lambda: Scenario.from_dict({"city": {"n_buildings": "100"}}),
        lambda: Scenario.from_dict({"city": 5}),
    ],
    ids=[
        "float count",
        "bool count",
        "bool seed",
        "unknown part field",
        "unknown field",
        "string count",
        "part not a dict",
    ],
)
def test_wrong_types_are_scenario_errors(make):
    with pytest.raises(ScenarioError):
        make()


def test_missing_simulation_files_is_a_file_not_found_error(tmp_path):
    from stracker.simulation import Simulation

    with pytest.raises(FileNotFoundError, match=r"scenario\.json"):
        Simulation.load(tmp_path)
