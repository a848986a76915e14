-- Identity: email uniqueness and token signing keys.

-- An email registers once. The check lives on the event store itself, so it
-- holds under concurrent registrations: the second insert violates this index
-- and postgres-es turns that into an aggregate conflict (HTTP 409).
CREATE UNIQUE INDEX events_user_email_unique
    ON events ((payload -> 'UserRegistered' ->> 'email'))
    WHERE aggregate_type = 'User' AND event_type = 'UserRegistered';

-- Keys that sign access tokens, when none is configured through the
-- environment. Generated once on first start (the first writer wins).
CREATE TABLE signing_keys (
    -- PASERK key id (k4.pid.…), carried in each token's footer.
    key_id      text PRIMARY KEY,
    -- PASERK secret key (k4.secret.…). Only command-api reads this column.
    secret_key  text NOT NULL,
    -- PASERK public key (k4.public.…).
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
