"""`import-pipeline bench skype --messages N`: one export imported, next to a raw COPY of its final rows.

A generated export (`generate/skype.py`, half of its messages in one chat) is imported as
the `skype/messages` asset imports it (`load/skype/messages.py`: byte-sized batches, each
merged under the engine's retry) into a scratch database (`import_pipeline_bench`); then
the same final message rows, streamed out with COPY, are COPYed into a table laid out and
indexed like `skype.messages`. Printed: messages/s, MB/s of the file, peak RSS (of this
process and of the parsing child), and the ratio; the last line is
`result: messages_per_s=... raw_ratio=... peak_rss_mb=...`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psycopg

from import_pipeline.bench.report import child_peak_rss_mb, peak_rss_mb, raw_copy_seconds, scratch_database
from import_pipeline.generate.skype import generate
from import_pipeline.load.skype.messages import import_messages


def run(server_url: str, *, messages: int, seed: int = 1) -> None:
    """Run the benchmark and print its table and `result:` line."""
    with tempfile.TemporaryDirectory() as scratch, scratch_database(server_url) as url:
        started = time.perf_counter()
        export = generate(Path(scratch), messages=messages, seed=seed)
        print(f"generated {export.messages:,} messages in {export.conversations} conversations "
              f"({export.bytes / 1e6:,.0f} MB) in {time.perf_counter() - started:.0f} s")
        result = import_messages(lambda: psycopg.connect(url), export.path)
        raw = raw_copy_seconds(url, create="CREATE TABLE raw_messages (LIKE skype.messages INCLUDING INDEXES)",
                               target="raw_messages", source="skype.messages")
    rate = result.messages / result.seconds
    raw_rate = result.messages / raw
    peak = max(peak_rss_mb(), child_peak_rss_mb())
    print(f"{'measurement':<36} {'messages':>10} {'seconds':>9} {'messages/s':>11} {'MB/s':>7}")
    print(f"{'import (read, parse, merge)':<36} {result.messages:>10,} {result.seconds:>9.2f} {rate:>11,.0f} "
          f"{export.bytes / 1e6 / result.seconds:>7.1f}")
    print(f"{'raw COPY of the final rows':<36} {result.messages:>10,} {raw:>9.2f} {raw_rate:>11,.0f}")
    print(f"batches {result.batches}, retries {result.retries}, rejects {result.rejects}; peak RSS: this process "
          f"{peak_rss_mb():,.0f} MiB, parsing child {child_peak_rss_mb():,.0f} MiB")
    print(f"result: messages_per_s={rate:.0f} raw_ratio={rate / raw_rate:.2f} peak_rss_mb={peak:.0f}")
