"""The property API the crawl talks to, and how hard it may be pushed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from import_pipeline.load.properties.phase import PhaseSettings
from import_pipeline.sources.properties.client import PropertyApiClient, RetryPolicy
from import_pipeline.sources.properties.pacing import RequestPacer

BASE_URL_ENV = "IMPORT_PIPELINE_PROPERTY_API_URL"


class PropertyApi(dg.ConfigurableResource):
    """The property API: where it is, its rate limit (shared by every crawl running at once),
    concurrency, timeouts, retries and the share of failures a run tolerates.

    With no `base_url`, `IMPORT_PIPELINE_PROPERTY_API_URL` is used.
    """

    base_url: str | None = Field(default=None, description=f"API base URL; default: ${BASE_URL_ENV}")
    rate_limit: float | None = Field(
        default=10.0, gt=0, description="Requests/s for all crawls together (null: no limit)")
    workers: int | None = Field(
        default=None, ge=1, description="Requests in flight per run; default: from the rate limit and latency")
    max_workers: int = Field(default=16, ge=1, description="Most requests in flight per run (connection pool size)")
    per_page: int = Field(default=100, ge=1, le=1000, description="Search results per page")
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect")
    read_timeout: float = Field(default=30.0, gt=0, description="Seconds to wait for an answer")
    attempts: int = Field(default=RetryPolicy.attempts, ge=1,
                          description="Tries per request (connection errors, timeouts, 5xx, 429)")
    backoff_seconds: float = Field(default=RetryPolicy.backoff, ge=0,
                                   description="Backoff base: try n waits a random time up to base x 2^(n-1)")
    backoff_max_seconds: float = Field(default=RetryPolicy.backoff_max, ge=0, description="Longest backoff")
    blocked_pause_seconds: float = Field(default=RetryPolicy.blocked_pause, ge=0,
                                         description="Least wait after a 403 before trying again")
    blocked_slowdown_seconds: float = Field(default=RetryPolicy.blocked_seconds, ge=0,
                                            description="How long a 403 halves the rate")
    max_failure_ratio: float = Field(
        default=0.01, ge=0, le=1, description="Share of documents that may fail before the run fails")
    batch_size: int = Field(default=200, ge=1, description="Documents per committed batch")
    progress_seconds: float = Field(default=5.0, gt=0, description="Seconds between progress lines")

    def url(self) -> str:
        """The API base URL; `dg.Failure` when none is configured."""
        url = self.base_url or os.environ.get(BASE_URL_ENV)
        if not url:
            raise dg.Failure(description=f"no property API configured: set {BASE_URL_ENV} or the property_api "
                                         "resource's base_url")
        return url

    @contextmanager
    def client(self) -> Iterator[PropertyApiClient]:
        """A client paced at the full rate limit (a run narrows it to its share), closed after the block."""
        policy = RetryPolicy(attempts=self.attempts, backoff=self.backoff_seconds,
                             backoff_max=self.backoff_max_seconds, blocked_pause=self.blocked_pause_seconds,
                             blocked_seconds=self.blocked_slowdown_seconds)
        with PropertyApiClient(self.url(), pool_size=max(self.max_workers, self.workers or 0),
                               pacer=RequestPacer(self.rate_limit), policy=policy,
                               timeouts=(self.connect_timeout, self.read_timeout)) as client:
            yield client

    def phase_settings(self, *, refresh: bool) -> PhaseSettings:
        """How a fetch phase runs under this configuration."""
        return PhaseSettings(workers=self.workers, max_workers=self.max_workers, batch_size=self.batch_size,
                             progress_seconds=self.progress_seconds, max_failure_ratio=self.max_failure_ratio,
                             refresh=refresh)


@dg.definitions
def properties_resources() -> dg.Definitions:
    """The `property_api` resource."""
    return dg.Definitions(resources={"property_api": PropertyApi()})
