-- Set-based statements of the datasets import (import_pipeline.load.datasets).

-- name: current_commit
SELECT c.commit_id, c.source_sha256
FROM datasets.datasets d
JOIN datasets.refs r ON r.dataset_id = d.id AND r.name = %(ref)s
JOIN datasets.commits c ON c.commit_id = r.commit_id
WHERE d.name = %(dataset)s;

-- name: row_offsets
-- Per table, the last row number of a commit: appended rows are numbered after it.
SELECT coalesce(jsonb_object_agg(table_key, last_row), '{}') AS row_offsets
FROM (SELECT substring(logical_row_id FROM '^(.*):[0-9]+$') AS table_key,
             max(substring(logical_row_id FROM ':([0-9]+)$')::bigint) AS last_row
      FROM datasets.commit_rows WHERE commit_id = %(commit_id)s GROUP BY 1) t;

-- name: start_import
INSERT INTO datasets.imports (import_id, commit_id, parent_commit_id, row_offsets, dataset_name, ref_name, mode,
                              source_file, source_sha256)
VALUES (%(import_id)s, %(commit_id)s, %(parent)s, %(row_offsets)s, %(dataset)s, %(ref)s, %(mode)s,
        %(source_file)s, %(sha256)s)
ON CONFLICT (import_id) DO NOTHING;

-- name: import_state
SELECT staged_rows, staged_batches, rejects, staged_at IS NOT NULL AS staged, commit_id, parent_commit_id,
       row_offsets
FROM datasets.imports WHERE import_id = %(import_id)s;

-- name: commit_rows_estimate
-- The planner's estimate of commit_rows' row count (0 before the first ANALYZE).
SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'datasets.commit_rows'::regclass;

-- name: commit_without_waiting
-- A staging transaction does not wait for its WAL to reach disk. A crash can lose only the
-- last transactions in WAL order, and a batch's checkpoint commits after its contents, so a
-- surviving checkpoint never covers lost contents; the import's commit waits as usual.
SET LOCAL synchronous_commit = off;

-- name: create_batch_rows
CREATE TEMP TABLE IF NOT EXISTS datasets_batch_rows (row_hash uuid, data jsonb) ON COMMIT DELETE ROWS;

-- name: insert_batch_rows
INSERT INTO datasets.rows (row_hash, data)
SELECT row_hash, data FROM datasets_batch_rows
ON CONFLICT (row_hash) DO NOTHING;

-- name: checkpoint
UPDATE datasets.imports
SET staged_rows = staged_rows + %(rows)s, staged_batches = staged_batches + 1,
    rejects = rejects + %(rejects)s, bytes = %(bytes)s
WHERE import_id = %(import_id)s;

-- name: finish_staging
UPDATE datasets.imports SET staged_at = now() WHERE import_id = %(import_id)s;

-- name: upsert_dataset
INSERT INTO datasets.datasets (name, description) VALUES (%(dataset)s, %(description)s)
ON CONFLICT (name) DO UPDATE SET description = coalesce(excluded.description, datasets.datasets.description),
                                 updated_at = now()
RETURNING id;

-- name: lock_ref
SELECT r.commit_id, c.source_sha256
FROM datasets.refs r JOIN datasets.commits c ON c.commit_id = r.commit_id
WHERE r.dataset_id = %(dataset_id)s AND r.name = %(ref)s
FOR UPDATE OF r;

-- name: prefix_pending_rows
-- The ref moved while an append was staged: shift the new rows past the actual parent's
-- last rows, through a temporary prefix so no two rows ever share an id midway.
UPDATE datasets.commit_rows
SET logical_row_id = '~' || logical_row_id
WHERE commit_id = %(commit_id)s;

-- name: renumber_pending_rows
UPDATE datasets.commit_rows c
SET logical_row_id = t.table_key || ':' || (t.number - coalesce((%(staged_offsets)s::jsonb ->> t.table_key)::bigint, 0)
                                            + coalesce((%(actual_offsets)s::jsonb ->> t.table_key)::bigint, 0))
FROM (SELECT logical_row_id,
             substring(logical_row_id FROM '^~(.*):[0-9]+$') AS table_key,
             substring(logical_row_id FROM ':([0-9]+)$')::bigint AS number
      FROM datasets.commit_rows WHERE commit_id = %(commit_id)s) t
WHERE c.commit_id = %(commit_id)s AND c.logical_row_id = t.logical_row_id;

-- name: copy_parent_rows
INSERT INTO datasets.commit_rows (commit_id, logical_row_id, row_hash)
SELECT %(commit_id)s, logical_row_id, row_hash FROM datasets.commit_rows WHERE commit_id = %(parent)s;

-- name: insert_commit
INSERT INTO datasets.commits (commit_id, dataset_id, parent_commit_id, message, author, row_count, reject_count,
                              source_file, source_sha256)
VALUES (%(commit_id)s, %(dataset_id)s, %(parent)s, %(message)s, %(author)s, %(row_count)s, %(rejects)s,
        %(source_file)s, %(sha256)s);

-- name: commit_counts
SELECT row_count, reject_count FROM datasets.commits WHERE commit_id = %(commit_id)s;

-- name: move_ref
INSERT INTO datasets.refs (dataset_id, name, commit_id) VALUES (%(dataset_id)s, %(ref)s, %(commit_id)s)
ON CONFLICT (dataset_id, name) DO UPDATE SET commit_id = excluded.commit_id, updated_at = now();

-- name: touch_dataset
UPDATE datasets.datasets SET updated_at = now() WHERE id = %(dataset_id)s;

-- name: finish_import
DELETE FROM datasets.imports WHERE import_id = %(import_id)s;

-- name: abandon_import_rows
-- The staged rows of an import that failed (its commit was never made).
DELETE FROM datasets.commit_rows cr USING datasets.imports i
WHERE i.import_id = %(import_id)s AND cr.commit_id = i.commit_id
  AND NOT EXISTS (SELECT 1 FROM datasets.commits c WHERE c.commit_id = i.commit_id);

-- name: abandon_import
DELETE FROM datasets.imports WHERE import_id = %(import_id)s;

-- name: refresh_search
REFRESH MATERIALIZED VIEW CONCURRENTLY datasets.dataset_search;

-- name: search_count
SELECT count(*) FROM datasets.dataset_search;

-- name: analyze_tables
ANALYZE datasets.datasets, datasets.rows, datasets.commits, datasets.commit_rows, datasets.refs;

-- name: unresolved_commit_rows
-- References of committed rows whose content is missing (must be 0).
SELECT count(*) FROM datasets.commit_rows cr
JOIN datasets.commits c ON c.commit_id = cr.commit_id
WHERE NOT EXISTS (SELECT 1 FROM datasets.rows r WHERE r.row_hash = cr.row_hash);
