-- Preparatory groups (筹备组), owners'-committee terms (选届) and their elections in rounds.
-- An election round votes through a matter of kind 'election', so it reuses the frozen roll,
-- the ballots, the ledger, its checkpoints and the export of deliberation matters.

-- Ledgers of matters opened before checkpoints existed (migration 0004) stay verifiable the
-- way they were made: entries only, no opening hash, no checkpoints (version 1).
ALTER TABLE matters ADD COLUMN ledger_version smallint NOT NULL DEFAULT 2
    CONSTRAINT matters_ledger_version_check CHECK (ledger_version IN (1, 2));
UPDATE matters m SET ledger_version = 1
 WHERE opened_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_checkpoints c WHERE c.matter_id = m.id AND c.entries = 0);

ALTER TABLE matters ADD COLUMN kind text NOT NULL DEFAULT 'matter'
    CONSTRAINT matters_kind_check CHECK (kind IN ('matter', 'election'));
-- An election ballot's picks (candidate ids); NULL on matters.
ALTER TABLE ballots ADD COLUMN picks uuid[];
ALTER TABLE ledger_entries ADD COLUMN picks text;

-- What an entry needs to carry besides its object, e.g. the lot that broke a tie.
ALTER TABLE audit_log ADD COLUMN detail jsonb;

CREATE TABLE prep_groups (
    id                   uuid PRIMARY KEY,
    estate_id            uuid NOT NULL REFERENCES estates(id),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    seats                int NOT NULL CHECK (seats > 0 AND seats % 2 = 1),
    leader_phone         text NOT NULL,
    leader_phone_public  boolean NOT NULL,
    signup_opens_at      timestamptz NOT NULL,
    signup_closes_at     timestamptz NOT NULL CHECK (signup_closes_at > signup_opens_at),
    work_days            int NOT NULL CHECK (work_days > 0),
    status               text NOT NULL DEFAULT 'forming' CHECK (status IN ('forming', 'formed')),
    formed_at            timestamptz,
    created_by           uuid NOT NULL REFERENCES staff(id),
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON prep_groups (estate_id);

-- Owner sign-ups (kind 'owner') and appointed representatives of the street office, the
-- residents' committee and the developer.
CREATE TABLE prep_members (
    id            uuid PRIMARY KEY,
    group_id      uuid NOT NULL REFERENCES prep_groups(id),
    kind          text NOT NULL CHECK (kind IN ('owner', 'street', 'rc', 'developer')),
    owner_id      uuid REFERENCES owners(id),
    name          text NOT NULL,
    phone         text NOT NULL,
    intro         text NOT NULL DEFAULT '',
    signature_id  uuid REFERENCES attachments(id),
    status        text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason        text,
    reviewed_by   uuid REFERENCES staff(id),
    reviewed_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'owner') = (owner_id IS NOT NULL))
);
CREATE UNIQUE INDEX prep_members_once ON prep_members (group_id, owner_id) WHERE owner_id IS NOT NULL AND status <> 'rejected';

CREATE TABLE terms (
    id          uuid PRIMARY KEY,
    estate_id   uuid NOT NULL REFERENCES estates(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    starts_on   date NOT NULL,
    ends_on     date NOT NULL CHECK (ends_on > starts_on),
    seats       int NOT NULL CHECK (seats > 0 AND seats % 2 = 1),
    phone       text NOT NULL DEFAULT '',
    created_by  uuid NOT NULL REFERENCES staff(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON terms (estate_id);

-- One round of an election: of a term's committee, or of a preparatory group's owner seats.
CREATE TABLE elections (
    id                 uuid PRIMARY KEY,
    term_id            uuid REFERENCES terms(id),
    prep_group_id      uuid REFERENCES prep_groups(id),
    round              int NOT NULL CHECK (round >= 1),
    matter_id          uuid NOT NULL UNIQUE REFERENCES matters(id),
    seats              int NOT NULL CHECK (seats > 0),
    signup_opens_at    timestamptz NOT NULL,
    signup_closes_at   timestamptz NOT NULL,
    verification_mode  text NOT NULL CHECK (verification_mode IN ('signature', 'signature_face')),
    result             jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((term_id IS NULL) <> (prep_group_id IS NULL))
);
CREATE UNIQUE INDEX elections_term_round ON elections (term_id, round) WHERE term_id IS NOT NULL;
CREATE UNIQUE INDEX elections_group_round ON elections (prep_group_id, round) WHERE prep_group_id IS NOT NULL;

CREATE TABLE candidates (
    id            uuid PRIMARY KEY,
    election_id   uuid NOT NULL REFERENCES elections(id),
    owner_id      uuid NOT NULL REFERENCES owners(id),
    name          text NOT NULL,
    intro         text NOT NULL DEFAULT '',
    signature_id  uuid REFERENCES attachments(id),
    status        text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason        text,
    reviewed_by   uuid REFERENCES staff(id),
    reviewed_at   timestamptz,
    elected       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Once per round; a rejected sign-up may be made again.
CREATE UNIQUE INDEX candidates_once ON candidates (election_id, owner_id) WHERE status <> 'rejected';

-- Face verification before voting where the election asks for it: the provider's result
-- reference only, never an image; or staff's record of an in-person check.
CREATE TABLE face_checks (
    id           uuid PRIMARY KEY,
    election_id  uuid NOT NULL REFERENCES elections(id),
    owner_id     uuid NOT NULL REFERENCES owners(id),
    provider     text NOT NULL,
    biz_token    text,
    status       text NOT NULL CHECK (status IN ('pending', 'passed', 'failed')),
    reference    text,
    detail       text,
    staff_id     uuid REFERENCES staff(id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz
);
CREATE INDEX ON face_checks (election_id, owner_id);

-- Committee grants carry their term; a term that starts later grants (and ends the previous
-- term's grants) from its first day.
ALTER TABLE oc_members ADD COLUMN term_id uuid
    CONSTRAINT oc_members_term_id_fkey REFERENCES terms(id);
