-- A revocation may come before its share's record (a token from before the registry, or a
-- record still on its way): it gets a row of its own (recorded = FALSE), which the record fills
-- in later without lifting the revocation. (SQLite commits one writer at a time, in sequence
-- order: its followers need nothing more than the sequence number.)
ALTER TABLE shares ADD COLUMN recorded BOOLEAN NOT NULL DEFAULT TRUE;
