"""Threads: how many a call runs on, and independent steps run side by side on them.

The in-memory engine runs its blocks on a pool of threads (:mod:`stracker.consensus.blocks`), and
:func:`stracker.encode_labels` encodes a large table's columns two at a time; both take ``threads``
(``--threads`` on the command line), else ``$STRACKER_THREADS``, else every CPU this process may use, and one in a
task on a Dask worker, whose threads are the parallelism there. What runs side by side is numpy, pandas' and
Arrow's work on whole columns and numba's compiled loops, which release the GIL; the results never depend on the
number of threads.
"""

from __future__ import annotations

import numbers
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stracker.errors import OptionsError

__all__ = ["THREADS_VARIABLE", "available_cpus", "in_dask_worker", "resolve_threads", "side_by_side"]

THREADS_VARIABLE = "STRACKER_THREADS"
"""Environment variable giving the default number of threads (the in-memory engine, encoding a table)."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one).

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    count = getattr(os, "process_cpu_count", None)  # Python 3.13
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def in_dask_worker() -> bool:
    """Whether this runs in a task on a Dask worker (whose threads already run tasks side by side).

    Examples
    --------
    >>> in_dask_worker()
    False
    """
    distributed = sys.modules.get("distributed")  # never imported here: a worker has imported it
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def resolve_threads(threads: int | None) -> int:
    """The number of threads to run on: ``threads``, else ``$STRACKER_THREADS``, else :func:`available_cpus` (one in
    a task on a Dask worker, whose threads are the parallelism there, as Dask sets BLAS's to one).

    Raises
    ------
    OptionsError
        If ``threads`` (or the variable) is not a whole number >= 1.

    Examples
    --------
    >>> resolve_threads(2)
    2
    >>> resolve_threads(0)
    Traceback (most recent call last):
    ...
    stracker.errors.OptionsError: threads must be a whole number >= 1 (or None: every CPU this process may use), got 0.
    """
    if threads is None:
        text = os.environ.get(THREADS_VARIABLE, "").strip()
        if not text:
            return 1 if in_dask_worker() else available_cpus()
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise OptionsError(
                f"the environment variable {THREADS_VARIABLE}={text!r} must be a whole number >= 1; set it to a "
                f"number of threads, or unset it to use all the CPUs this process may use."
            )
        return value
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise OptionsError(
            f"threads must be a whole number >= 1 (or None: every CPU this process may use), got {threads!r}."
        )
    return int(threads)


def side_by_side(steps: Sequence[Callable[[], Any]], threads: int) -> list[Any]:
    """Run independent ``steps`` (functions of no arguments) on up to ``threads`` threads and return their
    results in order; the caller's thread runs the first. If steps fail, the error of the first failing step in
    order is raised, whatever the timing, so that a table with two faults always names the same one first.

    Examples
    --------
    >>> side_by_side([lambda: 1, lambda: 2], threads=2)
    [1, 2]
    >>> side_by_side([lambda: 1, lambda: 1 // 0], threads=2)
    Traceback (most recent call last):
    ...
    ZeroDivisionError: integer division or modulo by zero
    """
    if threads < 2 or len(steps) < 2:
        return [step() for step in steps]
    with ThreadPoolExecutor(min(threads, len(steps)) - 1, thread_name_prefix="stracker") as pool:
        later = [pool.submit(step) for step in steps[1:]]
        outcomes: list[tuple[bool, Any]] = []
        for run in [steps[0], *(future.result for future in later)]:
            try:
                outcomes.append((True, run()))
            except BaseException as exc:
                outcomes.append((False, exc))
    for ok, value in outcomes:
        if not ok:
            raise value
    return [value for _, value in outcomes]
