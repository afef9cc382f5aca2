-- The 0001 versions.
CREATE OR REPLACE FUNCTION realtime.camel(name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT string_agg(CASE WHEN ord = 1 THEN part ELSE upper(left(part, 1)) || substr(part, 2) END,
                      '' ORDER BY ord)
    FROM unnest(string_to_array(name, '_')) WITH ORDINALITY AS t(part, ord)
$$;

CREATE OR REPLACE FUNCTION realtime.entity(obj jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT coalesce(jsonb_object_agg(realtime.camel(key), value), '{}'::jsonb)
    FROM jsonb_each(obj)
$$;
