-- A revocation may come before its share's record (a token from before the registry, or a
-- record still on its way): it gets a row of its own (recorded = FALSE), which the record fills
-- in later without lifting the revocation.
ALTER TABLE shares ADD COLUMN recorded BOOLEAN NOT NULL DEFAULT TRUE;

-- The transaction that wrote each change. A follower reads the changes past the highest
-- sequence number it has seen, plus those of the transactions that were still open at its last
-- read: a change that took its number before others but committed after them is read then.
-- Rows written before this migration have none (they are committed and read already).
ALTER TABLE changes ADD COLUMN xid BIGINT;
ALTER TABLE changes ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX changes_xid ON changes (xid, seq);
