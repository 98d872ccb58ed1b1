"""The sequential part of graph coloring (:mod:`.coloring`): conflict graphs, vertex orders, greedy colorings.

A :class:`Graph` is a conflict graph in CSR form, without its diagonal; it colors itself first-fit in
each vertex order asked of it, distance-1 (the conflict graph of columns or rows) or star (the
adjacency graph of a symmetric pattern), and keeps the colorings. Only numpy and scipy are used.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush

import numpy as np
import scipy.sparse as sp


class Graph:
    """A conflict graph (CSR adjacency without the diagonal) and the colorings found on it, one per order.

    Built once per pattern and kind (see :func:`.coloring._conflict_graph`), so that the orders tried one after
    the other (``Sparse``'s ``"greedy"`` tries three) share the sparse products that build it.
    """

    def __init__(self, p: sp.csr_array, indptr: np.ndarray, indices: np.ndarray) -> None:
        # A copy of the pattern it was built from, to recognise that pattern when it comes again.
        self.shape = p.shape
        self.key = (p.indptr.copy(), p.indices.copy())
        self.n = indptr.size - 1
        self.indptr = indptr.astype(np.int64)
        self.indices = indices
        self.degree = np.diff(self.indptr)
        self.colorings: dict[str, np.ndarray] = {}

    def built_from(self, p: sp.csr_array) -> bool:
        return (
            p.shape == self.shape and np.array_equal(p.indptr, self.key[0]) and np.array_equal(p.indices, self.key[1])
        )

    def neighbours(self) -> memoryview:
        """The neighbours of all vertices, one after the other: a view, whose slices and items are cheap in loops.

        (Converting them to a list would cost more than the loops, making a Python int for each.)
        """
        return memoryview(self.indices)

    def rows(self) -> np.ndarray:
        """The source vertex of every edge, in storage order."""
        return np.repeat(np.arange(self.n, dtype=self.indices.dtype), self.degree)

    def coloring(self, order: str, star: bool) -> np.ndarray:
        """The first-fit coloring in `order` (distance-1, or star with `star`), computed on first request."""
        colors = self.colorings.get(order)
        if colors is None:
            if order == "dsatur":
                colors = _greedy_star(self, None) if star else _dsatur_distance1(self)
            else:
                vertices = self.order(order)
                if order != "natural" and np.array_equal(vertices, np.arange(self.n)):
                    colors = self.coloring("natural", star)  # the same order gives the same coloring
                else:
                    colors = _greedy_star(self, vertices) if star else _greedy_distance1(self, vertices)
            colors.flags.writeable = False
            self.colorings[order] = colors
        return colors

    def order(self, order: str) -> np.ndarray:
        """The vertices in the order they are colored, for the static orders (all but "dsatur")."""
        if order == "natural":
            return np.arange(self.n)
        if order == "largest_first":
            return np.argsort(-self.degree, kind="stable")
        # These two pop from sets, whose order depends on the order of insertion: go through sorted neighbours.
        s = sp.csr_array((np.ones(self.indices.size, dtype=bool), self.indices, self.indptr), shape=(self.n, self.n))
        s.sort_indices()
        indptr, indices = s.indptr.tolist(), s.indices.tolist()
        if order == "smallest_last":
            return np.asarray(_smallest_last(indptr, indices, self.degree.tolist()), dtype=np.int64)
        return np.asarray(_incidence_degree(indptr, indices, int(self.degree.max(initial=0))), dtype=np.int64)


def _smallest_last(indptr: list[int], indices: list[int], degree: list[int]) -> list[int]:
    """Degeneracy order: repeatedly remove a vertex of minimum current degree; color in reverse removal order."""
    n = len(degree)
    buckets: list[set[int]] = [set() for _ in range(max(degree, default=0) + 1)]
    for v, d in enumerate(degree):
        buckets[d].add(v)
    removed = [False] * n
    removal: list[int] = []
    low = 0
    for _ in range(n):
        while not buckets[low]:
            low += 1
        v = buckets[low].pop()
        removed[v] = True
        removal.append(v)
        for w in indices[indptr[v] : indptr[v + 1]]:
            if not removed[w]:
                d = degree[w]
                buckets[d].remove(w)
                buckets[d - 1].add(w)
                degree[w] = d - 1
        if low:
            low -= 1  # the minimum degree drops by at most one per removal
    removal.reverse()
    return removal


def _incidence_degree(indptr: list[int], indices: list[int], max_degree: int) -> list[int]:
    """Repeatedly take the unordered vertex with the most already-ordered neighbours."""
    n = len(indptr) - 1
    incidence = [0] * n
    buckets: list[set[int]] = [set() for _ in range(max_degree + 1)]
    buckets[0].update(range(n))
    done = [False] * n
    result: list[int] = []
    high = 0
    for _ in range(n):
        while not buckets[high]:
            high -= 1
        v = buckets[high].pop()
        done[v] = True
        result.append(v)
        for w in indices[indptr[v] : indptr[v + 1]]:
            if not done[w]:
                d = incidence[w]
                buckets[d].remove(w)
                buckets[d + 1].add(w)
                incidence[w] = d + 1
                if d + 1 > high:
                    high = d + 1
    return result


# ------------------------------------------------------------------ greedy colorings
#
# The loops below are the sequential part of the colorings, kept to a few Python operations per edge:
# the colors seen around a vertex are bit masks (bit c set: color c seen), so a vertex's first free
# color is the lowest zero bit of its mask, ``(~mask & (mask + 1)).bit_length() - 1``.
#
# DSATUR takes next the uncolored vertex with the most distinct neighbour colors (its saturation),
# ties by larger degree, then by smaller index. Its queue is a bucket per saturation, each a heap of
# ``rank = (max degree - degree) * n + vertex`` (smallest first: the tie-breaks): coloring a vertex
# raises the saturation of some neighbours by one, and each raise pushes the neighbour into the next
# bucket, leaving an outdated entry behind (skipped when popped, as its saturation no longer matches).
# Vertices of saturation 0 are never pushed: they are taken from one list sorted by rank.


def _dsatur_queue(graph: Graph) -> tuple[list[int], list[list[int]], list[int], Callable[[int], tuple[int, int]]]:
    """DSATUR's vertex queue: ``(rank of each vertex, one heap of ranks per saturation, the saturation of
    each vertex (-1 once colored), pop)``. The caller raises ``saturation[w]``, pushes ``rank[w]`` on
    that saturation's heap and keeps ``high`` (no heap above holds a vertex) in its own loop;
    ``pop(high)`` returns ``(v, high)``: the uncolored vertex of highest saturation (ties: larger
    degree, then smaller index), now marked colored."""
    n = graph.n
    top = int(graph.degree.max(initial=0))
    ranks = (top - graph.degree) * n + np.arange(n)
    rank, by_rank = ranks.tolist(), np.argsort(ranks).tolist()
    buckets: list[list[int]] = [[] for _ in range(top + 1)]
    saturation = [0] * n
    next_unsaturated = 0

    def pop(high: int) -> tuple[int, int]:
        nonlocal next_unsaturated
        while high:
            bucket = buckets[high]
            if bucket:
                v = heappop(bucket) % n
                if saturation[v] == high:  # else a stale entry: v was raised further, or colored
                    break
            else:
                high -= 1
        else:  # every uncolored vertex has saturation 0
            v = by_rank[next_unsaturated]
            next_unsaturated += 1
            while saturation[v]:
                v = by_rank[next_unsaturated]
                next_unsaturated += 1
        saturation[v] = -1
        return v, high

    return rank, buckets, saturation, pop


def _greedy_distance1(graph: Graph, order: np.ndarray) -> np.ndarray:
    """First-fit distance-1 coloring in the given vertex order: each vertex takes the lowest color of no neighbour.

    Only the neighbours earlier in the order are colored when a vertex is, so only they are listed.
    """
    n = graph.n
    rows = graph.rows()
    if np.array_equal(order, np.arange(n)):
        earlier = graph.indices < rows
    else:
        position = np.empty(n, dtype=np.int64)
        position[order] = np.arange(n)
        earlier = position[graph.indices] < position[rows]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[earlier], minlength=n), out=indptr[1:])
    starts, neighbours = indptr.tolist(), memoryview(graph.indices[earlier])
    colors = [0] * n
    bits = [0] * n  # 1 << color, for the colored vertices
    for v in order.tolist():
        seen = 0
        for w in neighbours[starts[v] : starts[v + 1]]:
            seen |= bits[w]
        c = (~seen & (seen + 1)).bit_length() - 1
        colors[v] = c
        bits[v] = 1 << c
    return np.asarray(colors, dtype=np.int64)


def _dsatur_distance1(graph: Graph) -> np.ndarray:
    """First-fit distance-1 coloring in DSATUR order: the saturation of a vertex is the popcount of its mask."""
    n = graph.n
    starts, neighbours = graph.indptr.tolist(), graph.neighbours()
    rank, buckets, saturation, pop = _dsatur_queue(graph)
    colors = [0] * n
    seen = [0] * n  # the colors of the colored neighbours; -1 (all bits) once colored, so never updated again
    high = 0  # no bucket above holds a vertex
    for _ in range(n):
        v, high = pop(high)
        mask = seen[v]
        c = (~mask & (mask + 1)).bit_length() - 1
        colors[v] = c
        seen[v] = -1
        bit = 1 << c
        for w in neighbours[starts[v] : starts[v + 1]]:
            mask = seen[w]
            if not mask & bit:
                seen[w] = mask | bit
                s = saturation[w] + 1
                saturation[w] = s
                heappush(buckets[s], rank[w])
                if s > high:
                    high = s
    return np.asarray(colors, dtype=np.int64)


def _greedy_star(graph: Graph, order: np.ndarray | None) -> np.ndarray:
    """First-fit star coloring: each vertex takes the smallest color that creates no two-colored path on 4 vertices.

    In the given vertex order, or in DSATUR order (saturation: distinct colors of the distance-1
    neighbours) when `order` is None. When `v` is colored, with ``w`` a colored neighbour and ``x`` a
    colored neighbour of ``w`` (``x != v`` as ``v`` is not colored yet), color ``color(x)`` would make
    a two-colored path

    * ``u-v-w-x`` if ``v`` has another colored neighbour ``u != w`` of color ``color(w)``;
    * ``v-w-x-y`` if ``x`` has another colored neighbour ``y != w`` of color ``color(w)``;

    and these are the only new paths, so the partial coloring stays a star coloring. The masks that
    tell which colors `v` avoids are kept by :class:`_StarColoring`.
    """
    star = _StarColoring(graph)
    if order is not None:
        for v in order.tolist():
            star.color(v, None)
        return np.asarray(star.colors, dtype=np.int64)
    rank, buckets, saturation, pop = _dsatur_queue(graph)
    high = 0  # no bucket above holds a vertex
    raised: list[int] = []
    for _ in range(graph.n):
        v, high = pop(high)
        star.color(v, raised)
        for w in raised:
            s = saturation[w] + 1
            saturation[w] = s
            heappush(buckets[s], rank[w])
            if s > high:
                high = s
        raised.clear()
    return np.asarray(star.colors, dtype=np.int64)


class _StarColoring:
    """A first-fit star coloring in progress (see :func:`_greedy_star`): the colors so far, and per vertex,
    as masks over its colored neighbours, what tells which colors a vertex being colored must avoid.

    ``once`` and ``twice`` hold the colors seen at least once and at least twice; and, for a colored
    ``w``, ``danger[w]`` holds the colors of the colored neighbours ``x`` of ``w`` that have
    ``color(w)`` twice around them (the second case of :func:`_greedy_star`). So ``v`` avoids, for
    each colored neighbour ``w``, ``color(w)`` and either ``once[w]`` (first case, when ``twice[v]``
    has ``color(w)``) or ``danger[w]``. Keeping ``danger`` up to date is the work of each coloring:
    ``v`` enters ``danger[w]`` of a colored neighbour ``w`` whose color it has twice; ``danger[v]``
    starts from the colored neighbours that have ``color(v)`` twice; and when a colored ``w`` gets
    its second neighbour of color ``c``, ``w`` enters ``danger`` of its neighbours of color ``c``.
    """

    def __init__(self, graph: Graph) -> None:
        n = graph.n
        self.starts, self.neighbours = graph.indptr.tolist(), graph.neighbours()
        self.colors = [0] * n
        self.bits = [0] * n  # 1 << color, for the colored vertices
        self.once = [0] * n
        self.twice = [0] * n
        self.danger = [0] * n

    def color(self, v: int, raised: list[int] | None) -> None:
        """Color `v` first-fit and update the masks around it; append to `raised` (if given) each uncolored
        neighbour that sees a new color (whose DSATUR saturation grows)."""
        bits, once, twice, danger = self.bits, self.once, self.twice, self.danger
        neighbours = self.neighbours
        around = neighbours[self.starts[v] : self.starts[v + 1]]
        forbidden = 0
        pairs = twice[v]
        for w in around:
            bw = bits[w]
            if bw:
                forbidden |= bw | (once[w] if pairs & bw else danger[w])
        c = (~forbidden & (forbidden + 1)).bit_length() - 1
        self.colors[v] = c
        bit = bits[v] = 1 << c
        mine = 0
        for w in around:
            bw = bits[w]
            mask = once[w]
            if not mask & bit:
                once[w] = mask | bit
                if raised is not None and not bw:
                    raised.append(w)
            elif not twice[w] & bit:
                twice[w] |= bit
                if bw:  # w has color c twice around it now: its neighbours of color c see w's color in danger
                    for y in neighbours[self.starts[w] : self.starts[w + 1]]:
                        if bits[y] == bit:
                            danger[y] |= bw
            if bw:
                if twice[w] & bit:
                    mine |= bw
                if pairs & bw:
                    danger[w] |= bit
        danger[v] = mine
