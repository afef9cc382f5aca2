-- Faster realtime.entity and realtime.camel, same results. The 0001 versions are SQL functions
-- that cannot be inlined, so PostgreSQL planned realtime.camel's query again for every key of
-- every entity: about 1 ms per 17-column row on a loaded 2-core machine, the largest part of a
-- rule's own work (sql/triggers BenchmarkEntity measures both). Here the common case, lower-case
-- snake_case names, is a chain of replace() calls in a PL/pgSQL function, whose plan is cached;
-- anything else (digits or capitals after '_', doubled or trailing '_') falls back to the
-- general split-and-capitalise.

CREATE OR REPLACE FUNCTION realtime.camel(name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    fast text;
BEGIN
    IF strpos(name, '_') = 0 THEN
        RETURN name;
    END IF;
    fast := replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(name, '_a', 'A'), '_b', 'B'), '_c', 'C'), '_d', 'D'), '_e', 'E'), '_f', 'F'), '_g', 'G'), '_h', 'H'), '_i', 'I'), '_j', 'J'), '_k', 'K'), '_l', 'L'), '_m', 'M'), '_n', 'N'), '_o', 'O'), '_p', 'P'), '_q', 'Q'), '_r', 'R'), '_s', 'S'), '_t', 'T'), '_u', 'U'), '_v', 'V'), '_w', 'W'), '_x', 'X'), '_y', 'Y'), '_z', 'Z');
    IF strpos(fast, '_') = 0 THEN
        RETURN fast;
    END IF;
    RETURN (SELECT string_agg(CASE WHEN ord = 1 THEN part ELSE upper(left(part, 1)) || substr(part, 2) END,
                              '' ORDER BY ord)
            FROM unnest(string_to_array(name, '_')) WITH ORDINALITY AS t(part, ord));
END;
$$;

CREATE OR REPLACE FUNCTION realtime.entity(obj jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT coalesce(jsonb_object_agg(CASE WHEN strpos(fast, '_') = 0 THEN fast ELSE realtime.camel(key) END, value),
                        '{}'::jsonb)
        FROM (SELECT key, value, replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(key, '_a', 'A'), '_b', 'B'), '_c', 'C'), '_d', 'D'), '_e', 'E'), '_f', 'F'), '_g', 'G'), '_h', 'H'), '_i', 'I'), '_j', 'J'), '_k', 'K'), '_l', 'L'), '_m', 'M'), '_n', 'N'), '_o', 'O'), '_p', 'P'), '_q', 'Q'), '_r', 'R'), '_s', 'S'), '_t', 'T'), '_u', 'U'), '_v', 'V'), '_w', 'W'), '_x', 'X'), '_y', 'Y'), '_z', 'Z') AS fast FROM jsonb_each(obj)) AS e);
END;
$$;
