-- Mail waiting to be sent (password resets, email verification). Written by
-- command-api after the event that asked for it; drained by the mailer, which
-- sends through SMTP when configured and otherwise writes the mail to the log.
CREATE TABLE mail_outbox (
    id          uuid PRIMARY KEY,
    recipient   text NOT NULL,
    subject     text NOT NULL,
    -- Holds the one-time link; the token itself is stored only as a digest
    -- in the event that issued it.
    body        text NOT NULL,
    -- Why it was sent (`password_reset`, `email_verification`), for operators.
    purpose     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX mail_outbox_unsent ON mail_outbox (created_at) WHERE sent_at IS NULL;
