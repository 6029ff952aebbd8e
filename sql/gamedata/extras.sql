-- Statements of the perks and symbiants imports (import_pipeline.load.gamedata).

-- name: item_ids_by_aoid
SELECT aoid, id FROM gamedata.items WHERE NOT is_nano;

-- name: delete_perks
DELETE FROM gamedata.perks;

-- name: mob_source_ids
SELECT source_id, id FROM gamedata.sources WHERE source_type_id = 3;

-- name: delete_mob_item_sources
DELETE FROM gamedata.item_sources s
USING gamedata.sources src
WHERE src.id = s.source_id AND src.source_type_id = 3;

-- name: delete_other_mob_sources
DELETE FROM gamedata.sources WHERE source_type_id = 3 AND NOT source_id = ANY(%(mob_ids)s);

-- name: delete_other_mobs
DELETE FROM gamedata.mobs WHERE NOT id = ANY(%(mob_ids)s);
