"""A consensus fit that grows with a campaign: answers come in round by round, and most rounds refit nothing.

An adaptive campaign (:func:`stracker.tasking.run_adaptive`) asks a few thousand questions a round and needs the
posterior of every building after each; re-running the EM on every answer so far each round repeats, round
after round, a fit that the round's answers barely move. :class:`IncrementalFit` splits it in two:

* **between refits** the model's parameters (the volunteers', the image weights, the prior) stay those of the
  last fit. A building's log-likelihood in each state is then a sum over its answers alone, so a round's
  answers add their own terms to the rows of the buildings they are about (an E-step over those answers and
  those buildings only) and every other building keeps its posterior as it is. This is exact: the rows equal
  those of a fresh E-step over every answer under the same parameters (to rounding).
* **a refit** runs the EM over every answer, warm-started from the last fit's whole state (volunteer
  parameters, crowd types, image weights and prior: :class:`stracker.consensus.em.MStep` carries on), so it
  settles in a few iterations. One is due once the answers added since the last fit reach ``refit_share`` of
  the answers it had; refits between rounds use ``refit_options`` (a loose tolerance, few iterations), and
  :meth:`IncrementalFit.refit` with the full ``options`` gives a proper fit (the end of a campaign).

The buildings and volunteers are fixed when the fit starts (codes of :class:`~stracker.labels.EncodedLabels`
in that universe); buildings without answers take no part in the fit and keep the prior.

With ``neighbours=`` (a :class:`~stracker.consensus.spatial.NeighbourGraph` of the buildings), the fit has the
spatial-temporal prior: every refit runs over every building of the universe (those without answers get their
neighbours' dates), warm-started from the spatial prior the last one learned, and between refits a round's
answers change their neighbours' posteriors too, so those buildings' posteriors are recomputed under the current
parameters (the prior's step for the round's buildings and the buildings that have them as neighbours, from
their neighbours' log-likelihoods: :meth:`~stracker.consensus.spatial.SpatialPrior.log_prior_of`): still
exactly what a fresh E-step gives.

With ``visibility=`` (each building's visible share in each image, as :func:`stracker.aggregate` takes it), the
answers are read as that aggregation reads them: what clouds hid at a building is no evidence, in the rounds'
updates and in the refits alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import sparse

from stracker.consensus.em import EMOptions, FitResult, MStep, run_em
from stracker.consensus.inputs import HIDDEN_VISIBILITY, frame_visibility, frames_of, shares_of
from stracker.consensus.model import AnswerModel, EStep, ModelState, posterior_and_evidence, resolve_params
from stracker.consensus.result import Consensus, summarize_posterior, volunteer_table
from stracker.consensus.spatial import NeighbourGraph, SpatialPrior
from stracker.errors import LabelsError, OptionsError
from stracker.labels import EncodedLabels

__all__ = ["REFIT_OPTIONS", "IncrementalFit"]

REFIT_OPTIONS = EMOptions(tol=1e-5, max_iter=10)
"""How the EM runs in the refits between rounds (the last one is a full fit with :class:`EMOptions`)."""


def _concat(parts: list[EncodedLabels], like: EncodedLabels) -> EncodedLabels:
    """One table of the parts' answers, in order, with the universe of ``like``."""
    if len(parts) == 1:
        return parts[0]
    fields = ("building", "volunteer", "lo", "hi", "answer", "task")
    arrays = {name: np.concatenate([getattr(part, name) for part in parts]) for name in fields}
    return dataclasses.replace(like, **arrays, row_index=pd.RangeIndex(arrays["building"].size))


