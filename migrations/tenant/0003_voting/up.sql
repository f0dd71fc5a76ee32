-- Deliberation matters (议事), the roll frozen when voting opens, ballots, and the ballot ledger.

CREATE TABLE matter_types (
    estate_id  uuid NOT NULL REFERENCES estates(id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 30),
    PRIMARY KEY (estate_id, name)
);

CREATE TABLE matters (
    id                  uuid PRIMARY KEY,
    estate_id           uuid NOT NULL REFERENCES estates(id),
    type_name           text NOT NULL,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    content             text NOT NULL,
    importance          text NOT NULL CHECK (importance IN ('normal', 'important', 'urgent')),
    -- NULL: the whole estate; otherwise the buildings whose units vote (totals over them).
    scope_buildings     text[],
    opens_at            timestamptz NOT NULL,
    closes_at           timestamptz NOT NULL CHECK (closes_at > opens_at),
    signature_required  boolean NOT NULL,
    law_item            smallint NOT NULL CHECK (law_item BETWEEN 1 AND 9),
    rule_set            jsonb NOT NULL,
    rule_change_reason  text,
    settings            jsonb NOT NULL,
    -- Secret per matter: person codes in the public ledger cannot be linked to phones or
    -- across matters.
    ledger_salt         text NOT NULL,
    attachment_ids      uuid[] NOT NULL DEFAULT '{}' CHECK (cardinality(attachment_ids) <= 5),
    status              text NOT NULL CHECK (status IN ('pending_approval', 'rejected', 'approved', 'open', 'closed', 'cancelled')),
    review_reason       text,
    cancel_reason       text,
    result              jsonb,
    opened_at           timestamptz,
    created_by_kind     text NOT NULL CHECK (created_by_kind IN ('staff', 'owner')),
    created_by          uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON matters (estate_id, created_at);

CREATE TABLE matter_deadline_changes (
    id          bigserial PRIMARY KEY,
    matter_id   uuid NOT NULL REFERENCES matters(id),
    old_closes  timestamptz NOT NULL,
    new_closes  timestamptz NOT NULL,
    staff_id    uuid NOT NULL REFERENCES staff(id),
    at          timestamptz NOT NULL DEFAULT now()
);

-- The roll as it stood when voting opened: who votes for each unit, with what area.
CREATE TABLE matter_roll (
    matter_id    uuid NOT NULL REFERENCES matters(id),
    unit_id      uuid NOT NULL REFERENCES units(id),
    unit_code    text NOT NULL,
    building     text NOT NULL,
    area_centi   bigint NOT NULL,
    class        text NOT NULL,
    -- The person the unit's vote belongs to: the developer, or the registered owner (units of
    -- one registered owner form one person, VOTING-RULES §2).
    holder_key   text NOT NULL,
    PRIMARY KEY (matter_id, unit_id)
);
CREATE INDEX ON matter_roll (matter_id, holder_key);

-- Every ballot as cast, online or entered from paper; never deleted.
CREATE TABLE ballots (
    id                uuid PRIMARY KEY,
    matter_id         uuid NOT NULL REFERENCES matters(id),
    seq               bigint NOT NULL,
    holder_key        text NOT NULL,
    channel           text NOT NULL CHECK (channel IN ('online', 'paper', 'on_site')),
    choice            text NOT NULL CHECK (choice IN ('agree', 'disagree', 'abstain')),
    voter_owner_id    uuid REFERENCES owners(id),
    entered_by        uuid REFERENCES staff(id),
    signature_id      uuid REFERENCES attachments(id),
    scan_id           uuid REFERENCES attachments(id),
    idempotency_key   text,
    voided_at         timestamptz,
    void_reason       text,
    -- Set when the voter used their one permitted change: the newer ballot takes the slot.
    replaced_at       timestamptz,
    cast_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (matter_id, voter_owner_id, idempotency_key)
);
-- One ballot per person per channel; the channel rule picks between channels at tally.
CREATE UNIQUE INDEX ballots_one_per_channel ON ballots (matter_id, holder_key, channel) WHERE replaced_at IS NULL;
CREATE SEQUENCE ballot_seq;

-- 从众: proof that a unit's ballot was delivered, for non-voters to follow the majority where
-- the estate's covenant says so.
CREATE TABLE matter_deliveries (
    matter_id  uuid NOT NULL REFERENCES matters(id),
    unit_id    uuid NOT NULL REFERENCES units(id),
    proof_id   uuid NOT NULL REFERENCES attachments(id),
    staff_id   uuid NOT NULL REFERENCES staff(id),
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (matter_id, unit_id)
);

-- The public, append-only ledger: one entry per cast, void or supersession, each hashed on its
-- own (no hot "last hash" row); the Merkle root over entries in order commits to all of them.
CREATE TABLE ledger_entries (
    seq          bigint PRIMARY KEY,
    matter_id    uuid NOT NULL REFERENCES matters(id),
    ballot_id    uuid NOT NULL REFERENCES ballots(id),
    kind         text NOT NULL CHECK (kind IN ('cast', 'void', 'superseded')),
    person_code  text NOT NULL,
    unit_codes   text NOT NULL,
    area_centi   bigint NOT NULL,
    channel      text NOT NULL,
    choice       text NOT NULL,
    at           timestamptz NOT NULL,
    hash         text NOT NULL
);
CREATE INDEX ON ledger_entries (matter_id, seq);
CREATE INDEX ON ledger_entries (ballot_id);
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION audit_log_forbid_change();
