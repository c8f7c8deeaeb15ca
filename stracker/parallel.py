"""Threads: how many a call runs on, and independent steps run side by side on them.

The in-memory engine runs its blocks on a pool of threads (:mod:`stracker.consensus.blocks`), and
:func:`stracker.encode_labels` encodes a large table's columns two at a time; both take ``threads``
(``--threads`` on the command line), else ``$STRACKER_THREADS``, else every CPU this process may use, and one in a
task on a Dask worker, whose threads are the parallelism there. What runs side by side is numpy, pandas' and
Arrow's work on whole columns and numba's compiled loops, which release the GIL; the results never depend on the
number of threads.

The threads are a pool kept for the process (:func:`shared_pool`), as numba's and BLAS's are: a fit starts none
of its own. Starting a thread and joining it again cost about 0.4 ms a fit on a virtual machine, a tenth of the
whole call on 200,000 answers. The caller's thread always works beside the pool's (:func:`thread_map`,
:func:`side_by_side`) and runs what no pool thread has taken, so calls from several threads at once, or from a
task on the pool itself, share the pool without waiting on each other.
"""

from __future__ import annotations

import numbers
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from stracker.errors import OptionsError

__all__ = [
    "POOL_THREADS",
    "THREADS_VARIABLE",
    "available_cpus",
    "in_dask_worker",
    "resolve_threads",
    "shared_pool",
    "side_by_side",
    "thread_map",
]

T = TypeVar("T")
R = TypeVar("R")

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


POOL_THREADS = max(32, 2 * available_cpus())
"""Threads the process's pool (:func:`shared_pool`) holds at most (32, or twice the CPUs this process may use
where that is more); it starts them only as calls need them."""

_POOL: list[ThreadPoolExecutor] = []  # the one pool, once made
_POOL_LOCK = threading.Lock()


def _forget_pool() -> None:
    """In a forked child: the parent's pool threads do not exist there, so its pool is not used."""
    global _POOL_LOCK
    _POOL.clear()
    _POOL_LOCK = threading.Lock()  # the parent may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def shared_pool() -> ThreadPoolExecutor:
    """The process's pool of threads (named ``stracker_...``), made on first use and kept.

    A task handed to it runs on an idle thread, or on a new one while there are fewer than
    :data:`POOL_THREADS`: steps that hand out steps of their own (the encoding's columns, side by side, each
    encoding its parts side by side) still find a free thread. How many threads one call uses is the call's
    ``threads`` (:func:`thread_map`, :func:`side_by_side`), at most :data:`POOL_THREADS` plus the caller's. Idle,
    the threads wait on the pool's queue and take no CPU time; they last as long as the process. A forked child
    makes a pool of its own.

    Examples
    --------
    >>> shared_pool() is shared_pool()
    True
    """
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="stracker"))
        return _POOL[0]


class _Items:
    """The next item to take, for several threads: each index once, in order, until stopped."""

    def __init__(self, n: int) -> None:
        self.n, self.next, self.stopped = n, 0, False
        self.lock = threading.Lock()  # not the GIL's atomicity: a free-threaded build has none

    def take(self) -> int | None:
        with self.lock:
            if self.stopped or self.next >= self.n:
                return None
            self.next += 1
            return self.next - 1

    def stop(self) -> None:
        with self.lock:
            self.stopped = True


def thread_map(fn: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``threads`` threads: the caller's and the shared pool's
    (:func:`shared_pool`).

    The caller's thread runs the first item, then each thread takes the next item as it is free: items of unequal
    cost still share the threads evenly, the caller works from the start instead of waiting for a pool thread to
    wake (about 0.1 ms on a virtual machine, twice in each of a fit's iterations), and a pool busy elsewhere
    leaves its share to the caller. If calls fail, the error of the first failing item in order is raised, as the
    list comprehension would; an interrupt (``KeyboardInterrupt``, ``SystemExit``) is raised at once, once the
    items already running have finished and no other is taken. Nothing of the call runs after it returns.

    Examples
    --------
    >>> thread_map(lambda x: x * x, range(5), threads=2)
    [0, 1, 4, 9, 16]
    """
    workers = min(threads, len(items))
    if workers < 2:
        return [fn(item) for item in items]
    outcomes: list[tuple[bool, Any] | None] = [None] * len(items)
    queue = _Items(len(items))

    def run(i: int) -> None:
        try:
            outcomes[i] = (True, fn(items[i]))
        except Exception as exc:  # raised below, in order
            outcomes[i] = (False, exc)
        except BaseException:  # an interrupt: no more items, raised now
            queue.stop()
            raise

    def drain() -> None:
        while (i := queue.take()) is not None:
            run(i)

    first = queue.take()  # the caller's, taken before any helper can start
    assert first is not None  # there are items
    helpers: list[Future[None]] = []
    interrupts: list[BaseException] = []
    try:
        for _ in range(workers - 1):
            try:
                helpers.append(shared_pool().submit(drain))
            except RuntimeError:  # the interpreter is shutting down: no new threads, the caller does it all
                break
        run(first)
        drain()
    except BaseException:
        queue.stop()
        raise
    finally:
        # the helpers still queued are cancelled (the caller did their share); those running are waited for
        for helper in helpers:
            if not helper.cancel() and (error := helper.exception()) is not None:
                interrupts.append(error)  # only an interrupt leaves a helper: the items' errors are outcomes
    if interrupts:
        raise interrupts[0]
    results: list[R] = []
    for outcome in outcomes:
        assert outcome is not None  # every item was taken
        ok, value = outcome
        if not ok:
            raise value
        results.append(value)
    return results


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
    return thread_map(lambda step: step(), steps, threads)
