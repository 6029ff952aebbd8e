-- The discogs family: monthly Discogs dumps mirrored as documents (import_pipeline/sources/discogs).
-- Each table keeps the columns the existing mirror's apps query (data_id, hash, data, dump_date,
-- updated_at), plus raw_hash: the SHA-256 of the record's bytes in the dump, which tells an
-- unchanged record without converting it. dump_date is the dump that last wrote the row.

CREATE SCHEMA discogs;

CREATE TABLE discogs.artists (
    data_id     text PRIMARY KEY,
    hash        text NOT NULL,
    raw_hash    text NOT NULL,
    data        jsonb NOT NULL,
    dump_date   date NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX artists_hash_idx ON discogs.artists (hash);
CREATE INDEX artists_data_idx ON discogs.artists USING gin (data jsonb_path_ops);
CREATE INDEX artists_name_idx ON discogs.artists ((data->>'name'));
CREATE INDEX artists_name_fts_idx ON discogs.artists USING gin (to_tsvector('simple', coalesce(data->>'name', '')));
CREATE INDEX artists_updated_idx ON discogs.artists (updated_at);

CREATE TABLE discogs.labels (
    data_id     text PRIMARY KEY,
    hash        text NOT NULL,
    raw_hash    text NOT NULL,
    data        jsonb NOT NULL,
    dump_date   date NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX labels_hash_idx ON discogs.labels (hash);
CREATE INDEX labels_data_idx ON discogs.labels USING gin (data jsonb_path_ops);
CREATE INDEX labels_name_idx ON discogs.labels ((data->>'name'));
CREATE INDEX labels_name_fts_idx ON discogs.labels USING gin (to_tsvector('simple', coalesce(data->>'name', '')));
CREATE INDEX labels_updated_idx ON discogs.labels (updated_at);

CREATE TABLE discogs.masters (
    data_id     text PRIMARY KEY,
    hash        text NOT NULL,
    raw_hash    text NOT NULL,
    data        jsonb NOT NULL,
    dump_date   date NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX masters_hash_idx ON discogs.masters (hash);
CREATE INDEX masters_data_idx ON discogs.masters USING gin (data jsonb_path_ops);
CREATE INDEX masters_title_idx ON discogs.masters ((data->>'title'));
CREATE INDEX masters_title_fts_idx ON discogs.masters USING gin (to_tsvector('simple', coalesce(data->>'title', '')));
CREATE INDEX masters_updated_idx ON discogs.masters (updated_at);

CREATE TABLE discogs.releases (
    data_id     text PRIMARY KEY,
    hash        text NOT NULL,
    raw_hash    text NOT NULL,
    data        jsonb NOT NULL,
    dump_date   date NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX releases_hash_idx ON discogs.releases (hash);
CREATE INDEX releases_data_idx ON discogs.releases USING gin (data jsonb_path_ops);
CREATE INDEX releases_title_idx ON discogs.releases ((data->>'title'));
CREATE INDEX releases_title_fts_idx ON discogs.releases USING gin (to_tsvector('simple', coalesce(data->>'title', '')));
CREATE INDEX releases_updated_idx ON discogs.releases (updated_at);

CREATE INDEX masters_year_idx ON discogs.masters ((data->>'year'));
CREATE INDEX releases_year_idx ON discogs.releases ((left(data->>'released', 4)));
CREATE INDEX releases_country_idx ON discogs.releases ((data->>'country'));
CREATE INDEX releases_genres_idx ON discogs.releases USING gin ((data->'genres'->'genre'));
CREATE INDEX releases_labels_idx ON discogs.releases USING gin ((data->'labels'->'label') jsonb_path_ops);

-- The graph: relations derived from the documents (sql/discogs/graph.sql). A relation row belongs
-- to the document it comes from and goes with it; what it points at may be missing from the dump
-- (the real dumps hold such references), so that side has no foreign key.
CREATE TABLE discogs.release_artists (
    release_id  text NOT NULL REFERENCES discogs.releases ON DELETE CASCADE,
    credit      text NOT NULL CHECK (credit IN ('artist', 'extra')),
    position    integer NOT NULL,
    artist_id   text,
    name        text,
    anv         text,
    join_phrase text,
    role        text,
    tracks      text,
    PRIMARY KEY (release_id, credit, position)
);
CREATE INDEX release_artists_artist_idx ON discogs.release_artists (artist_id);

CREATE TABLE discogs.release_labels (
    release_id  text NOT NULL REFERENCES discogs.releases ON DELETE CASCADE,
    position    integer NOT NULL,
    label_id    text,
    name        text,
    catno       text,
    PRIMARY KEY (release_id, position)
);
CREATE INDEX release_labels_label_idx ON discogs.release_labels (label_id);

CREATE TABLE discogs.release_master (
    release_id       text PRIMARY KEY REFERENCES discogs.releases ON DELETE CASCADE,
    master_id        text NOT NULL,
    is_main_release  boolean
);
CREATE INDEX release_master_master_idx ON discogs.release_master (master_id);

CREATE TABLE discogs.master_artists (
    master_id   text NOT NULL REFERENCES discogs.masters ON DELETE CASCADE,
    position    integer NOT NULL,
    artist_id   text,
    name        text,
    anv         text,
    join_phrase text,
    role        text,
    PRIMARY KEY (master_id, position)
);
CREATE INDEX master_artists_artist_idx ON discogs.master_artists (artist_id);

CREATE TABLE discogs.artist_members (
    group_id   text NOT NULL REFERENCES discogs.artists ON DELETE CASCADE,
    member_id  text NOT NULL,
    name       text,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX artist_members_member_idx ON discogs.artist_members (member_id);

CREATE TABLE discogs.artist_aliases (
    artist_id  text NOT NULL REFERENCES discogs.artists ON DELETE CASCADE,
    alias_id   text NOT NULL,
    name       text,
    PRIMARY KEY (artist_id, alias_id)
);

CREATE TABLE discogs.label_sublabels (
    label_id     text NOT NULL REFERENCES discogs.labels ON DELETE CASCADE,
    sublabel_id  text NOT NULL,
    name         text,
    PRIMARY KEY (label_id, sublabel_id)
);

CREATE TABLE discogs.release_genres (
    release_id  text NOT NULL REFERENCES discogs.releases ON DELETE CASCADE,
    genre       text NOT NULL,
    PRIMARY KEY (release_id, genre)
);

CREATE TABLE discogs.release_styles (
    release_id  text NOT NULL REFERENCES discogs.releases ON DELETE CASCADE,
    style       text NOT NULL,
    PRIMARY KEY (release_id, style)
);

-- How far the graph of each document type has been derived: documents written (updated_at)
-- after `derived_through` still need their relation rows.
CREATE TABLE discogs.graph_progress (
    dump_type        text PRIMARY KEY,
    derived_through  timestamptz NOT NULL
);
