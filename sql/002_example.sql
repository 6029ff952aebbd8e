-- The example family: a tiny end-to-end exercise of the IO manager's three write modes.

CREATE SCHEMA example;

CREATE TABLE example.stations (
    station_id   text PRIMARY KEY,
    name         text NOT NULL,
    region       text NOT NULL,
    elevation_m  integer
);

CREATE TABLE example.readings (
    region         text NOT NULL,
    station_id     text NOT NULL,
    observed_at    timestamptz NOT NULL,
    temperature_c  double precision
);
CREATE INDEX readings_region_idx ON example.readings (region);

CREATE TABLE example.station_summary (
    station_id  text PRIMARY KEY,
    readings    bigint NOT NULL,
    mean_c      double precision,
    min_c       double precision,
    max_c       double precision
);
