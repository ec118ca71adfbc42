-- Protected links (a password, or codes sent by e-mail, before the viewer opens): how each share
-- is protected, and the wrong attempts that lock it, counted here so every replica sees them.
ALTER TABLE shares ADD COLUMN protection TEXT;
-- The password's Argon2id hash (PHC string); never the password.
ALTER TABLE shares ADD COLUMN password_hash TEXT;
-- The addresses codes may be sent to, a JSON list.
ALTER TABLE shares ADD COLUMN protection_addresses TEXT;
-- Wrong passwords or codes since unlock_failures_since (forgotten 15 minutes after it).
ALTER TABLE shares ADD COLUMN unlock_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE shares ADD COLUMN unlock_failures_since BIGINT;
ALTER TABLE shares ADD COLUMN locked_until BIGINT;

-- The active code of each share and address: a keyed hash of it, never the code.
CREATE TABLE unlock_codes (
    share_id   TEXT NOT NULL,
    address    TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    sent_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (share_id, address)
);

-- Codes sent, per share: at most three in any 15 minutes.
CREATE TABLE code_sends (
    share_id TEXT NOT NULL,
    sent_at  BIGINT NOT NULL
);
CREATE INDEX code_sends_share ON code_sends (share_id, sent_at);
