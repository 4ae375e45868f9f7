-- Reports as accepted at the edge; enrichment adds columns in later migrations.
CREATE TABLE reports (
    id               TEXT PRIMARY KEY,           -- ULID: sorts by receive time
    dedup_key        TEXT NOT NULL UNIQUE,       -- '{source}:{source_id}'
    source           TEXT NOT NULL,
    source_id        TEXT NOT NULL,
    sender           TEXT,
    sender_kind      TEXT,
    sender_pseudonym TEXT,
    recipient        TEXT,
    text             TEXT NOT NULL,
    sent_at          TIMESTAMPTZ,
    received_at      TIMESTAMPTZ NOT NULL,
    stored_at        TIMESTAMPTZ NOT NULL,
    lat              DOUBLE PRECISION,
    lon              DOUBLE PRECISION,
    meta             JSONB NOT NULL DEFAULT '{}'
);

-- Parts of multipart SMS waiting for their siblings.
CREATE TABLE message_parts (
    dedup_key   TEXT PRIMARY KEY,
    group_key   TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    -- Set once the group is stored as a report; kept a day so that a
    -- redelivered part is recognised instead of becoming a report again.
    assembled_at TIMESTAMPTZ,
    report      JSONB NOT NULL
);
CREATE INDEX message_parts_group ON message_parts (group_key);
CREATE INDEX message_parts_received ON message_parts (received_at);
