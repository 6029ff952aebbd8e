-- The discogs graph: relation rows derived set-based from the documents written after `since`
-- (import_pipeline.load.discogs.graph). For each relation, `<relation>_clear` removes the rows of
-- those documents and `<relation>_derive` inserts them anew, in one transaction.

-- name: release_artists_clear
DELETE FROM discogs.release_artists x USING discogs.releases d
WHERE x.release_id = d.data_id AND d.updated_at > %(since)s;

-- name: release_artists_derive
INSERT INTO discogs.release_artists (release_id, credit, position, artist_id, name, anv, join_phrase, role, tracks)
SELECT d.data_id, c.credit, a.position, a.value->>'id', a.value->>'name', a.value->>'anv', a.value->>'join',
       a.value->>'role', a.value->>'tracks'
FROM discogs.releases d
CROSS JOIN LATERAL (VALUES ('artist', d.data->'artists'->'artist'), ('extra', d.data->'extraartists'->'artist'))
     AS c(credit, list)
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(c.list) = 'array' THEN c.list END) WITH ORDINALITY AS a(value, position)
WHERE d.updated_at > %(since)s;

-- name: release_labels_clear
DELETE FROM discogs.release_labels x USING discogs.releases d
WHERE x.release_id = d.data_id AND d.updated_at > %(since)s;

-- name: release_labels_derive
INSERT INTO discogs.release_labels (release_id, position, label_id, name, catno)
SELECT d.data_id, l.position, l.value->>'@id', l.value->>'@name', l.value->>'@catno'
FROM discogs.releases d
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.data->'labels'->'label') = 'array' THEN d.data->'labels'->'label' END) WITH ORDINALITY AS l(value, position)
WHERE d.updated_at > %(since)s;

-- name: release_master_clear
DELETE FROM discogs.release_master x USING discogs.releases d
WHERE x.release_id = d.data_id AND d.updated_at > %(since)s;

-- name: release_master_derive
INSERT INTO discogs.release_master (release_id, master_id, is_main_release)
SELECT d.data_id, coalesce(d.data->'master_id'->>'#text', d.data->>'master_id'),
       (d.data->'master_id'->>'@is_main_release')::boolean
FROM discogs.releases d
WHERE d.updated_at > %(since)s AND coalesce(d.data->'master_id'->>'#text', d.data->>'master_id') IS NOT NULL;

-- name: release_genres_clear
DELETE FROM discogs.release_genres x USING discogs.releases d
WHERE x.release_id = d.data_id AND d.updated_at > %(since)s;

-- name: release_genres_derive
INSERT INTO discogs.release_genres (release_id, genre)
SELECT DISTINCT d.data_id, g.value
FROM discogs.releases d
CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(d.data->'genres'->'genre') = 'array' THEN d.data->'genres'->'genre' END) AS g(value)
WHERE d.updated_at > %(since)s AND g.value IS NOT NULL;

-- name: release_styles_clear
DELETE FROM discogs.release_styles x USING discogs.releases d
WHERE x.release_id = d.data_id AND d.updated_at > %(since)s;

-- name: release_styles_derive
INSERT INTO discogs.release_styles (release_id, style)
SELECT DISTINCT d.data_id, s.value
FROM discogs.releases d
CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(d.data->'styles'->'style') = 'array' THEN d.data->'styles'->'style' END) AS s(value)
WHERE d.updated_at > %(since)s AND s.value IS NOT NULL;

-- name: master_artists_clear
DELETE FROM discogs.master_artists x USING discogs.masters d
WHERE x.master_id = d.data_id AND d.updated_at > %(since)s;

-- name: master_artists_derive
INSERT INTO discogs.master_artists (master_id, position, artist_id, name, anv, join_phrase, role)
SELECT d.data_id, a.position, a.value->>'id', a.value->>'name', a.value->>'anv', a.value->>'join', a.value->>'role'
FROM discogs.masters d
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.data->'artists'->'artist') = 'array' THEN d.data->'artists'->'artist' END) WITH ORDINALITY AS a(value, position)
WHERE d.updated_at > %(since)s;

-- name: artist_members_clear
DELETE FROM discogs.artist_members x USING discogs.artists d
WHERE x.group_id = d.data_id AND d.updated_at > %(since)s;

-- name: artist_members_derive
INSERT INTO discogs.artist_members (group_id, member_id, name)
SELECT DISTINCT ON (d.data_id, m.value->>'@id') d.data_id, m.value->>'@id', m.value->>'#text'
FROM discogs.artists d
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.data->'members'->'name') = 'array' THEN d.data->'members'->'name' END) AS m(value)
WHERE d.updated_at > %(since)s AND m.value->>'@id' IS NOT NULL;

-- name: artist_aliases_clear
DELETE FROM discogs.artist_aliases x USING discogs.artists d
WHERE x.artist_id = d.data_id AND d.updated_at > %(since)s;

