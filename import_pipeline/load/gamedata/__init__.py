"""gamedata loads: item/nano dumps (`dump`), the perk table (`perks`), symbiant drops (`symbiants`)."""
