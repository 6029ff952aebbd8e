-- datasets: smaller, cheaper keys for commit_rows, the table every import writes one row
-- per data row into.
--
-- Commit ids are 128 bits of SHA-256 (shown as 32 hex digits): stored as `uuid` they are
-- 16 bytes instead of a 33-byte text, and every commit_rows primary-key entry carries one.
-- Logical row ids compare byte-wise (COLLATE "C"): nothing sorts them for people, and a
-- locale's collation makes each of the ~20 comparisons per index insertion a strcoll call.
-- 1M commit_rows COPYed (PostgreSQL 15, C.UTF-8 database): 3.5-4.7 s before, 2.8 s after.

DROP MATERIALIZED VIEW datasets.dataset_search;

ALTER TABLE datasets.refs DROP CONSTRAINT refs_commit_id_fkey;
ALTER TABLE datasets.commits DROP CONSTRAINT commits_parent_commit_id_fkey;

ALTER TABLE datasets.commits
    ALTER COLUMN commit_id TYPE uuid USING commit_id::uuid,
    ALTER COLUMN parent_commit_id TYPE uuid USING parent_commit_id::uuid;
ALTER TABLE datasets.refs ALTER COLUMN commit_id TYPE uuid USING commit_id::uuid;
ALTER TABLE datasets.imports
    ALTER COLUMN commit_id TYPE uuid USING commit_id::uuid,
    ALTER COLUMN parent_commit_id TYPE uuid USING parent_commit_id::uuid;
ALTER TABLE datasets.commit_rows
    ALTER COLUMN commit_id TYPE uuid USING commit_id::uuid,
    ALTER COLUMN logical_row_id TYPE text COLLATE "C";

-- A btree instead of 005's hash index: maintained row by row they cost about the same, but a
-- large import drops it and builds it again afterwards, and a btree builds ~4x faster
-- (1M rows: 0.5 s against 2.0 s).
DROP INDEX datasets.commit_rows_row_hash_idx;
CREATE INDEX commit_rows_row_hash_idx ON datasets.commit_rows (row_hash);

ALTER TABLE datasets.commits ADD CONSTRAINT commits_parent_commit_id_fkey
    FOREIGN KEY (parent_commit_id) REFERENCES datasets.commits;
ALTER TABLE datasets.refs ADD CONSTRAINT refs_commit_id_fkey
    FOREIGN KEY (commit_id) REFERENCES datasets.commits;

-- As in 005, with the commit id shown as 32 hex digits.
CREATE MATERIALIZED VIEW datasets.dataset_search AS
SELECT d.id AS dataset_id,
       d.name,
       d.description,
       replace(c.commit_id::text, '-', '') AS latest_commit_id,
       c.row_count,
       d.updated_at,
       to_tsvector('simple', d.name || ' ' || coalesce(d.description, '') || ' ' || coalesce(c.message, '')) AS search
FROM datasets.datasets d
LEFT JOIN datasets.refs r ON r.dataset_id = d.id AND r.name = 'main'
LEFT JOIN datasets.commits c ON c.commit_id = r.commit_id;
CREATE UNIQUE INDEX dataset_search_dataset_id_idx ON datasets.dataset_search (dataset_id);
CREATE INDEX dataset_search_search_idx ON datasets.dataset_search USING gin (search);