-- name: artist_aliases_derive
INSERT INTO discogs.artist_aliases (artist_id, alias_id, name)
SELECT DISTINCT ON (d.data_id, a.value->>'@id') d.data_id, a.value->>'@id', a.value->>'#text'
FROM discogs.artists d
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.data->'aliases'->'name') = 'array' THEN d.data->'aliases'->'name' END) AS a(value)
WHERE d.updated_at > %(since)s AND a.value->>'@id' IS NOT NULL;

-- name: label_sublabels_clear
DELETE FROM discogs.label_sublabels x USING discogs.labels d
WHERE x.label_id = d.data_id AND d.updated_at > %(since)s;

-- name: label_sublabels_derive
INSERT INTO discogs.label_sublabels (label_id, sublabel_id, name)
SELECT DISTINCT ON (d.data_id, s.value->>'@id') d.data_id, s.value->>'@id', s.value->>'#text'
FROM discogs.labels d
CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.data->'sublabels'->'label') = 'array' THEN d.data->'sublabels'->'label' END) AS s(value)
WHERE d.updated_at > %(since)s AND s.value->>'@id' IS NOT NULL;

-- name: graph_since
-- Documents of this type written after this instant still need their relation rows.
SELECT coalesce((SELECT derived_through FROM discogs.graph_progress WHERE dump_type = %(dump_type)s),
                '1970-01-01 00:00:00+00'::timestamptz);

-- name: graph_advance
INSERT INTO discogs.graph_progress (dump_type, derived_through) VALUES (%(dump_type)s, %(through)s)
ON CONFLICT (dump_type) DO UPDATE SET derived_through = EXCLUDED.derived_through;

-- name: dangling_references
-- References to documents missing from the mirror, per relation (the real dumps hold some).
SELECT 'release_artists' AS relation, count(*) FROM discogs.release_artists x
 WHERE x.artist_id IS NOT NULL AND x.artist_id <> '0'
   AND NOT EXISTS (SELECT FROM discogs.artists a WHERE a.data_id = x.artist_id)
UNION ALL
SELECT 'release_labels', count(*) FROM discogs.release_labels x
 WHERE x.label_id IS NOT NULL AND NOT EXISTS (SELECT FROM discogs.labels l WHERE l.data_id = x.label_id)
UNION ALL
SELECT 'release_master', count(*) FROM discogs.release_master x
 WHERE NOT EXISTS (SELECT FROM discogs.masters m WHERE m.data_id = x.master_id)
UNION ALL
SELECT 'master_artists', count(*) FROM discogs.master_artists x
 WHERE x.artist_id IS NOT NULL AND x.artist_id <> '0'
   AND NOT EXISTS (SELECT FROM discogs.artists a WHERE a.data_id = x.artist_id)
UNION ALL
SELECT 'artist_members', count(*) FROM discogs.artist_members x
 WHERE NOT EXISTS (SELECT FROM discogs.artists a WHERE a.data_id = x.member_id)
UNION ALL
SELECT 'artist_aliases', count(*) FROM discogs.artist_aliases x
 WHERE NOT EXISTS (SELECT FROM discogs.artists a WHERE a.data_id = x.alias_id)
UNION ALL
SELECT 'label_sublabels', count(*) FROM discogs.label_sublabels x
 WHERE NOT EXISTS (SELECT FROM discogs.labels l WHERE l.data_id = x.sublabel_id);

-- name: btree_index_bloat
-- The btree indexes of the schema with their size and estimated bloat: the share of their pages
-- beyond what their entries need at a 90 percent fill (entry width from pg_stats of the table's
-- columns, or of the index's expressions; NULL when ANALYZE has not measured them yet).
WITH entries AS (
    SELECT i.indexrelid, ci.relname AS index_name, ct.relname AS table_name, ci.relpages, ci.reltuples,
           (SELECT sum(s.avg_width) FROM pg_stats s
             WHERE s.schemaname = %(schema)s
               AND ((s.tablename = ct.relname AND s.attname IN (
                        SELECT a.attname FROM pg_attribute a
                         WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)))
                    OR s.tablename = ci.relname)) AS key_width
    FROM pg_index i
    JOIN pg_class ci ON ci.oid = i.indexrelid
    JOIN pg_class ct ON ct.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = ct.relnamespace
    JOIN pg_am am ON am.oid = ci.relam
    WHERE n.nspname = %(schema)s AND am.amname = 'btree'
)
SELECT index_name, table_name, pg_relation_size(indexrelid) AS bytes,
       CASE WHEN key_width IS NULL OR relpages < 10 THEN NULL
            ELSE greatest(0, 1 - (reltuples * (key_width + 12)) / (0.9 * 8192 * relpages)) END AS bloat
FROM entries
ORDER BY index_name;
