"""The loading engine: PostgreSQL connections, migrations and bulk writes. No Dagster here."""
