-- Up Migration

-- Push-frequency rules in force. Each change also appends a row to push_rule_versions (a deletion too), so the
-- history of who changed what and when is kept. The API serves a copy from Redis, never these tables.
CREATE TABLE push_rules (
  rule_id      text        PRIMARY KEY,
  channel      text        NOT NULL CHECK (channel IN ('push', 'email', 'sms', 'inapp', 'any')),
  rule_limit   integer     NOT NULL CHECK (rule_limit >= 0),
  rule_window  text        NOT NULL,
  category     text,
  active_from  timestamptz,
  active_until timestamptz,
  enabled      boolean     NOT NULL,
  version      integer     NOT NULL,
  updated_by   text        NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (active_from IS NULL OR active_until IS NULL OR active_from < active_until)
);

-- definition is null for a deletion; versions keep counting when a deleted rule id is used again.
CREATE TABLE push_rule_versions (
  rule_id    text        NOT NULL,
  version    integer     NOT NULL,
  definition jsonb,
  author     text        NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rule_id, version)
);

-- Quiet hours: the newest version is in force.
CREATE TABLE push_quiet_hours_versions (
  version    bigserial   PRIMARY KEY,
  definition jsonb       NOT NULL,
  author     text        NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE push_quiet_hours_versions;
DROP TABLE push_rule_versions;
DROP TABLE push_rules;