class IncrementalFit:
    """The EM fit of a growing table of answers: cheap updates between warm refits.

    Parameters
    ----------
    building_ids, volunteer_ids : pandas.Index
        Every building and volunteer the answers may name (their codes in :meth:`add`).
    image_dates : pandas.DatetimeIndex
        The image catalogue.
    options : EMOptions, optional
        The full fit's options (:meth:`refit` without arguments); default :class:`EMOptions`.
    refit_share : float
        A refit is due once the answers added since the last fit exceed this share of the answers it had
        (0: after every addition, an exact refit every round).
    refit_options : EMOptions, optional
        Options of the refits :meth:`update` makes; default :data:`REFIT_OPTIONS` with the model options
        (shrinkage, types, ...) of ``options``.
    neighbours : NeighbourGraph, optional
        The buildings' neighbour graph: fit with the spatial-temporal prior (buildings it lacks have no
        neighbours).
    visibility : pandas.DataFrame or numpy.ndarray, optional
        Each building's visible (cloud-free) share in each image: a table as :func:`stracker.aggregate` takes it
        (wide, indexed by building_id with one column per image date, or long), or an array of buildings x images
        in the order of ``building_ids`` and the catalogue (NaN: unknown, taken as visible).
    hidden_below : float
        A visible share below which a frame is hidden (with ``visibility``).

    Attributes
    ----------
    posterior : numpy.ndarray
        Buildings x states, under ``state`` (the prior for buildings without answers).
    log_likelihood : numpy.ndarray
        Buildings x states: each building's log-likelihood by state under ``state``, up to a constant
        (:attr:`stracker.consensus.model.LogLikelihood.by_state`; 0 without answers).
    state : ModelState
        The parameters the posterior is computed under: those of the last refit's last E-step.
    last_fit : FitResult or None
        The last refit.
    n_answers : int
        Answers so far.
    answers_per_volunteer : numpy.ndarray
        Answers so far of each volunteer, in code order.
    answered : numpy.ndarray of bool
        The buildings with answers.
    spatial : SpatialPrior or None
        With ``neighbours``, the spatial prior the first refit starts from (later refits start from the last
        one's, ``state.building_prior``).
    visibility : numpy.ndarray or None
        With ``visibility``, each building's frames as the answer model reads them (buildings x images: the
        visible share, 0 where hidden).
    changed : numpy.ndarray
        Positions of the buildings whose posterior the last :meth:`add` or :meth:`refit` changed: the buildings
        of the answers added (with the spatial prior, and every building that has one of them as a neighbour);
        every building after a refit.

    Examples
    --------
    Three buildings, one image (states: destroyed by it, or not); two volunteers answer about buildings 0 and
    1, then about building 2:

    >>> dates = pd.DatetimeIndex(["2017-06-10"])
    >>> fit = IncrementalFit(pd.Index([10, 11, 12]), pd.Index(["a", "b"]), dates, refit_share=1.0)
    >>> fit.update(fit.encode([0, 0, 1, 1], [0, 1, 0, 1], lo=-1, hi=0, answer=[1, 1, 0, 0], task=1))
    True
    >>> fit.update(fit.encode([2], [0], lo=-1, hi=0, answer=[1], task=1))  # one answer more: no refit
    False
    >>> fit.posterior.round(2).tolist()
    [[0.98, 0.02], [0.02, 0.98], [0.86, 0.14]]
    >>> fit.refit().converged, fit.is_full_fit
    (True, True)
    """

    def __init__(
        self,
        building_ids: pd.Index,
        volunteer_ids: pd.Index,
        image_dates: pd.DatetimeIndex,
        *,
        options: EMOptions | None = None,
        refit_share: float = 0.1,
        refit_options: EMOptions | None = None,
        neighbours: NeighbourGraph | None = None,
        visibility: pd.DataFrame | np.ndarray | None = None,
        hidden_below: float = HIDDEN_VISIBILITY,
    ) -> None:
        if not isinstance(refit_share, int | float) or isinstance(refit_share, bool) or not refit_share >= 0:
            raise OptionsError(f"refit_share must be a share >= 0, got {refit_share!r}.")
        for name, value in (("options", options), ("refit_options", refit_options)):
            if value is not None and not isinstance(value, EMOptions):
                raise OptionsError(f"{name} must be an EMOptions, got {type(value).__name__}.")
        self.options = options or EMOptions()
        self.refit_options = refit_options or dataclasses.replace(
            self.options, tol=REFIT_OPTIONS.tol, max_iter=REFIT_OPTIONS.max_iter
        )
        self.refit_share = refit_share
        self.building_ids = pd.Index(building_ids, name="building_id")
        self.volunteer_ids = pd.Index(volunteer_ids, name="volunteer_id")
        self.image_dates = pd.DatetimeIndex(image_dates)
        B, S = len(self.building_ids), len(self.image_dates) + 1
        self.m_step = MStep(
            resolve_params(None, self.volunteer_ids),
            self.image_dates,
            fit_volunteers=True,
            prior=None,
            options=self.options,
        )
        self.state: ModelState = self.m_step.state()
        self.answered = np.zeros(B, dtype=bool)
        self.last_fit: FitResult | None = None
        self.log_likelihood = np.zeros((B, S))
        self.posterior = posterior_and_evidence(self.log_likelihood, self.state.log_prior)[0]
        index = np.dtype(np.int16 if len(self.image_dates) <= np.iinfo(np.int16).max else np.int32)
        self._empty = EncodedLabels(
            building_ids=self.building_ids,
            volunteer_ids=self.volunteer_ids,
            image_dates=self.image_dates,
            building=np.zeros(0, np.int32),
            volunteer=np.zeros(0, np.int32),
            lo=np.zeros(0, index),
            hi=np.zeros(0, index),
            answer=np.zeros(0, np.int8),
            task=np.zeros(0, np.int8),
            row_index=pd.RangeIndex(0),
        )
        self._parts: list[EncodedLabels] = [self._empty]
        self.n_answers = 0
        self.answers_per_volunteer = np.zeros(len(self.volunteer_ids), dtype=np.int64)
        self._n_fitted = 0  # answers the last refit saw
        self._full = True  # whether the last refit ran with the full options
        self.visibility = None if visibility is None else self._frames(visibility, hidden_below)
        self.changed = np.zeros(0, dtype=np.intp)
        self.spatial: SpatialPrior | None = None
        if neighbours is not None:
            graph = neighbours.reindex(self.building_ids, extend=True)
            self.spatial = SpatialPrior.start(graph, self.image_dates, self.answered)
        # the graph transposed: whose priors a building's answers move (every prior the fits learn is over it)
        self._incoming: sparse.csr_matrix | None = None if self.spatial is None else self.spatial.incoming()

    def _frames(self, visibility: pd.DataFrame | np.ndarray, hidden_below: float) -> np.ndarray:
        """The visibility as the answer model takes it, rows the universe's buildings."""
        if isinstance(visibility, pd.DataFrame):
            return frame_visibility(visibility, self._empty, hidden_below)
        shape = (len(self.building_ids), len(self.image_dates))
        if np.shape(visibility) != shape:
            raise LabelsError(
                f"visibility has shape {np.shape(visibility)}; it needs one row per building of the fit and one "
                f"column per image, {shape} (or pass it as a table indexed by building_id)."
            )
        return frames_of(shares_of(visibility, "visibility"), hidden_below)

    def _model(self, enc: EncodedLabels, rows: np.ndarray | slice) -> AnswerModel:
        """The answer model of ``enc``, whose buildings are the universe's ``rows``."""
        return AnswerModel(enc, visibility=None if self.visibility is None else self.visibility[rows])

    @property
    def refit_due(self) -> bool:
        """Whether the answers added since the last refit call for another (see ``refit_share``)."""
        new = self.n_answers - self._n_fitted
        return new > 0 and (self._n_fitted == 0 or new > self.refit_share * self._n_fitted)

    @property
    def is_full_fit(self) -> bool:
        """Whether the posterior is a full fit of every answer so far (no answer since a full refit)."""
        return self._full and self._n_fitted == self.n_answers

    def encode(
        self,
        building: np.ndarray,
        volunteer: np.ndarray,
        lo: np.ndarray | int,
        hi: np.ndarray | int,
        answer: np.ndarray,
        task: np.ndarray | int,
    ) -> EncodedLabels:
        """Answers given as codes of this fit's universe as :class:`EncodedLabels`: building and volunteer
        positions, image indices (lo = -1: before the first image; one value for all or one per answer), answers
        (1 yes, 0 no, -1 can't tell) and task codes (0 timeline, 1 compare)."""
        n = np.asarray(building).size
        index = self._empty.lo.dtype
        lo, hi = np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,))
        return dataclasses.replace(
            self._empty,
            building=np.asarray(building, dtype=np.int32),
            volunteer=np.asarray(volunteer, dtype=np.int32),
            lo=np.asarray(lo, dtype=index),
            hi=np.asarray(hi, dtype=index),
            answer=np.asarray(answer, dtype=np.int8),
            task=np.broadcast_to(np.asarray(task, dtype=np.int8), (n,)).copy(),
            row_index=pd.RangeIndex(n),
        )

    def add(self, enc: EncodedLabels) -> np.ndarray:
        """Add answers (codes in this fit's universe) and update the posterior of their buildings under the
        current parameters; returns those buildings' positions."""
        if (
            enc.n_buildings != len(self.building_ids)
            or enc.n_volunteers != len(self.volunteer_ids)
            or not enc.image_dates.equals(self.image_dates)
        ):
            raise LabelsError(
                f"the answers are encoded for {enc.n_buildings} buildings, {enc.n_volunteers} volunteers and "
                f"{enc.n_images} images; this fit's universe has {len(self.building_ids)}, "
                f"{len(self.volunteer_ids)} and {len(self.image_dates)}: encode them with its ids and catalogue."
            )
        B, V, D = len(self.building_ids), len(self.volunteer_ids), len(self.image_dates)
        lo, hi = enc.lo.astype(np.int64), enc.hi.astype(np.int64)
        bad = (
            (enc.building < 0)
            | (enc.building >= B)
            | (enc.volunteer < 0)
            | (enc.volunteer >= V)
            | (lo < -1)
            | (lo >= hi)
            | (hi >= D)
            | ~np.isin(enc.answer, (-1, 0, 1))
            | ~np.isin(enc.task, (0, 1))
        )
        if bad.any():
            where = np.flatnonzero(bad)
            raise LabelsError(
                f"{where.size} answer(s) hold codes outside this fit's universe ({B} buildings, {V} volunteers, "
                f"{D} images, -1 <= lo < hi; answers 1 / 0 / -1, tasks 0 / 1), at positions {where[:8].tolist()}; "
                "encode them with IncrementalFit.encode from positions in its ids and catalogue."
            )
        touched, building = np.unique(enc.building, return_inverse=True)
        if touched.size == 0:
            return touched
        self._parts.append(enc)
        self.n_answers += enc.n_answers
        self.answers_per_volunteer += np.bincount(enc.volunteer, minlength=len(self.volunteer_ids))
        self.answered[touched] = True
        rows = dataclasses.replace(enc, building_ids=self.building_ids[touched], building=building.astype(np.int32))
        terms = self._model(rows, touched).log_likelihood(self.state.params, self.state.image_weight)
        self.log_likelihood[touched] += terms.by_state
        prior = self.state.building_prior
        if prior is None:
            self.posterior[touched] = posterior_and_evidence(self.log_likelihood[touched], self.state.log_prior)[0]
            self.changed = touched
        elif isinstance(prior, SpatialPrior):  # the priors of the buildings that have them as neighbours moved
            assert self._incoming is not None  # a spatial prior comes from neighbours=, which made it
            moved = np.union1d(touched, self._incoming[touched].indices)
            log_prior = prior.log_prior_of(moved, self.log_likelihood, self.state.log_prior)
            self.posterior[moved] = posterior_and_evidence(self.log_likelihood[moved], log_prior)[0]
            self.changed = moved
        else:  # another building prior: every building's
            log_prior = prior.step(self.log_likelihood, self.state.log_prior).log_prior
            self.posterior = posterior_and_evidence(self.log_likelihood, log_prior)[0]
            self.changed = np.arange(len(self.building_ids))
        return touched

    def update(self, enc: EncodedLabels) -> bool:
        """:meth:`add` the answers, then refit (with ``refit_options``) if one is due; whether it refitted."""
        self.add(enc)
        if not self.refit_due:
            return False
        self.refit(self.refit_options)
        return True

    def encoded(self) -> EncodedLabels:
        """Every answer so far, with the buildings that have answers as its buildings."""
        enc = _concat(self._parts, self._empty)
        self._parts = [enc]
        answered = np.flatnonzero(self.answered)
        code = np.full(len(self.building_ids), -1, dtype=np.int32)
        code[answered] = np.arange(answered.size, dtype=np.int32)
        return dataclasses.replace(enc, building_ids=self.building_ids[answered], building=code[enc.building])

    def refit(self, options: EMOptions | None = None) -> FitResult:
        """Run the EM over every answer so far, warm-started from the last fit; ``options`` default: the full
        fit's. The posterior and ``state`` become the last E-step's."""
        options = options or self.options
        if self.n_answers == 0:
            raise LabelsError("the fit has no answers yet: add some before refitting.")
        enc = self.encoded()
        answered = self.answered
        rows: np.ndarray | slice = np.flatnonzero(answered)
        if self.spatial is not None:  # every building of the universe, its prior from its neighbours
            enc = self._universe(enc)
            answered, rows = np.ones(len(self.building_ids), dtype=bool), slice(None)
            learned = self.m_step.building_prior
            start = learned if isinstance(learned, SpatialPrior) else self.spatial
            self.m_step.building_prior = start.answered_by(self.answered)
        model = self._model(enc, rows)
        last: list[EStep] = []

        def e_step(state: ModelState) -> EStep:
            step = model.e_step(state)
            last[:] = [step]
            return step

        fit = run_em(e_step, self.m_step, options)
        terms = last[0].terms
        assert terms is not None and fit.posterior is not None  # the in-memory E-step keeps both
        self.state = fit.state
        self.log_likelihood[answered] = terms.by_state
        self.posterior[answered] = fit.posterior
        prior = posterior_and_evidence(np.zeros((1, len(self.image_dates) + 1)), fit.state.log_prior)[0]
        self.posterior[~answered] = prior
        self.last_fit = fit
        self.changed = np.arange(len(self.building_ids))
        self._n_fitted = self.n_answers
        self._full = options == self.options
        return fit

    def _universe(self, enc: EncodedLabels) -> EncodedLabels:
        """``enc`` (as :meth:`encoded` gives it) over every building of the universe."""
        answered = np.flatnonzero(self.answered)
        return dataclasses.replace(
            enc, building_ids=self.building_ids, building=answered[enc.building].astype(np.int32)
        )

    def consensus(self) -> Consensus:
        """The fit as :func:`stracker.aggregate` returns one: the buildings and volunteers with answers (with the
        spatial prior: every building)."""
        enc = self.encoded()
        fit = self.last_fit
        if fit is None:
            raise LabelsError("the fit has no answers yet: add some and refit before asking for its consensus.")
        volunteers = volunteer_table(enc, fit.params)
        rows = self.answered
        spatial = None
        if isinstance(fit.building_prior, SpatialPrior):
            enc, rows, spatial = self._universe(enc), np.ones_like(rows), fit.building_prior.summary()
        return Consensus(
            buildings=summarize_posterior(enc, self.posterior[rows]),
            volunteers=volunteers[volunteers["n_labels"].to_numpy() > 0],
            posterior=self.posterior[rows],
            image_dates=self.image_dates,
            method="em",
            prior=fit.prior,
            log_likelihood=fit.log_likelihood,
            n_iter=fit.n_iter,
            converged=fit.converged,
            spatial_prior=spatial,
        )
