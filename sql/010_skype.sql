-- The skype family: Skype exports (messages.json, or the export .tar) as searchable messages
-- (import_pipeline/sources/skype). A message is keyed by its conversation and id; `hash` is the
-- SHA-256 of its stored values, so a re-import writes only what changed (edits, deletions).

CREATE SCHEMA skype;

CREATE TABLE skype.exports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text,
    export_date  timestamptz,
    file_name    text NOT NULL,
    file_sha256  text NOT NULL UNIQUE,
    imported_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE skype.conversations (
    id                 text PRIMARY KEY,
    export_id          bigint REFERENCES skype.exports ON DELETE SET NULL,
    kind               text NOT NULL,
    display_name       text,
    topic              text,
    members            text[] NOT NULL DEFAULT '{}',
    properties         jsonb,
    thread_properties  jsonb,
    participant_count  integer,
    first_message_at   timestamptz,
    last_message_at    timestamptz,
    message_count      bigint NOT NULL DEFAULT 0
);

CREATE TABLE skype.messages (
    conversation_id  text NOT NULL,
    id               text NOT NULL,
    sent_at          timestamptz NOT NULL,
    sender_id        text,
    sender_name      text,
    message_type     text,
    content_plain    text NOT NULL,
    content_raw      text,
    edited_at        timestamptz,
    deleted_at       timestamptz,
    call_seconds     integer,
    file_name        text,
    file_size        bigint,
    reactions        jsonb,
    properties       jsonb,
    hash             text NOT NULL,
    export_id        bigint,
    PRIMARY KEY (conversation_id, id)
);
CREATE INDEX messages_conversation_time_idx ON skype.messages (conversation_id, sent_at);
CREATE INDEX messages_sender_idx ON skype.messages (sender_id);
CREATE INDEX messages_type_idx ON skype.messages (message_type);
-- Full-text search; `import_pipeline.load.skype.search.set_search_language` rebuilds it for
-- another text search configuration (the default, `simple`, stems no language).
CREATE INDEX messages_search_idx ON skype.messages USING gin (to_tsvector('simple'::regconfig, content_plain));

CREATE TABLE skype.participants (
    conversation_id  text NOT NULL REFERENCES skype.conversations ON DELETE CASCADE,
    participant_id   text NOT NULL,
    display_name     text,
    messages         bigint NOT NULL DEFAULT 0,
    first_message_at timestamptz,
    last_message_at  timestamptz,
    PRIMARY KEY (conversation_id, participant_id)
);
