-- The loading engine's own tables (schema import_pipeline; migrations bootstraps itself).

CREATE TABLE import_pipeline.rejects (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asset         text NOT NULL,
    partition_key text,
    source        text NOT NULL,
    line          bigint,
    byte_offset   bigint,
    reason        text NOT NULL,
    raw           text,
    run_id        text,
    rejected_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejects_asset_partition_idx ON import_pipeline.rejects (asset, partition_key);

-- Index definitions dropped for a bulk load, kept until they are recreated.
CREATE TABLE import_pipeline.suspended_indexes (
    index_name    text PRIMARY KEY,
    table_name    text NOT NULL,
    definition    text NOT NULL,
    suspended_at  timestamptz NOT NULL DEFAULT now()
);
