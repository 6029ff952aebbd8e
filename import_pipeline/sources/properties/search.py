"""The search crawl of one municipality: every villa's summary exactly once, or a clear shortfall.

The API pages through at most `window` hits of a query (10,000), and its offset pages shift
when addresses are added or removed during the crawl. So:

1. A query of the municipality whose `totalHits` fits in the window is paged through.
2. A bigger one is split by zip code (`zipCodes`, one code per query). The codes come from
   the municipality's own first and last window of results (ascending and descending by
   address: every road from A to Å, and a zip code holds many roads); the split is checked,
   not trusted: the zip codes' hits must add up to the municipality's, and a difference is
   reported as a shortfall.
3. A zip code still over the window is read from both ends (ascending, then descending by
   address), which covers it completely up to twice the window. The API offers no road
   filter, and sorting from both ends uses only documented parameters; a zip code with more
   than 2 x 10,000 villas would be reported as a shortfall.

Each query (a "segment") is read in passes. A pass is consistent when every page reported
the same `totalHits` and the pass found exactly that many distinct `addressID`s; a pass that
is not (pages shifted under it, a page failed) is read again, up to `passes` times; then the
union of what the passes saw is kept and the difference reported. Duplicates are dropped by
`addressID` within and across segments.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from import_pipeline.records import Reject
from import_pipeline.sources.properties.client import ApiError, PropertyApiClient, SearchPage

WINDOW = 10_000


@dataclass(frozen=True)
class Segment:
    """One search query: a municipality, optionally one zip code, read in one or both directions."""

    municipality: str
    zip_code: int | None = None

    def describe(self) -> str:
        return self.municipality + (f" zip {self.zip_code}" if self.zip_code is not None else "")


@dataclass
class SegmentReport:
    """How a segment was read: its hits, the distinct addresses kept, passes, duplicates seen."""

    segment: Segment
    total_hits: int = 0
    found: int = 0
    passes: int = 0
    duplicates: int = 0
    consistent: bool = False

    @property
    def shortfall(self) -> int:
        return max(self.total_hits - self.found, 0)


@dataclass
class SearchReport:
    """What a municipality's search crawl did; filled in while its summaries are read."""

    municipality: str
    total_hits: int = 0
    addresses: int = 0
    split_by_zip: bool = False
    zip_hits: int = 0
    segments: list[SegmentReport] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    requests: int = 0

    @property
    def shortfall(self) -> int:
        """Addresses the API counts that the crawl could not reach."""
        return max(self.total_hits - self.addresses, 0)

    @property
    def repaired_segments(self) -> int:
        """Segments that needed more than one pass."""
        return sum(1 for s in self.segments if s.passes > 1)


@dataclass
class _Pass:
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: list[int] = field(default_factory=list)
    duplicates: int = 0
    invalid: list[Reject] = field(default_factory=list)
    error: ApiError | None = None


