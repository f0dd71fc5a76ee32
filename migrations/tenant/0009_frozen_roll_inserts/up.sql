-- The frozen roll refused updates and deletes but not inserts: a unit slipped into an open
-- matter's roll would have voted. Rows may be added only while the matter is being opened
-- (still 'approved'; the opening sets it 'open' in the same transaction).
CREATE FUNCTION matter_roll_insert_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM matters WHERE id = NEW.matter_id) IS DISTINCT FROM 'approved' THEN
        RAISE EXCEPTION 'the frozen roll cannot be changed';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER matter_roll_frozen_inserts BEFORE INSERT ON matter_roll
    FOR EACH ROW EXECUTE FUNCTION matter_roll_insert_guard();
