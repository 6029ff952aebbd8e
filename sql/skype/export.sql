-- The skype load's set-based statements (import_pipeline.load.skype).

-- name: record_export
-- The export's row, found by the file's SHA-256 (an export imported again is the same export).
WITH added AS (
    INSERT INTO skype.exports (user_id, export_date, file_name, file_sha256)
    VALUES (%(user_id)s, %(export_date)s, %(file_name)s, %(file_sha256)s)
    ON CONFLICT (file_sha256) DO NOTHING
    RETURNING id
)
SELECT id FROM added UNION ALL SELECT id FROM skype.exports WHERE file_sha256 = %(file_sha256)s LIMIT 1;

-- name: upsert_conversation
INSERT INTO skype.conversations AS c (id, export_id, kind, display_name, topic, members, properties, thread_properties,
                                      participant_count)
VALUES (%(id)s, %(export_id)s, %(kind)s, %(display_name)s, %(topic)s, %(members)s, %(properties)s,
        %(thread_properties)s, %(participant_count)s)
ON CONFLICT (id) DO UPDATE
SET export_id = EXCLUDED.export_id, kind = EXCLUDED.kind, display_name = EXCLUDED.display_name,
    topic = EXCLUDED.topic, members = EXCLUDED.members, properties = EXCLUDED.properties,
    thread_properties = EXCLUDED.thread_properties, participant_count = EXCLUDED.participant_count
WHERE (c.kind, c.display_name, c.topic, c.members, c.properties, c.thread_properties, c.participant_count)
      IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.display_name, EXCLUDED.topic, EXCLUDED.members, EXCLUDED.properties,
                        EXCLUDED.thread_properties, EXCLUDED.participant_count);

-- name: refresh_conversation_counts
-- First and last message time and the message count of every conversation, from the messages.
UPDATE skype.conversations c
SET first_message_at = m.first_at, last_message_at = m.last_at, message_count = m.messages
FROM (SELECT conversation_id, min(sent_at) AS first_at, max(sent_at) AS last_at, count(*) AS messages
      FROM skype.messages GROUP BY conversation_id) AS m
WHERE m.conversation_id = c.id
  AND (c.first_message_at, c.last_message_at, c.message_count) IS DISTINCT FROM (m.first_at, m.last_at, m.messages);

-- name: refresh_participants
-- Everyone who wrote in a conversation or is a listed member of its thread, with their message counts.
INSERT INTO skype.participants AS p (conversation_id, participant_id, display_name, messages, first_message_at,
                                     last_message_at)
SELECT c.id, who.participant_id, who.display_name, coalesce(who.messages, 0), who.first_at, who.last_at
FROM skype.conversations c
JOIN LATERAL (
    SELECT coalesce(w.sender_id, m.member) AS participant_id, w.display_name, w.messages, w.first_at, w.last_at
    FROM (SELECT sender_id, max(sender_name) AS display_name, count(*) AS messages, min(sent_at) AS first_at,
                 max(sent_at) AS last_at
          FROM skype.messages WHERE conversation_id = c.id AND sender_id IS NOT NULL GROUP BY sender_id) AS w
    FULL JOIN unnest(c.members) AS m(member) ON m.member = w.sender_id
) AS who ON true
ON CONFLICT (conversation_id, participant_id) DO UPDATE
SET display_name = EXCLUDED.display_name, messages = EXCLUDED.messages, first_message_at = EXCLUDED.first_message_at,
    last_message_at = EXCLUDED.last_message_at
WHERE (p.display_name, p.messages, p.first_message_at, p.last_message_at)
      IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.messages, EXCLUDED.first_message_at, EXCLUDED.last_message_at);
