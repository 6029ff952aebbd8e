"""The search phase: a municipality's villas, as listed by the API, as `properties.search_results` rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from import_pipeline.load.properties.fetch import CrawlFailed
from import_pipeline.records import Reject, RowStream
from import_pipeline.sources.properties.client import PropertyApiClient
from import_pipeline.sources.properties.documents import SUMMARY_COLUMNS, ValidationError, problem, summary_row
from import_pipeline.sources.properties.search import WINDOW, MunicipalitySearch, SearchReport

#: Search pages fetched at once within one pass.
PAGE_WORKERS = 4


def search_rows(client: PropertyApiClient, municipality: str, *, per_page: int, max_failure_ratio: float,
                log: Callable[[str], None], window: int = WINDOW, progress_seconds: float = 5.0) -> RowStream:
    """Every villa of `municipality` once, as a RowStream of `SUMMARY_COLUMNS` (without the
    municipality column: the partition key fills it).

    The rows are produced while the stream is read, with a progress line every
    `progress_seconds`. When it is exhausted, the crawl's summary is logged; if the addresses
    the crawl could not reach are more than `max_failure_ratio` of the hits, `CrawlFailed`
    is raised instead (a writer in a transaction then keeps the previous search results).
    """
    pages = [0, 0]  # pages read, summaries seen
    last_line = [time.monotonic()]

    def on_page(summaries: int) -> None:
        pages[0] += 1
        pages[1] += summaries
        if time.monotonic() - last_line[0] >= progress_seconds:
            last_line[0] = time.monotonic()
            log(f"search of {municipality}: {pages[0]:,} pages read, {pages[1]:,} summaries seen, "
                f"{client.stats.snapshot().get('retries', 0):,} retries")

    search = MunicipalitySearch(client, municipality, per_page=per_page, window=window, on_page=on_page)
    stream = RowStream(columns=SUMMARY_COLUMNS, rows=iter(()))

    def rows() -> Iterator[tuple[Any, ...]]:
        with ThreadPoolExecutor(PAGE_WORKERS, thread_name_prefix="search") as pages:
            search.executor = pages
            for summary in search.summaries():
                try:
                    yield summary_row(summary)
                except ValidationError as exc:
                    search.report.rejects.append(Reject(source=f"search of {municipality}",
                                                        reason=f"invalid summary: {problem(exc)}", raw=str(summary)))
        report = search.report
        stream.rejects.extend(report.rejects)
        log(describe(report))
        if report.total_hits and report.shortfall / report.total_hits > max_failure_ratio:
            raise CrawlFailed(f"search of {municipality}: {report.shortfall:,} of {report.total_hits:,} addresses "
                              f"could not be listed (more than {max_failure_ratio:.1%}); see import_pipeline.rejects")

    stream.rows = rows()
    return stream


def describe(report: SearchReport) -> str:
    """The search crawl in one line: hits, addresses listed, how it was split and repaired."""
    split = (f", split into {len(report.segments)} zip codes ({report.zip_hits:,} hits)"
             if report.split_by_zip else "")
    repaired = f", {report.repaired_segments} shifted queries read again" if report.repaired_segments else ""
    duplicates = sum(s.duplicates for s in report.segments)
    return (f"search of {report.municipality}: {report.addresses:,} addresses of {report.total_hits:,} hits"
            f"{split}{repaired}, {duplicates:,} duplicates dropped, {report.shortfall:,} missing, "
            f"{report.requests:,} requests")
