-- Estates' settings, the housing roll, owner verification, co-owners, changes of owner and the
-- owners'-committee role. Areas are exact: integer hundredths of a square metre.

ALTER TABLE estates
    ADD COLUMN total_households           integer NOT NULL DEFAULT 0
                                          CONSTRAINT estates_total_households_check CHECK (total_households >= 0),
    ADD COLUMN total_area_centi           bigint  NOT NULL DEFAULT 0
                                          CONSTRAINT estates_total_area_centi_check CHECK (total_area_centi >= 0),
    ADD COLUMN has_owners_committee       boolean NOT NULL DEFAULT false,
    ADD COLUMN co_owner_verification      boolean NOT NULL DEFAULT false,
    ADD COLUMN deliberation_needs_approval boolean NOT NULL DEFAULT false,
    ADD COLUMN parking_counts             boolean NOT NULL DEFAULT false,
    ADD COLUMN storage_counts             boolean NOT NULL DEFAULT false,
    ADD COLUMN locality_rule              text    NOT NULL DEFAULT 'national'
        CONSTRAINT estates_locality_rule_check CHECK (locality_rule IN ('national', 'beijing', 'shanghai', 'shandong', 'qingdao', 'hangzhou')),
    ADD COLUMN updated_at                 timestamptz NOT NULL DEFAULT now();

CREATE TABLE housing_imports (
    id          uuid PRIMARY KEY,
    estate_id   uuid NOT NULL REFERENCES estates(id),
    file_name   text NOT NULL,
    unit_count  integer NOT NULL,
    staff_id    uuid NOT NULL REFERENCES staff(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE units (
    id                uuid PRIMARY KEY,
    estate_id         uuid NOT NULL REFERENCES estates(id),
    building          text NOT NULL CHECK (length(building) BETWEEN 1 AND 30),
    entrance          text NOT NULL CHECK (length(entrance) BETWEEN 1 AND 30),
    room              text NOT NULL CHECK (length(room) BETWEEN 1 AND 30),
    kind              text NOT NULL CHECK (kind IN ('residential', 'commercial', 'parking', 'storage')),
    area_centi        bigint NOT NULL CHECK (area_centi > 0),
    owner_name        text NOT NULL,
    owner_phone       text NOT NULL,
    developer_unsold  boolean NOT NULL DEFAULT false,
    import_id         uuid NOT NULL REFERENCES housing_imports(id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (estate_id, building, entrance, room)
);
CREATE INDEX ON units (estate_id, building, entrance);
CREATE INDEX ON units (owner_phone);

-- Who holds a unit on the platform: its verified owner (at most one at a time) and approved
-- co-owners. Rows are never deleted: an ended holding keeps its history.
CREATE TABLE unit_holders (
    id          uuid PRIMARY KEY,
    unit_id     uuid NOT NULL REFERENCES units(id),
    owner_id    uuid NOT NULL REFERENCES owners(id),
    role        text NOT NULL CHECK (role IN ('owner', 'co_owner')),
    since       timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    end_reason  text CHECK (end_reason IN ('unbound', 'transferred', 'removed'))
);
CREATE UNIQUE INDEX unit_holders_one_owner ON unit_holders (unit_id) WHERE role = 'owner' AND ended_at IS NULL;
CREATE UNIQUE INDEX unit_holders_once ON unit_holders (unit_id, owner_id) WHERE ended_at IS NULL;
CREATE INDEX ON unit_holders (owner_id) WHERE ended_at IS NULL;

CREATE TABLE co_owner_applications (
    id               uuid PRIMARY KEY,
    unit_id          uuid NOT NULL REFERENCES units(id),
    applicant_id     uuid NOT NULL REFERENCES owners(id),
    name             text NOT NULL,
    phone            text NOT NULL,
    proof_ids        uuid[] NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'deleted')),
    reject_reason    text,
    reviewed_by      uuid REFERENCES staff(id),
    reviewed_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON co_owner_applications (phone) WHERE status = 'approved';
CREATE UNIQUE INDEX co_owner_applications_open ON co_owner_applications (unit_id, phone) WHERE status IN ('pending', 'approved');

CREATE TABLE unit_transfers (
    id              uuid PRIMARY KEY,
    unit_id         uuid NOT NULL REFERENCES units(id),
    old_owner_name  text NOT NULL,
    old_owner_phone text NOT NULL,
    new_owner_name  text NOT NULL,
    new_owner_phone text NOT NULL,
    id_card_id      uuid NOT NULL REFERENCES attachments(id),
    deed_id         uuid NOT NULL REFERENCES attachments(id),
    staff_id        uuid NOT NULL REFERENCES staff(id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON unit_transfers (unit_id);

-- Personal documents (ID cards, deeds) are tied to an estate: only its staff may read them.
ALTER TABLE attachments ADD COLUMN estate_id uuid
    CONSTRAINT attachments_estate_id_fkey REFERENCES estates(id);

CREATE TABLE oc_members (
    id          uuid PRIMARY KEY,
    estate_id   uuid NOT NULL REFERENCES estates(id),
    owner_id    uuid NOT NULL REFERENCES owners(id),
    granted_by  uuid NOT NULL REFERENCES staff(id),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX oc_members_active ON oc_members (estate_id, owner_id) WHERE revoked_at IS NULL;

ALTER TABLE sms_codes DROP CONSTRAINT sms_codes_purpose_check;
ALTER TABLE sms_codes ADD CONSTRAINT sms_codes_purpose_check CHECK (purpose IN ('register', 'login', 'verify_unit'));

-- Someone registering with a phone that staff approved as a unit's co-owner is linked at once.
CREATE FUNCTION link_approved_co_owner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Same lock as approving and deleting an application for this phone: no race loses a link.
    PERFORM pg_advisory_xact_lock(hashtext('co-owner:' || NEW.phone));
    INSERT INTO unit_holders (id, unit_id, owner_id, role)
    SELECT gen_random_uuid(), a.unit_id, NEW.id, 'co_owner'
      FROM (SELECT DISTINCT unit_id FROM co_owner_applications WHERE phone = NEW.phone AND status = 'approved') a
     WHERE NOT EXISTS (SELECT 1 FROM unit_holders h WHERE h.unit_id = a.unit_id AND h.owner_id = NEW.id AND h.ended_at IS NULL);
    RETURN NEW;
END $$;
CREATE TRIGGER owners_link_co_owner AFTER INSERT ON owners FOR EACH ROW EXECUTE FUNCTION link_approved_co_owner();
