-- Integrity checks of the gamedata tables (import_pipeline.load.gamedata.checks).

-- name: orphan_counts
-- Owned rows without their owner (what the ON DELETE CASCADE keys prevent while in force),
-- then owners nothing refers to.
SELECT
    (SELECT count(*) FROM gamedata.item_stats x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.items i WHERE i.id = x.item_id)) AS item_stats,
    (SELECT count(*) FROM gamedata.item_shop_hash x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.items i WHERE i.id = x.item_id)) AS item_shop_hash,
    (SELECT count(*) FROM gamedata.actions x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.items i WHERE i.id = x.item_id)) AS actions,
    (SELECT count(*) FROM gamedata.action_criteria x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.actions a WHERE a.id = x.action_id)) AS action_criteria,
    (SELECT count(*) FROM gamedata.item_spell_data x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.items i WHERE i.id = x.item_id) OR NOT EXISTS
        (SELECT 1 FROM gamedata.spell_data d WHERE d.id = x.spell_data_id)) AS item_spell_data,
    (SELECT count(*) FROM gamedata.spell_data_spells x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.spell_data d WHERE d.id = x.spell_data_id) OR NOT EXISTS
        (SELECT 1 FROM gamedata.spells s WHERE s.id = x.spell_id)) AS spell_data_spells,
    (SELECT count(*) FROM gamedata.spell_criteria x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.spells s WHERE s.id = x.spell_id)) AS spell_criteria,
    (SELECT count(*) FROM gamedata.attack_defense_attack x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.attack_defense a WHERE a.id = x.attack_defense_id)) AS attack_defense_attack,
    (SELECT count(*) FROM gamedata.attack_defense_defense x WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.attack_defense a WHERE a.id = x.attack_defense_id)) AS attack_defense_defense,
    (SELECT count(*) FROM gamedata.spells s WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.spell_data_spells x WHERE x.spell_id = s.id)) AS spells,
    (SELECT count(*) FROM gamedata.spell_data s WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.item_spell_data x WHERE x.spell_data_id = s.id)) AS spell_data,
    (SELECT count(*) FROM gamedata.attack_defense a WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.items i WHERE i.atkdef_id = a.id)) AS attack_defense,
    (SELECT count(*) FROM gamedata.animation_mesh a WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.items i WHERE i.animation_mesh_id = a.id)) AS animation_mesh,
    (SELECT count(*) FROM gamedata.stat_values v
      WHERE NOT EXISTS (SELECT 1 FROM gamedata.item_stats x WHERE x.stat_value_id = v.id)
        AND NOT EXISTS (SELECT 1 FROM gamedata.attack_defense_attack x WHERE x.stat_value_id = v.id)
        AND NOT EXISTS (SELECT 1 FROM gamedata.attack_defense_defense x WHERE x.stat_value_id = v.id)
        AND NOT EXISTS (SELECT 1 FROM gamedata.animation_mesh x WHERE x.animation_id = v.id)
        AND NOT EXISTS (SELECT 1 FROM gamedata.animation_mesh x WHERE x.mesh_id = v.id)) AS stat_values,
    (SELECT count(*) FROM gamedata.criteria c
      WHERE NOT EXISTS (SELECT 1 FROM gamedata.action_criteria x WHERE x.criterion_id = c.id)
        AND NOT EXISTS (SELECT 1 FROM gamedata.spell_criteria x WHERE x.criterion_id = c.id)) AS criteria,
    (SELECT count(*) FROM gamedata.shop_hash sh WHERE NOT EXISTS
        (SELECT 1 FROM gamedata.item_shop_hash x WHERE x.shop_hash_id = sh.id)) AS shop_hash;
