-- The properties crawl's set-based steps (import_pipeline.load.properties).

-- name: addresses_to_fetch
-- The next `limit` addresses of a municipality's search results after `after` (keyset
-- pages) whose details must be fetched: never stored, or stored for another search summary,
-- and not known to be unavailable for this summary. `refresh` takes every one. With `after`
-- '' and `limit` NULL, the whole list (to count it).
SELECT s.address_id, s.summary_hash, s.is_on_market, s.case_id
FROM properties.search_results s
LEFT JOIN properties.properties p ON p.address_id = s.address_id
LEFT JOIN properties.unavailable u ON u.kind = 'address' AND u.id = s.address_id
WHERE s.municipality = %(municipality)s
  AND s.address_id > %(after)s
  AND (%(refresh)s OR ((p.address_id IS NULL OR p.search_hash <> s.summary_hash)
                       AND (u.id IS NULL OR u.search_hash <> s.summary_hash)))
ORDER BY s.address_id
LIMIT %(limit)s;

-- name: cases_to_fetch
-- Like addresses_to_fetch, for the open cases the search results name.
SELECT s.case_id, s.address_id, s.summary_hash
FROM properties.search_results s
LEFT JOIN properties.cases c ON c.case_id = s.case_id
LEFT JOIN properties.unavailable u ON u.kind = 'case' AND u.id = s.case_id
WHERE s.municipality = %(municipality)s
  AND s.case_id IS NOT NULL
  AND s.case_id > %(after)s
  AND (%(refresh)s OR ((c.case_id IS NULL OR c.search_hash <> s.summary_hash)
                       AND (u.id IS NULL OR u.search_hash <> s.summary_hash)))
ORDER BY s.case_id
LIMIT %(limit)s;

-- name: update_property_summaries
-- A fetched address whose document did not change still records the summary it was fetched
-- for (and the market state the summary gives); a row whose summary is the same is not touched.
UPDATE properties.properties p
SET search_hash = v.search_hash, is_on_market = v.is_on_market, case_id = v.case_id
FROM unnest(%(address_ids)s::text[], %(search_hashes)s::text[], %(on_market)s::boolean[], %(case_ids)s::text[])
     AS v(address_id, search_hash, is_on_market, case_id)
WHERE p.address_id = v.address_id
  AND (p.search_hash, p.is_on_market, p.case_id) IS DISTINCT FROM (v.search_hash, v.is_on_market, v.case_id);

-- name: update_case_summaries
UPDATE properties.cases c
SET search_hash = v.search_hash
FROM unnest(%(case_ids)s::text[], %(search_hashes)s::text[]) AS v(case_id, search_hash)
WHERE c.case_id = v.case_id AND c.search_hash <> v.search_hash;

-- name: delete_property_children
WITH buildings AS (
    DELETE FROM properties.buildings WHERE address_id = ANY(%(address_ids)s::text[])
)
DELETE FROM properties.property_registrations WHERE address_id = ANY(%(address_ids)s::text[]);

-- name: case_prices
SELECT case_id, price FROM properties.cases WHERE case_id = ANY(%(case_ids)s::text[]);

-- name: record_price_changes
INSERT INTO properties.price_changes (case_id, observed_at, old_price, new_price)
SELECT v.case_id, %(observed_at)s, v.old_price, v.new_price
FROM unnest(%(case_ids)s::text[], %(old_prices)s::bigint[], %(new_prices)s::bigint[]) AS v(case_id, old_price, new_price)
ON CONFLICT (case_id, observed_at) DO NOTHING;

-- name: record_unavailable
INSERT INTO properties.unavailable AS u (kind, id, search_hash, status, url, reason)
SELECT %(kind)s, v.id, v.search_hash, v.status, v.url, v.reason
FROM unnest(%(ids)s::text[], %(search_hashes)s::text[], %(statuses)s::integer[], %(urls)s::text[],
            %(reasons)s::text[]) AS v(id, search_hash, status, url, reason)
ON CONFLICT (kind, id) DO UPDATE
SET search_hash = EXCLUDED.search_hash, status = EXCLUDED.status, url = EXCLUDED.url,
    reason = EXCLUDED.reason, checked_at = now();

-- name: clear_unavailable
DELETE FROM properties.unavailable WHERE kind = %(kind)s AND id = ANY(%(ids)s::text[]);

-- name: register_crawler
-- Renew this run's lease and count the crawls whose lease is live (this one included).
WITH lease AS (
    INSERT INTO properties.crawlers (run_id, expires_at)
    VALUES (%(run_id)s, now() + make_interval(secs => %(lease_seconds)s))
    ON CONFLICT (run_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
)
SELECT count(*) + 1 FROM properties.crawlers WHERE expires_at > now() AND run_id <> %(run_id)s;

-- name: release_crawler
DELETE FROM properties.crawlers WHERE run_id = %(run_id)s OR expires_at < now() - interval '1 hour';

-- name: unaccounted_addresses
-- Listed villas with neither a stored document nor a record of why there is none, per municipality.
SELECT s.municipality, count(*)
FROM properties.search_results s
WHERE NOT EXISTS (SELECT 1 FROM properties.properties p WHERE p.address_id = s.address_id)
  AND NOT EXISTS (SELECT 1 FROM properties.unavailable u WHERE u.kind = 'address' AND u.id = s.address_id)
GROUP BY s.municipality;

-- name: unlisted_properties
-- A municipality's stored properties that its latest search no longer lists, of how many stored.
SELECT count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM properties.search_results s
           WHERE s.municipality = p.municipality AND s.address_id = p.address_id)) AS unlisted,
       count(*) AS stored
FROM properties.properties p
WHERE p.municipality = %(municipality)s;

-- name: delete_unlisted_properties
-- Their buildings and registration links go with them (ON DELETE CASCADE).
DELETE FROM properties.properties p
WHERE p.municipality = %(municipality)s
  AND NOT EXISTS (SELECT 1 FROM properties.search_results s
                  WHERE s.municipality = p.municipality AND s.address_id = p.address_id);
