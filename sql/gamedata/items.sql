-- Set-based statements of the gamedata item import (import_pipeline.load.gamedata).
-- `gamedata_touched` is a temporary table of item ids whose owned rows are to go.

-- name: item_counts
SELECT count(*) FILTER (WHERE is_nano = %(is_nano)s) AS kind_items, count(*) AS all_items FROM gamedata.items;

-- name: existing_items
SELECT aoid, id, document_hash FROM gamedata.items WHERE is_nano = %(is_nano)s;

-- name: stat_value_ids
SELECT stat, value, id FROM gamedata.stat_values;

-- name: criterion_ids
SELECT value1, value2, operator, id FROM gamedata.criteria;

-- name: shop_hash_ids
SELECT hash, min_level, max_level, base_amount, regen_amount, regen_interval, spawn_chance, id FROM gamedata.shop_hash;

-- name: create_touched
CREATE TEMP TABLE IF NOT EXISTS gamedata_touched (item_id integer PRIMARY KEY) ON COMMIT DROP;

-- name: clear_touched
TRUNCATE gamedata_touched;

-- name: delete_touched_spells
DELETE FROM gamedata.spells s
USING gamedata.item_spell_data isd, gamedata.spell_data_spells sds, gamedata_touched t
WHERE isd.item_id = t.item_id AND sds.spell_data_id = isd.spell_data_id AND s.id = sds.spell_id;

-- name: delete_touched_spell_data
DELETE FROM gamedata.spell_data sd
USING gamedata.item_spell_data isd, gamedata_touched t
WHERE isd.item_id = t.item_id AND sd.id = isd.spell_data_id;

-- name: delete_touched_actions
DELETE FROM gamedata.actions a USING gamedata_touched t WHERE a.item_id = t.item_id;

-- name: delete_touched_item_stats
DELETE FROM gamedata.item_stats s USING gamedata_touched t WHERE s.item_id = t.item_id;

-- name: delete_touched_item_shop_hash
DELETE FROM gamedata.item_shop_hash s USING gamedata_touched t WHERE s.item_id = t.item_id;

-- name: delete_touched_attack_defense
DELETE FROM gamedata.attack_defense ad
USING gamedata.items i, gamedata_touched t
WHERE i.id = t.item_id AND ad.id = i.atkdef_id;

-- name: delete_touched_animation_mesh
DELETE FROM gamedata.animation_mesh am
USING gamedata.items i, gamedata_touched t
WHERE i.id = t.item_id AND am.id = i.animation_mesh_id;

-- name: delete_touched_items
DELETE FROM gamedata.items i USING gamedata_touched t WHERE i.id = t.item_id;

-- name: create_changed_items
CREATE TEMP TABLE IF NOT EXISTS gamedata_changed_items
    (LIKE gamedata.items INCLUDING DEFAULTS) ON COMMIT DROP;

-- name: clear_changed_items
TRUNCATE gamedata_changed_items;

-- name: update_changed_items
UPDATE gamedata.items i
SET name = c.name, ql = c.ql, item_class = c.item_class, description = c.description,
    atkdef_id = c.atkdef_id, animation_mesh_id = c.animation_mesh_id,
    document = c.document, document_hash = c.document_hash
FROM gamedata_changed_items c
WHERE i.id = c.id;

-- name: delete_unreferenced_stat_values
DELETE FROM gamedata.stat_values sv
WHERE NOT EXISTS (SELECT 1 FROM gamedata.item_stats x WHERE x.stat_value_id = sv.id)
  AND NOT EXISTS (SELECT 1 FROM gamedata.attack_defense_attack x WHERE x.stat_value_id = sv.id)
  AND NOT EXISTS (SELECT 1 FROM gamedata.attack_defense_defense x WHERE x.stat_value_id = sv.id)
  AND NOT EXISTS (SELECT 1 FROM gamedata.animation_mesh x WHERE x.animation_id = sv.id)
  AND NOT EXISTS (SELECT 1 FROM gamedata.animation_mesh x WHERE x.mesh_id = sv.id);

-- name: delete_unreferenced_criteria
DELETE FROM gamedata.criteria c
WHERE NOT EXISTS (SELECT 1 FROM gamedata.action_criteria x WHERE x.criterion_id = c.id)
  AND NOT EXISTS (SELECT 1 FROM gamedata.spell_criteria x WHERE x.criterion_id = c.id);

-- name: delete_unreferenced_shop_hash
DELETE FROM gamedata.shop_hash sh
WHERE NOT EXISTS (SELECT 1 FROM gamedata.item_shop_hash x WHERE x.shop_hash_id = sh.id);

-- name: refresh_symbiant_items
REFRESH MATERIALIZED VIEW CONCURRENTLY gamedata.symbiant_items;
