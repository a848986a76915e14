-- Conversations, messages and preferences.

-- Finding one message's events (who wrote it, whether it was deleted)
-- without reading its conversation's stream. Every Conversation event about a
-- message carries `message_id` in its payload. Keyed by the message id alone:
-- led by `aggregate_id`, the planner would also pick it for lookups by
-- conversation and scan the whole conversation (found by the send-message
-- benchmark: sends slowed down as the conversation grew).
CREATE INDEX events_conversation_message
    ON events ((payload -> event_type ->> 'message_id'))
    WHERE aggregate_type = 'Conversation';

-- Owned by the `conversations` projection.
CREATE TABLE rm_conversations (
    conversation_id uuid PRIMARY KEY,
    project_id      uuid NOT NULL,
    title           text NOT NULL,
    started_by      uuid NOT NULL,
    status          text NOT NULL,
    message_count   bigint NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX rm_conversations_by_project ON rm_conversations (project_id, conversation_id);

-- Owned by the `conversations` projection. `number` is the message's place in
-- its conversation (1, 2, …, no gaps): new messages only ever add higher
-- numbers, so paging by it is stable while messages arrive.
CREATE TABLE rm_messages (
    conversation_id uuid NOT NULL,
    number          bigint NOT NULL,
    message_id      uuid NOT NULL UNIQUE,
    author_id       uuid NOT NULL,
    role            text NOT NULL,
    agent_id        uuid,
    -- NULL once deleted: deleted content is gone from every read model.
    content         text,
    edited_at       timestamptz,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, number)
);

-- Owned by the `preferences` projection: the complete settings of users who
-- changed any (others get the defaults).
CREATE TABLE rm_preferences (
    user_id    uuid PRIMARY KEY,
    settings   jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