class MunicipalitySearch:
    """`summaries()` yields each villa of `municipality` once; `report` says how it went.

    Pages of one pass are fetched by `executor` when one is given (in parallel, kept in
    order), else one after another; `on_page` is told each page's number of summaries (from
    the thread that fetched it, one call at a time). Memory holds one segment's summaries (at most twice the
    window), never the whole municipality's, apart from the set of ids already yielded.
    """

    def __init__(self, client: PropertyApiClient, municipality: str, *, per_page: int = 100,
                 window: int = WINDOW, passes: int = 3, executor: Executor | None = None,
                 on_page: Callable[[int], None] | None = None) -> None:
        if per_page > window:
            raise ValueError(f"per_page {per_page} is larger than the window {window}")
        self.client = client
        self.per_page = per_page
        self.window = window
        self.passes = passes
        self.executor = executor
        self.on_page = on_page
        self.report = SearchReport(municipality)
        self._yielded: set[str] = set()
        self._lock = threading.Lock()  # pages of a pass may be fetched on several threads

    def summaries(self) -> Iterator[dict[str, Any]]:
        municipality = self.report.municipality
        first = self._page(Segment(municipality), 1, ascending=True)
        self.report.total_hits = first.total_hits
        if first.total_hits <= self.window:
            yield from self._segment(Segment(municipality), first)
            return
        self.report.split_by_zip = True
        zip_codes = self._zip_codes(municipality)
        for zip_code in sorted(zip_codes):
            yield from self._segment(Segment(municipality, zip_code))
        self.report.zip_hits = sum(s.total_hits for s in self.report.segments)
        if self.report.zip_hits < first.total_hits:
            self.report.rejects.append(Reject(
                source=municipality,
                reason=f"the {len(zip_codes)} zip codes found in {municipality}'s first and last results hold "
                       f"{self.report.zip_hits:,} of its {first.total_hits:,} hits: a zip code was not found"))

    def _zip_codes(self, municipality: str) -> set[int]:
        codes: set[int] = set()
        for ascending in (True, False):
            for page in self._pass_pages(Segment(municipality), self.window, ascending):
                codes.update(z for a in page.addresses if isinstance(z := a.get("zipCode"), int))
        return codes

    def _segment(self, segment: Segment, first: SearchPage | None = None) -> Iterator[dict[str, Any]]:
        """Read `segment` in passes (the first may start from its `first` page, read already)."""
        report = SegmentReport(segment)
        self.report.segments.append(report)
        union: dict[str, dict[str, Any]] = {}
        result = _Pass()
        while report.passes < self.passes:
            report.passes += 1
            result = self._read_pass(segment, first)
            first = None
            report.duplicates += result.duplicates
            union.update(result.seen)
            report.total_hits = result.totals[-1] if result.totals else report.total_hits
            if result.error is None and len(set(result.totals)) == 1 \
                    and len(result.seen) + len(result.invalid) == result.totals[0]:
                report.consistent = True
                union = result.seen  # a consistent pass is the truth; earlier ones may hold removed addresses
                break
        report.found = len(union)
        self.report.rejects.extend(result.invalid)
        if not report.consistent:
            last = f"; last error: {result.error}" if result.error else ""
            self.report.rejects.append(Reject(
                source=segment.describe(),
                reason=f"search of {segment.describe()} found {report.found:,} distinct addresses of "
                       f"{report.total_hits:,} hits in {report.passes} passes{last}"))
        if segment.zip_code is None:
            self.report.total_hits = report.total_hits
        for address_id, summary in union.items():
            if address_id not in self._yielded:
                self._yielded.add(address_id)
                self.report.addresses += 1
                yield summary

    def _read_pass(self, segment: Segment, first: SearchPage | None) -> _Pass:
        """One pass over `segment`: the summaries by id, every page's totalHits, the duplicates
        and invalid summaries seen, and the error that cut the pass short, if one did."""
        result = _Pass()
        try:
            first = first or self._page(segment, 1, ascending=True)
            directions = [True] if first.total_hits <= self.window else [True, False]
            for ascending in directions:
                pages = self._pass_pages(segment, min(first.total_hits, self.window), ascending, skip_first=ascending)
                for page in itertools.chain([first] if ascending else [], pages):
                    result.totals.append(page.total_hits)
                    for summary in page.addresses:
                        address_id = summary.get("addressID") if isinstance(summary, dict) else None
                        if not isinstance(address_id, str) or not address_id:
                            result.invalid.append(Reject(source=page.url, reason="search result without addressID",
                                                         raw=repr(summary)))
                            continue
                        if address_id in result.seen:
                            result.duplicates += 1
                        result.seen[address_id] = summary
        except ApiError as exc:
            result.error = exc
            return result
        if len(directions) == 2:  # both ends overlap by design; that is not a shifted page
            result.duplicates = max(result.duplicates - max(2 * self.window - first.total_hits, 0), 0)
        return result

    def _pass_pages(self, segment: Segment, hits: int, ascending: bool,
                    skip_first: bool = False) -> Iterator[SearchPage]:
        pages = range(2 if skip_first else 1, -(-max(hits, 1) // self.per_page) + 1)
        if self.executor is None:
            for page in pages:
                yield self._page(segment, page, ascending)
        else:
            yield from self.executor.map(lambda p: self._page(segment, p, ascending), pages)

    def _page(self, segment: Segment, page: int, ascending: bool) -> SearchPage:
        with self._lock:
            self.report.requests += 1
        result = self.client.search(
            segment.municipality, page=page, per_page=self.per_page, ascending=ascending,
            zip_codes=(segment.zip_code,) if segment.zip_code is not None else (),
        )
        if self.on_page is not None:
            with self._lock:
                self.on_page(len(result.addresses))
        return result
