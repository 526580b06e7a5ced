"""Running a job's graph with progress and cancellation: local threads or a dask cluster.

Results go to a *sink* from store tasks (so blocks never pile up in the scheduler): an
in-memory numpy array (local runs) or an :class:`~napari_sisr.core.io.omezarr.OmeZarrWriter`
(local or cluster). :func:`iter_execute` yields the keys of finished store tasks as they finish
and stops within one tile when asked to.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import InputError
from ..progress import Cancelled
from .input import Layout


class NumpySink:
    """Writes blocks into an in-memory user-layout array (same process only)."""

    def __init__(self, out: np.ndarray, layout: Layout):
        self.out, self.layout = out, layout

    def put(self, lead, ys, xs, block) -> None:
        self.out[self.layout.user_region(lead, ys, xs)] = self.layout.to_user(block)


class ZarrSink:
    """Writes blocks into an OME-Zarr level 0 (+ pyramid), transposed to OME-NGFF order."""

    def __init__(self, writer, layout: Layout, perm: list[int]):
        self.writer, self.layout, self.perm = writer, layout, perm

    def put(self, lead, ys, xs, block) -> None:
        region = self.layout.user_region(lead, ys, xs)
        data = np.transpose(self.layout.to_user(block), self.perm)
        self.writer.write(tuple(region[p] for p in self.perm), data)


def _store(sink, lead, ys, xs, block) -> None:
    sink.put(lead, ys, xs, block)


def store_graph(arr, order, sink, skip: set[int]) -> tuple[Any, list, dict]:
    """Graph with one store task per block not in ``skip``; returns (graph, keys, key->index)."""
    from dask.highlevelgraph import HighLevelGraph

    name = "store-" + arr.name
    sink_key = ("sink-" + arr.name,)
    dsk: dict[Any, Any] = {sink_key: sink}
    keys, index = [], {}
    for i, (lead, block) in enumerate(order):
        if i in skip:
            continue
        k = (name, i)
        src = (arr.name, *lead, *block.index, 0)
        dsk[k] = (_store, sink_key, lead, block.dst[0], block.dst[1], src)
        keys.append(k)
        index[k] = i
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[arr])
    return graph, keys, index


def local_workers(num_workers: int | None) -> int:
    """Dask threads of a local run (default 2).

    Forward passes take turns (:data:`~napari_sisr.core.inference.runner.FORWARD_LOCK`) and
    use every core; the second dask thread reads and writes blocks meanwhile. Two networks
    running at once on a CPU only compete for memory bandwidth (see
    benchmarks/bench_efficiency.py).
    """
    return max(1, int(num_workers)) if num_workers else 2


def iter_execute(
    graph, keys: list, *, stop: Callable[[], bool], client=None, num_workers: int = 1
) -> Iterator[list[tuple[Any, Any]]]:
    """Compute ``keys`` of ``graph``; yield lists of ``(key, result)`` as tasks finish.

    Raises :class:`Cancelled` (after running tasks have finished) when ``stop()`` becomes
    true, and re-raises the first task error.
    """
    if not keys:
        return
    if client is not None:
        yield from _iter_cluster(client, graph, keys, stop)
    else:
        yield from _iter_threads(graph, keys, stop, num_workers)


def _iter_threads(graph, keys, stop, num_workers):
    import dask.threaded
    from dask.callbacks import Callback

    events: queue.Queue = queue.Queue()
    abort = threading.Event()
    wanted = set(keys)

    class _Watch(Callback):
        def _pretask(self, key, dsk, state):
            if abort.is_set():
                raise Cancelled("cancelled by the user")

        def _posttask(self, key, result, dsk, state, id):
            if key in wanted:
                events.put(("done", (key, result)))

    def target():
        try:
            dask.threaded.get(graph, keys, num_workers=num_workers, callbacks=[_Watch()._callback])
            events.put(("end", None))
        except BaseException as err:  # noqa: BLE001 - handed to the consuming thread
            events.put(("error", err))

    worker = threading.Thread(target=target, name="napari-sisr-predict", daemon=True)
    worker.start()
    try:
        while True:
            if stop():
                abort.set()
                worker.join()
                raise Cancelled("cancelled by the user")
            try:
                kind, value = events.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            batch = [value]
            while True:
                try:
                    kind2, value2 = events.get_nowait()
                except queue.Empty:
                    break
                if kind2 == "done":
                    batch.append(value2)
                else:
                    events.put((kind2, value2))
                    break
            yield batch
    finally:
        abort.set()
        worker.join()


def _iter_cluster(client, graph, keys, stop):
    from distributed import as_completed

    futures = client.get(dict(graph), keys, sync=False)
    pending = as_completed(futures)
    try:
        while not pending.is_empty():
            if stop():
                client.cancel(futures)
                raise Cancelled("cancelled by the user")
            done = pending.next_batch(block=False)
            if not done:
                time.sleep(0.05)
                continue
            batch = []
            for fut in done:
                if fut.status == "error":
                    fut.result()  # raises the task's exception
                batch.append((fut.key, fut.result() if fut.status == "finished" else None))
                fut.release()
            yield batch
    finally:
        client.cancel([f for f in futures if not f.done()])


def get_client(scheduler):
    """A ``distributed.Client`` from a Client or a scheduler address; and whether we own it."""
    try:
        from distributed import Client
    except ImportError:  # an optional dependency
        raise InputError(
            "running on a cluster needs the 'distributed' package: pip install "
            "'napari-sisr[distributed]'"
        ) from None
    if isinstance(scheduler, Client):
        return scheduler, False
    try:
        return Client(str(scheduler), timeout="20s"), True
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"cannot reach the dask scheduler {scheduler}: {err}") from None


def cluster_threads(client) -> dict[str, int]:
    """Host -> number of worker processes there (to size torch's threads on each worker)."""
    hosts: dict[str, int] = {}
    for addr in client.scheduler_info().get("workers", {}):
        host = addr.split("://")[-1].rsplit(":", 1)[0]
        hosts[host] = hosts.get(host, 0) + 1
    return hosts
