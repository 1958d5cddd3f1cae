-- API keys of systems and people: only the SHA-256 of each secret is kept.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  secret_sha256 bytea NOT NULL,
  subject text NOT NULL,
  roles int[] NOT NULL,                -- auditwatch.v1.Role
  unit_codes text[] NOT NULL DEFAULT '{}',
  description text NOT NULL DEFAULT '',
  expires_at timestamptz,
  revoked boolean NOT NULL DEFAULT false,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_by text NOT NULL DEFAULT '',
  revoked_at timestamptz,
  revoke_reason text NOT NULL DEFAULT '',
  last_used_at timestamptz
);
