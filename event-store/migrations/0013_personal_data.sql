-- Crypto-shredding of personal data (see docs/audit.md and
-- platform::personal_data). Sealed fields in events are encrypted with a
-- key of the person they belong to; erasing a person deletes that key.

-- The master key that wraps every data key, when ZEKKA_MASTER_KEY is not
-- configured (development): generated on first start.
CREATE TABLE master_keys (
    -- PASERK k4.local.… key.
    paserk     text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One data key per person, wrapped (XChaCha20-Poly1305) under the master key.
CREATE TABLE personal_data_keys (
    subject     uuid PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- People who were erased: no key is ever made for them again.
CREATE TABLE personal_data_erasures (
    subject   uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);

-- An email registers once, now through its blind index (HMAC-SHA256 under
-- a key derived from the master key), since the email itself is sealed.
-- Accounts registered before this migration keep their plaintext email and
-- its index.
CREATE UNIQUE INDEX events_user_email_index_unique
    ON events ((payload -> 'UserRegistered' ->> 'email_index'))
    WHERE aggregate_type = 'User' AND event_type = 'UserRegistered';

-- The messages a person wrote, for their data export.
CREATE INDEX events_message_author
    ON events ((payload -> 'MessageSent' ->> 'author_id'))
    WHERE aggregate_type = 'Conversation' AND event_type = 'MessageSent';

-- An erased person's messages are found by author in the read model.
CREATE INDEX rm_messages_by_author ON rm_messages (author_id);

-- The projects a person joined, left or created, for their data export.
CREATE INDEX events_project_membership_by_user
    ON events ((payload -> event_type ->> 'user_id'))
    WHERE aggregate_type = 'Project'
      AND event_type IN ('ProjectMemberAdded', 'ProjectMemberRoleChanged', 'ProjectMemberRemoved');
CREATE INDEX events_project_owner
    ON events ((payload -> 'ProjectCreated' ->> 'owner_id'))
    WHERE aggregate_type = 'Project' AND event_type = 'ProjectCreated';
