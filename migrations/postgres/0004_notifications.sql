-- The alert row is the outbox: a firing or resolution is published to the
-- alerts queue after it is stored, and a sweep publishes what a crash left
-- unpublished.
ALTER TABLE alerts ADD COLUMN fired_published BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alerts ADD COLUMN resolved_published BOOLEAN NOT NULL DEFAULT FALSE;
-- Alerts from before notifications existed are history, not news.
UPDATE alerts SET fired_published = TRUE, resolved_published = TRUE;
CREATE INDEX alerts_unpublished ON alerts (fired_at)
    WHERE NOT fired_published OR (state = 'resolved' AND NOT resolved_published);

-- One row per message owed: an alert's firing or resolution, to one
-- recipient of one channel. Its primary key is what makes a notification
-- go out once however many notifiers see it.
CREATE TABLE notifications (
    alert_id    TEXT NOT NULL,
    transition  TEXT NOT NULL,        -- fired | resolved
    channel     TEXT NOT NULL,
    recipient   TEXT NOT NULL,        -- pseudonym of the address, number or URL
    state       TEXT NOT NULL,        -- sending | sent | dead
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_until TIMESTAMPTZ NOT NULL, -- a sending row whose lease ran out is taken over
    PRIMARY KEY (alert_id, transition, channel, recipient)
);

CREATE TABLE notification_attempts (
    id          BIGSERIAL PRIMARY KEY,
    alert_id    TEXT NOT NULL,
    transition  TEXT NOT NULL,
    channel     TEXT NOT NULL,
    kind        TEXT NOT NULL,        -- email | sms | webhook | log
    recipient   TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    status      TEXT NOT NULL,        -- sent | failed | dead
    error       TEXT,
    provider_id TEXT,                 -- the provider's message id
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX notification_attempts_alert ON notification_attempts (alert_id, id);
