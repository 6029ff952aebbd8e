"""Asset checks of the skype family."""

import dagster as dg

from import_pipeline.defs.rejects import rejects_check
from import_pipeline.defs.skype.assets import key
from import_pipeline.defs.skype.partitions import skype_exports
from import_pipeline.resources import PostgresResource

messages_rejects_under_ratio = rejects_check(key("messages"), skype_exports, records=("messages",), rejects="rejects",
                                            blocking=True)


@dg.asset_check(asset=key("conversations"), description="Every stored message belongs to a recorded conversation, "
                                                        "and every conversation's message count is its messages'")
def conversations_account_for_every_message(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM skype.messages m WHERE NOT EXISTS "
            "        (SELECT FROM skype.conversations c WHERE c.id = m.conversation_id)), "
            "       (SELECT count(*) FROM skype.conversations c WHERE c.message_count IS DISTINCT FROM "
            "        (SELECT count(*) FROM skype.messages m WHERE m.conversation_id = c.id))").fetchone()
    orphans, miscounted = row if row else (0, 0)
    return dg.AssetCheckResult(passed=orphans == 0 and miscounted == 0,
                               metadata={"messages_without_conversation": orphans,
                                         "conversations_miscounted": miscounted})
