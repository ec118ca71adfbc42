-- What replicas tell each other: new shares, revocations, used-up shares, role settings. Read in
-- order of seq by every replica (polling), announced by NOTIFY on PostgreSQL.
CREATE TABLE changes (
    seq     BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes (at);

-- Settings shared by replicas (the roles of PUT /settings/roles), JSON text.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
