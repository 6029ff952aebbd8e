-- The properties family: villas crawled from the property API (see import_pipeline/sources/properties).
-- Every document is kept whole as jsonb with the SHA-256 of its canonical JSON (`hash`); the
-- typed columns are what a lookup app filters on. `municipality` is the crawl's partition key.

CREATE SCHEMA properties;

-- What the search crawl listed, one row per villa and municipality (replaced per crawl).
CREATE TABLE properties.search_results (
    municipality       text NOT NULL,
    address_id         text NOT NULL,
    municipality_code  integer,
    zip_code           integer,
    road_name          text,
    house_number       text,
    is_on_market       boolean NOT NULL DEFAULT false,
    case_id            text,
    summary            jsonb NOT NULL,
    summary_hash       text NOT NULL,
    PRIMARY KEY (municipality, address_id)
);
CREATE INDEX search_results_address_idx ON properties.search_results (address_id);

CREATE TABLE properties.properties (
    address_id         text PRIMARY KEY,
    municipality       text NOT NULL,
    municipality_code  integer,
    zip_code           integer,
    road_name          text,
    house_number       text,
    floor              text,
    door               text,
    city_name          text,
    latitude           double precision,
    longitude          double precision,
    living_area        numeric,
    weighted_area      numeric,
    year_built         integer,
    energy_label       text,
    latest_valuation   bigint,
    is_on_market       boolean NOT NULL DEFAULT false,
    case_id            text,
    bfe_numbers        bigint[] NOT NULL DEFAULT '{}',
    address_type       text,
    document           jsonb NOT NULL,
    hash               text NOT NULL,
    -- The search summary this document was fetched for: a summary that did not change is not refetched.
    search_hash        text NOT NULL,
    fetched_at         timestamptz NOT NULL
);
CREATE INDEX properties_municipality_idx ON properties.properties (municipality);
CREATE INDEX properties_municipality_code_idx ON properties.properties (municipality_code);
CREATE INDEX properties_zip_idx ON properties.properties (zip_code);
CREATE INDEX properties_valuation_idx ON properties.properties (latest_valuation);
CREATE INDEX properties_location_idx ON properties.properties USING gist (point(longitude, latitude));
CREATE INDEX properties_bfe_idx ON properties.properties USING gin (bfe_numbers);
CREATE INDEX properties_document_idx ON properties.properties USING gin (document jsonb_path_ops);

CREATE TABLE properties.buildings (
    address_id              text NOT NULL REFERENCES properties.properties ON DELETE CASCADE,
    position                smallint NOT NULL,
    building_number         text,
    building_name           text,
    year_built              integer,
    year_renovated          integer,
    total_area              numeric,
    housing_area            numeric,
    basement_area           numeric,
    number_of_rooms         integer,
    number_of_floors        integer,
    heating_installation    text,
    external_wall_material  text,
    roofing_material        text,
    document                jsonb NOT NULL,
    PRIMARY KEY (address_id, position)
);

-- A registration (a sale) belongs to a BFE property: the API repeats it on every address of
-- the building, each with its own `area`, kept on the link.
CREATE TABLE properties.registrations (
    registration_id    text PRIMARY KEY,
    amount             bigint,
    date               date,
    type               text,
    living_area        numeric,
    per_area_price     bigint,
    municipality_code  integer,
    property_number    bigint
);
CREATE INDEX registrations_date_idx ON properties.registrations (date);

CREATE TABLE properties.property_registrations (
    address_id       text NOT NULL REFERENCES properties.properties ON DELETE CASCADE,
    registration_id  text NOT NULL REFERENCES properties.registrations,
    area             numeric,
    PRIMARY KEY (address_id, registration_id)
);
CREATE INDEX property_registrations_registration_idx ON properties.property_registrations (registration_id);

CREATE TABLE properties.cases (
    case_id                  text PRIMARY KEY,
    address_id               text NOT NULL,
    municipality             text NOT NULL,
    price                    bigint,
    per_area_price           bigint,
    price_change_percentage  numeric,
    days_on_market           integer,
    status                   text,
    realtor_id               text,
    realtor_name             text,
    monthly_expense          bigint,
    lot_area                 numeric,
    housing_area             numeric,
    document                 jsonb NOT NULL,
    hash                     text NOT NULL,
    search_hash              text NOT NULL,
    fetched_at               timestamptz NOT NULL
);
CREATE INDEX cases_address_idx ON properties.cases (address_id);
CREATE INDEX cases_municipality_idx ON properties.cases (municipality);
CREATE INDEX cases_price_idx ON properties.cases (price);
CREATE INDEX cases_document_idx ON properties.cases USING gin (document jsonb_path_ops);

-- Each price a case was seen at, as the crawls observed it (the API keeps no history).
CREATE TABLE properties.price_changes (
    case_id      text NOT NULL REFERENCES properties.cases ON DELETE CASCADE,
    observed_at  timestamptz NOT NULL,
    old_price    bigint,
    new_price    bigint,
    PRIMARY KEY (case_id, observed_at)
);

-- Ids that answered 404 (or failed for good) for a summary: not asked again until it changes.
CREATE TABLE properties.unavailable (
    kind         text NOT NULL CHECK (kind IN ('address', 'case')),
    id           text NOT NULL,
    search_hash  text NOT NULL,
    status       integer,
    url          text NOT NULL,
    reason       text NOT NULL,
    checked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);

-- The crawls running now, so that concurrent runs share one rate limit (see load/properties/rate_share.py).
CREATE TABLE properties.crawlers (
    run_id       text PRIMARY KEY,
    expires_at   timestamptz NOT NULL
);
