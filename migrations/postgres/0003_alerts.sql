-- Alerts that rules fired: one row per firing, updated once when it resolves.
CREATE TABLE alerts (
    id                TEXT PRIMARY KEY,          -- ULID, offered in the window store's claim
    rule_id           TEXT NOT NULL,
    group_key         TEXT NOT NULL,             -- 'admin1=KE.30' or '' for no grouping
    state             TEXT NOT NULL,             -- firing | resolved
    severity          TEXT NOT NULL,
    fired_at          TIMESTAMPTZ NOT NULL,
    resolved_at       TIMESTAMPTZ,
    value             DOUBLE PRECISION NOT NULL, -- what the condition measured when it fired
    evidence          JSONB NOT NULL,            -- ids of the reports that made the count
    resolved_evidence JSONB,
    details           JSONB NOT NULL             -- description, group fields, labels, notify, template
);
CREATE INDEX alerts_firing ON alerts (state) WHERE state = 'firing';
CREATE INDEX alerts_rule_group ON alerts (rule_id, group_key, fired_at);
