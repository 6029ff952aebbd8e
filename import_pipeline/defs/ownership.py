"""Who answers for the project's assets, as the Dagster UI shows it."""

#: The owners of every asset of the project (a team, as Dagster spells one).
OWNERS = ["team:imports"]
