DROP TRIGGER IF EXISTS touch_updated_at ON tasks;
DROP TRIGGER IF EXISTS touch_updated_at ON chats;
DROP TRIGGER IF EXISTS touch_updated_at ON rewards;
DROP TRIGGER IF EXISTS touch_updated_at ON claims;
DROP FUNCTION IF EXISTS touch_updated_at();
