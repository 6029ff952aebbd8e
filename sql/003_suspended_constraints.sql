-- Foreign keys dropped for a bulk load, kept until they are added back (and validated).

CREATE TABLE import_pipeline.suspended_constraints (
    table_name       text NOT NULL,
    constraint_name  text NOT NULL,
    definition       text NOT NULL,
    suspended_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, constraint_name)
);
