"""Scenarios: every number that shapes a simulated Strike Trackers campaign, named and with units.

A :class:`Scenario` is a frozen value object made of five parts, one per stage of the simulation
(city -> offensive -> imagery -> crowd -> tasks). Two presets exist: ``raqqa`` (the published scale of
Amnesty International's Strike Trackers) and ``small`` (a few hundred buildings, for tests and examples).

Examples
--------
>>> from stracker.scenario import Scenario
>>> s = Scenario.preset("small", seed=3)
>>> s.city.n_buildings, s.seed
(400, 3)
>>> Scenario.from_dict(s.to_dict()) == s
True
>>> s.replace(tasks={"task": "compare"}).tasks.task
'compare'
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from stracker.errors import ScenarioError, warn_renamed

__all__ = [
    "PRESETS",
    "SIMULATION_STAGES",
    "CityScenario",
    "CrowdScenario",
    "ImageryScenario",
    "OffensiveScenario",
    "Scenario",
    "TaskScenario",
    "stage_rng",
]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ScenarioError(message)


def _check_fraction(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check_type(obj, name, value)
        _require(0.0 <= value <= 1.0, f"{type(obj).__name__}.{name} must lie in [0, 1], got {value!r}")


def _check_positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _check_type(obj, name, value)
        _require(value > 0, f"{type(obj).__name__}.{name} must be positive, got {value!r}")


def _check_type(obj: object, name: str, value: object) -> None:
    """Counts must be integers and measures numbers (not bools, not strings)."""
    annotation = {f.name: f.type for f in fields(obj)}.get(name)  # type: ignore[arg-type]  # obj: a scenario part
    wanted = (int, np.integer) if annotation in (int, "int") else (int, float, np.integer, np.floating)
    _require(
        isinstance(value, wanted) and not isinstance(value, bool | np.bool_),
        f"{type(obj).__name__}.{name} must be {'an integer' if wanted[0] is int and len(wanted) == 2 else 'a number'}, "
        f"got {value!r}",
    )


def _check_date(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise ScenarioError(
                f"{type(obj).__name__}.{name} must be an ISO date such as '2017-06-06', got {value!r}"
            ) from exc


@dataclass(frozen=True)
class CityScenario:
    """The city: where it is and how its buildings are laid out.

    Attributes
    ----------
    n_buildings : int
        Number of building footprints.
    center_lat_deg, center_lon_deg : float
        City centre in WGS84 degrees (Raqqa: 35.95 N, 39.01 E).
    crs : str
        Projected CRS of the footprints (UTM zone 37N for Raqqa).
    n_districts : int
        Number of districts (Voronoi cells around the centre).
    block_length_m, block_depth_m : float
        Typical street block size, before per-district scaling.
    street_width_m : float
        Width of the streets between blocks and of the gap between districts.
    parcel_width_m : float
        Typical frontage of one parcel (one building per parcel) in a residential district.
    large_block_share : float
        Share of districts made of large apartment or industrial blocks rather than houses.
    vacant_parcel_share : float
        Share of parcels left empty (yards, lots, gardens).
    """

    n_buildings: int = 11_000
    center_lat_deg: float = 35.95
    center_lon_deg: float = 39.01
    crs: str = "EPSG:32637"
    n_districts: int = 24
    block_length_m: float = 110.0
    block_depth_m: float = 50.0
    street_width_m: float = 10.0
    parcel_width_m: float = 16.0
    large_block_share: float = 0.2
    vacant_parcel_share: float = 0.12

    def __post_init__(self) -> None:
        _check_positive(self, "n_buildings", "n_districts", "block_length_m", "block_depth_m")
        _check_positive(self, "street_width_m", "parcel_width_m")
        _check_fraction(self, "large_block_share", "vacant_parcel_share")
        _require(-90 <= self.center_lat_deg <= 90, "CityScenario.center_lat_deg must lie in [-90, 90]")


@dataclass(frozen=True)
class OffensiveScenario:
    """The offensive: when and how destruction spread through the city.

    Attributes
    ----------
    start, end : str
        First and last day of the ground offensive (ISO dates; Raqqa: 2017-06-06 to 2017-10-17).
    air_campaign_start : str
        First day of the air strikes that preceded the ground offensive.
    destroyed_fraction : float
        Share of buildings destroyed by the end (the UN estimated 80 % for Raqqa).
    pre_offensive_strike_share : float
        Share of strikes that fell before ``start``; some of their damage predates the first image.
    entry_bearings_deg : tuple of float
        Bearings (clockwise from north) of the directions from which the front entered the city.
    front_jitter_days : float
        Spread of the front's arrival date between districts at the same distance.
    strike_radius_m : float
        Radius within which a strike (one day's bombardment of a spot) can destroy buildings.
    strike_hit_probability : float
        Chance that a building inside a strike radius is destroyed by it, at the strike centre.
    strike_spread_days : float
        Standard deviation of strike dates around the front's arrival at their location.
    """

    start: str = "2017-06-06"
    end: str = "2017-10-17"
    air_campaign_start: str = "2017-03-01"
    destroyed_fraction: float = 0.80
    pre_offensive_strike_share: float = 0.06
    entry_bearings_deg: tuple[float, ...] = (90.0, 270.0)
    front_jitter_days: float = 6.0
    strike_radius_m: float = 55.0
    strike_hit_probability: float = 0.7
    strike_spread_days: float = 7.0

    def __post_init__(self) -> None:
        _check_date(self, "start", "end", "air_campaign_start")
        _require(
            pd.Timestamp(self.air_campaign_start) <= pd.Timestamp(self.start) < pd.Timestamp(self.end),
            "OffensiveScenario needs air_campaign_start <= start < end",
        )
        _check_fraction(self, "destroyed_fraction", "pre_offensive_strike_share", "strike_hit_probability")
        _check_positive(self, "strike_radius_m", "strike_spread_days", "front_jitter_days")
        _require(len(self.entry_bearings_deg) >= 1, "OffensiveScenario.entry_bearings_deg needs a bearing")
        object.__setattr__(self, "entry_bearings_deg", tuple(float(b) for b in self.entry_bearings_deg))


@dataclass(frozen=True)
class ImageryScenario:
    """The satellite image catalogue.

    Attributes
    ----------
    first_image, last_image : str
        Dates of the first and last acquisitions (ISO dates).
    n_images : int
        Number of acquisitions, at irregular dates between the first and the last.
    min_gap_days : float
        Smallest gap between two acquisitions.
    mean_cloud_cover : float
        Mean cloud cover fraction of an image (Raqqa's summer is mostly clear).
    cloud_wavelength_m : float
        Typical size of the cloud patterns, which makes neighbouring buildings share visibility.
    cloud_pixel_m : float
        Pixel size of the cloud rasters from which visibility is computed (see :mod:`stracker.world.clouds`).
    hidden_visibility : float
        Visibility below which a frame is hidden: it cannot be marked or compared.
    """

    first_image: str = "2017-05-30"
    last_image: str = "2017-10-28"
    n_images: int = 50
    min_gap_days: float = 1.0
    mean_cloud_cover: float = 0.12
    cloud_wavelength_m: float = 1500.0
    cloud_pixel_m: float = 10.0
    hidden_visibility: float = 0.35

    def __post_init__(self) -> None:
        _check_date(self, "first_image", "last_image")
        _require(
            pd.Timestamp(self.first_image) < pd.Timestamp(self.last_image),
            "ImageryScenario needs first_image < last_image",
        )
        _require(self.n_images >= 2, f"ImageryScenario.n_images must be at least 2, got {self.n_images}")
        _check_positive(self, "min_gap_days")
        span = (pd.Timestamp(self.last_image) - pd.Timestamp(self.first_image)).days
        # images fall on whole days, so the gaps are whole days of at least ceil(min_gap_days)
        whole_gap = int(np.ceil(self.min_gap_days))
        _require(
            whole_gap * (self.n_images - 1) <= span,
            f"ImageryScenario: {self.n_images} images at least {whole_gap} whole days apart "
            f"(min_gap_days={self.min_gap_days}) do not fit in {span} days; lower n_images or min_gap_days",
        )
        _check_fraction(self, "mean_cloud_cover", "hidden_visibility")
        _check_positive(self, "cloud_wavelength_m", "cloud_pixel_m")


@dataclass(frozen=True)
class CrowdScenario:
    """The volunteers: how many, where from, how active, how skilled.

    Skill parameters are drawn per volunteer from Beta distributions with the given means and a common
    concentration (larger: more alike). Timeline parameters describe how a volunteer marks a building's
    timeline; compare parameters how they answer "did it change between these two images?".

    Attributes
    ----------
    n_volunteers : int
        Volunteers who answer at least once (Strike Trackers: more than 3,000).
    n_countries : int
        Countries the volunteers come from (Strike Trackers: 124).
    activity_sigma : float
        Log-normal sigma of volunteer activity; larger makes the most active few do more of the work.
    careless_share : float
        Share of careless volunteers, whose error rates are multiplied by ``careless_error_factor``.
    careless_error_factor : float
        Multiplier on the error rates of careless volunteers.
    random_share : float
        Share of volunteers who answer at random.
    adversarial_share : float
        Share of volunteers who answer the opposite of what they see.
    p_late_mean : float
        Chance, per visible destroyed image, of scrolling past it without noticing (marking late).
    p_early_mean : float
        Chance of marking the destruction on an image before it happened.
    early_decay_mean : float
        Chance that an early mark is one more image earlier still (geometric).
    p_miss_mean : float
        Chance of missing a destruction altogether ("no destruction seen").
    p_false_mean : float
        Chance of marking an intact building as destroyed.
    sensitivity_mean, specificity_mean : float
        Mean chance of answering "yes" to a changed pair and "no" to an unchanged pair.
    skill_concentration : float
        Concentration (alpha + beta) of the Beta distributions of the skill parameters.
    low_visibility_error : float
        How much a partly clouded frame adds to the error rates, at the hidden threshold.
    """

    n_volunteers: int = 3_100
    n_countries: int = 124
    activity_sigma: float = 1.3
    careless_share: float = 0.10
    careless_error_factor: float = 2.5
    random_share: float = 0.02
    adversarial_share: float = 0.0
    p_late_mean: float = 0.15
    p_early_mean: float = 0.05
    early_decay_mean: float = 0.3
    p_miss_mean: float = 0.06
    p_false_mean: float = 0.04
    sensitivity_mean: float = 0.85
    specificity_mean: float = 0.90
    skill_concentration: float = 20.0
    low_visibility_error: float = 0.5

    def __post_init__(self) -> None:
        _check_positive(self, "n_volunteers", "n_countries", "activity_sigma", "skill_concentration")
        _require(
            self.n_countries <= len(COUNTRY_CODES),
            f"CrowdScenario.n_countries must be at most {len(COUNTRY_CODES)}, got {self.n_countries}",
        )
        _require(
            self.n_volunteers >= self.n_countries,
            "CrowdScenario needs at least one volunteer per country (n_volunteers >= n_countries)",
        )
        _check_fraction(self, "careless_share", "random_share", "adversarial_share", "low_visibility_error")
        _require(
            self.careless_share + self.random_share + self.adversarial_share <= 1.0,
            "CrowdScenario: careless_share + random_share + adversarial_share must not exceed 1",
        )
        _require(self.careless_error_factor >= 1.0, "CrowdScenario.careless_error_factor must be >= 1")
        for name in (
            "p_late_mean",
            "p_early_mean",
            "early_decay_mean",
            "p_miss_mean",
            "p_false_mean",
            "sensitivity_mean",
            "specificity_mean",
        ):
            value = getattr(self, name)
            _require(0.0 < value < 1.0, f"CrowdScenario.{name} must lie in (0, 1), got {value!r}")


@dataclass(frozen=True, init=False)
class TaskScenario:
    """How buildings are put to volunteers.

    Attributes
    ----------
    task : {"timeline", "compare"}
        The task kind, as in the label table's ``task`` column. ``timeline``: Strike Trackers, each volunteer
        scans a building's images in date order and marks the last image seen intact and the first seen
        destroyed. ``compare``: Decoders, each question shows two images of a building (or one, for "is it
        destroyed here?") and asks whether it was destroyed between.
    volunteers_per_building : int
        Distinct volunteers who see each building.
    questions_per_volunteer : int
        Compare task only: questions each of those volunteers answers about the building.
    single_image_share : float
        Compare task only: share of questions that show one image ("is it destroyed here?").

    Notes
    -----
    ``design`` was the name of ``task`` before; ``TaskScenario(design=...)`` and reading ``.design`` still work
    until the next release, with a :class:`~stracker.errors.RenamedWarning`.

    Examples
    --------
    >>> TaskScenario(task="compare", questions_per_volunteer=3).task
    'compare'
    """

    task: Literal["timeline", "compare"]
    volunteers_per_building: int
    questions_per_volunteer: int
    single_image_share: float

    def __init__(
        self,
        task: Literal["timeline", "compare"] = "timeline",
        volunteers_per_building: int = 7,
        questions_per_volunteer: int = 4,
        single_image_share: float = 0.2,
        *,
        design: Literal["timeline", "compare"] | None = None,
    ) -> None:
        if design is not None:
            warn_renamed("TaskScenario(design=...)", "TaskScenario(task=...)", stacklevel=2)
            _require(
                task in ("timeline", design),
                f"TaskScenario(design={design!r}) contradicts task={task!r}; give task only",
            )
            task = design
        for name, value in (
            ("task", task),
            ("volunteers_per_building", volunteers_per_building),
            ("questions_per_volunteer", questions_per_volunteer),
            ("single_image_share", single_image_share),
        ):
            object.__setattr__(self, name, value)
        _require(
            self.task in ("timeline", "compare"),
            f"TaskScenario.task must be 'timeline' or 'compare', got {self.task!r}",
        )
        _check_positive(self, "volunteers_per_building", "questions_per_volunteer")
        _check_fraction(self, "single_image_share")

    @property
    def design(self) -> str:
        """Old name of ``task``, until the next release (with a :class:`~stracker.errors.RenamedWarning`)."""
        warn_renamed("TaskScenario.design", "TaskScenario.task", stacklevel=2)
        return self.task


_RENAMED = {"tasks": {"design": "task"}}
"""Old field names of the scenario's parts that still work for one release: part -> {old: new}."""


def _renamed(part: str, values: dict[str, Any], stacklevel: int) -> dict[str, Any]:
    """``values`` (one part's fields by name) with the old names of :data:`_RENAMED` replaced, each warned of.

    ``stacklevel`` counts from the caller, as for :func:`warnings.warn`.
    """
    out = dict(values)
    for old, new in _RENAMED.get(part, {}).items():
        if old in out:
            warn_renamed(f"{part}.{old}", f"{part}.{new}", stacklevel=stacklevel + 1)
            value = out.pop(old)
            _require(
                out.setdefault(new, value) == value,
                f"{part}.{old}={value!r} contradicts {part}.{new}={out[new]!r}; give {part}.{new} only",
            )
    return out


_PARTS = {
    "city": CityScenario,
    "offensive": OffensiveScenario,
    "imagery": ImageryScenario,
    "crowd": CrowdScenario,
    "tasks": TaskScenario,
}


@dataclass(frozen=True)
class Scenario:
    """A whole simulated campaign: a name, a seed and the five parts.

    Use :meth:`preset` for the named presets and :meth:`replace` to change parts (nested dicts allowed).
    """

    name: str = "raqqa"
    seed: int = 0
    city: CityScenario = field(default_factory=CityScenario)
    offensive: OffensiveScenario = field(default_factory=OffensiveScenario)
    imagery: ImageryScenario = field(default_factory=ImageryScenario)
    crowd: CrowdScenario = field(default_factory=CrowdScenario)
    tasks: TaskScenario = field(default_factory=TaskScenario)

    def __post_init__(self) -> None:
        _require(
            isinstance(self.seed, int | np.integer) and not isinstance(self.seed, bool) and self.seed >= 0,
            f"Scenario.seed must be a non-negative integer, got {self.seed!r}",
        )
        object.__setattr__(self, "seed", int(self.seed))
        for name, cls in _PARTS.items():
            _require(isinstance(getattr(self, name), cls), f"Scenario.{name} must be a {cls.__name__}")
        _require(
            self.crowd.n_volunteers <= self.city.n_buildings * self.tasks.volunteers_per_building,
            "Scenario: more volunteers than answers; every volunteer must answer at least once",
        )
        _require(
            self.tasks.volunteers_per_building <= self.crowd.n_volunteers,
            "Scenario: volunteers_per_building exceeds n_volunteers",
        )

    @classmethod
    def preset(cls, name: str, seed: int = 0) -> Scenario:
        """Return the preset called ``name`` (see :data:`PRESETS`) with the given seed."""
        try:
            make = PRESETS[name]
        except KeyError:
            raise ScenarioError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
        return dataclasses.replace(make(), seed=seed)

    def replace(self, **changes: Any) -> Scenario:
        """Return a copy with fields changed; a part may be given as a dict of its changed fields."""
        resolved: dict[str, Any] = {}
        known = {f.name for f in fields(self)}
        for key, value in changes.items():
            _require(key in known, f"Scenario has no field {key!r}; fields: {sorted(known)}")
            if key in _PARTS and isinstance(value, dict):
                value = _renamed(key, value, stacklevel=2)
                part = getattr(self, key)
                part_fields = {f.name for f in fields(part)}
                unknown = set(value) - part_fields
                _require(
                    not unknown,
                    f"{type(part).__name__} has no field(s) {sorted(unknown)}; fields: {sorted(part_fields)}",
                )
                resolved[key] = dataclasses.replace(part, **value)
            else:
                resolved[key] = value
        return dataclasses.replace(self, **resolved)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` turns back into an equal scenario."""
        out = dataclasses.asdict(self)
        out["offensive"]["entry_bearings_deg"] = list(self.offensive.entry_bearings_deg)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Build a scenario from :meth:`to_dict` output; unknown keys are an error."""
        data = dict(data)
        kwargs: dict[str, Any] = {}
        for name, part in _PARTS.items():
            raw = data.pop(name, {})
            _require(isinstance(raw, dict), f"scenario field {name!r} must be a mapping, got {raw!r}")
            raw = _renamed(name, raw, stacklevel=2)
            known = {f.name for f in fields(part)}
            unknown = set(raw) - known
            _require(not unknown, f"unknown {name} fields {sorted(unknown)}; known: {sorted(known)}")
            if "entry_bearings_deg" in raw:
                raw["entry_bearings_deg"] = tuple(raw["entry_bearings_deg"])
            kwargs[name] = part(**raw)
        unknown = set(data) - {"name", "seed"}
        _require(not unknown, f"unknown scenario fields {sorted(unknown)}")
        return cls(**data, **kwargs)

    def to_json(self) -> str:
        """The scenario as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def _raqqa() -> Scenario:
    return Scenario(name="raqqa")


def _small() -> Scenario:
    return Scenario(
        name="small",
        city=CityScenario(n_buildings=400, n_districts=6),
        imagery=ImageryScenario(n_images=20),
        crowd=CrowdScenario(n_volunteers=150, n_countries=30),
        tasks=TaskScenario(volunteers_per_building=5),
    )


PRESETS = {"raqqa": _raqqa, "small": _small}
"""Named scenario factories: ``raqqa`` (the published scale) and ``small`` (tests and examples)."""

# ISO 3166-1 alpha-2 codes of the countries volunteers come from; the first are the most common.
COUNTRY_CODES: tuple[str, ...] = tuple(
    """
    US GB DE FR ES IT CA NL AU SE BE CH IE PT DK NO FI AT IN BR MX AR PL GR TR SY LB JO EG MA TN DZ IQ SA AE
    QA KW OM BH YE IR PK BD LK NP CN JP KR TW HK SG MY ID PH TH VN NZ ZA NG KE GH ET UG TZ RW SN CI CM ZW ZM
    MW MZ AO NA BW CL CO PE VE EC BO PY UY CR PA GT HN SV NI DO CU JM TT PR IS LU MT CY EE LV LT CZ SK HU SI
    HR RS BA ME MK AL RO BG MD UA BY RU GE AM AZ KZ UZ KG TJ IL PS SD LY SO MR ML NE BF
    """.split()
)


SIMULATION_STAGES = ("footprints", "destruction", "catalogue", "visibility", "volunteers", "answers")
"""The stages of a simulation, each with its own random stream spawned from the scenario's seed."""


def stage_rng(scenario: Scenario, stage: str) -> np.random.Generator:
    """The random stream :func:`simulate` gives one stage, fresh: the same scenario seed gives the same stream.

    Parameters
    ----------
    scenario : Scenario
    stage : str
        One of "footprints", "destruction", "catalogue", "visibility", "volunteers", "answers".

    Examples
    --------
    >>> s = Scenario.preset("small", seed=4)
    >>> int(stage_rng(s, "visibility").integers(100)) == int(stage_rng(s, "visibility").integers(100))
    True
    """
    if stage not in SIMULATION_STAGES:
        raise ValueError(f"unknown simulation stage {stage!r}; stages: {list(SIMULATION_STAGES)}")
    seq = np.random.SeedSequence(scenario.seed).spawn(len(SIMULATION_STAGES))[SIMULATION_STAGES.index(stage)]
    return np.random.default_rng(seq)
