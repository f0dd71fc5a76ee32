-- Tenant schemas as Citus runs them: each whole on one worker, where triggers run in Citus's own
-- sessions (whose search path is not the service's).

-- Linking an approved co-owner when they register moves into the service (housing's
-- `link_approved_co_owner`), beside the review that takes the same lock: an advisory lock taken
-- by a trigger on a worker would not exclude the service's on the coordinator.
DROP TRIGGER owners_link_co_owner ON owners;
DROP FUNCTION link_approved_co_owner();

-- The guards read the matter from the trigger's own schema, named explicitly.
CREATE OR REPLACE FUNCTION matter_roll_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    matter_status text;
BEGIN
    EXECUTE format('SELECT status FROM %I.matters WHERE id = $1', TG_TABLE_SCHEMA)
       INTO matter_status USING NEW.matter_id;
    IF matter_status IS DISTINCT FROM 'approved' THEN
        RAISE EXCEPTION 'the frozen roll cannot be changed';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION ledger_checkpoints_signed_from_v5() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    version smallint;
BEGIN
    EXECUTE format('SELECT ledger_version FROM %I.matters WHERE id = $1', TG_TABLE_SCHEMA)
       INTO version USING NEW.matter_id;
    IF NEW.signature IS NULL AND version >= 5 THEN
        RAISE EXCEPTION 'checkpoints of a version 5 ledger must be signed';
    END IF;
    RETURN NEW;
END $$;
