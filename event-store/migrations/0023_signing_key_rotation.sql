-- Signing keys rotate (`zekka keys rotate`): a new key is published first
-- and starts signing at `activates_at`, by which time every process has
-- read it; the keys it replaces retire then. A retired key's secret is
-- erased at the next rotation, its public key is kept: it still verifies
-- the audit checkpoints it signed, and access tokens issued before it
-- retired, until they expire.
ALTER TABLE signing_keys ALTER COLUMN secret_key DROP NOT NULL;
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET DEFAULT now();
-- When a newer key took over.
ALTER TABLE signing_keys ADD COLUMN retired_at timestamptz;
-- When the key stopped vouching for any access token (rotated out because
-- it may have leaked: `zekka keys rotate --revoke-previous`).
ALTER TABLE signing_keys ADD COLUMN revoked_at timestamptz;
