-- The public halves of the street offices' ledger signing keys, published to anyone who checks
-- a ledger. A key is recorded before its first signature and never changed or removed, so every
-- signature ever made stays verifiable after rotation (a new key id). Private keys are derived
-- from the deployment's secret and never stored.
CREATE TABLE platform.signing_keys (
    tenant_id     uuid NOT NULL REFERENCES platform.tenants (id),
    key_id        text NOT NULL,
    public_key    text NOT NULL CHECK (public_key ~ '^[0-9a-f]{64}$'),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key_id)
);

CREATE FUNCTION platform.signing_keys_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signing keys are append-only: a published key cannot be changed or removed';
END $$;
CREATE TRIGGER signing_keys_append_only BEFORE UPDATE OR DELETE ON platform.signing_keys
    FOR EACH ROW EXECUTE FUNCTION platform.signing_keys_append_only();
