-- Encrypted source credentials (AES-256-GCM). Events and configs carry only the row id
-- (credential_ref). The ciphertext is bound to tenant_id and id (associated data), so a row
-- copied to another tenant or id does not decrypt. key_id names the key for rotation.

CREATE SCHEMA IF NOT EXISTS secrets;

CREATE TABLE secrets.credentials (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    key_id       text NOT NULL,
    nonce        bytea NOT NULL,
    ciphertext   bytea NOT NULL,
    field_names  text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Rotation finds the rows still sealed by an old key.
CREATE INDEX credentials_by_key ON secrets.credentials (key_id, id);
