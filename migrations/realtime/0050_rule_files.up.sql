-- What rules are live (issue 16). realtimed records every rule file it applies: its text, a
-- hash, where it came from and the functions and triggers it defines, so that commands can
-- tell what is live and what an apply would replace (realtimed triggers diff, doctor), and an
-- apply that replaces live definitions keeps the previous ones.

-- realtime.rule_objects lists the functions and triggers rules can define (outside the system
-- schemas and extensions) with a hash of their definitions; only_this_transaction keeps those
-- the current transaction created or changed (a rules run looks after each file). The
-- definitions are printed with search_path = pg_catalog, so that every name in them is
-- qualified and hashes do not depend on the caller's search_path.
CREATE FUNCTION realtime.rule_objects(only_this_transaction boolean, with_definitions boolean)
RETURNS TABLE (kind text, name text, object oid, sha256 text, definition text)
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
    SELECT o.kind, o.name, o.object, encode(sha256(convert_to(o.def, 'UTF8')), 'hex'),
           CASE WHEN with_definitions THEN o.def END
    FROM (
        SELECT 'function' AS kind,
               format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
               p.oid AS object, pg_get_functiondef(p.oid) AS def
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE p.prokind IN ('f', 'p', 'w')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
          AND (NOT only_this_transaction OR p.xmin = pg_current_xact_id()::xid)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        UNION ALL
        SELECT 'trigger',
               format('%I on %I.%I', t.tgname, n.nspname, c.relname),
               t.oid, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
          AND (NOT only_this_transaction OR t.xmin = pg_current_xact_id()::xid)
    ) o
$$;

-- One row per rule file live in this database: the last version of it applied.
CREATE TABLE realtime.rule_files (
    name       text PRIMARY KEY,              -- the file's name, e.g. tasks.sql
    sha256     text NOT NULL,                 -- of sql
    sql        text NOT NULL,                 -- the file as applied
    source     text NOT NULL,                 -- where it came from: 'built-in set (realtimed …)', 'folder /srv/rules'
    objects    jsonb NOT NULL DEFAULT '[]',   -- what it defines: [{"kind":"function","name":"realtime.rule_tasks()","sha256":"…"}]
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL                  -- host, command and realtimed version
);

-- The definitions an apply replaced or dropped, so that an edit undone by mistake can be put
-- back (the newest 20 per file are kept).
CREATE TABLE realtime.rule_history (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,            -- the rule file whose apply replaced them
    replaced_at     timestamptz NOT NULL DEFAULT now(),
    replaced_by     text NOT NULL,            -- host, command and realtimed version
    source          text NOT NULL,            -- where the replacing file came from
    previous_source text,                     -- where the replaced file had come from (NULL: not recorded)
    previous_sql    text,                     -- the replaced file as it had been applied (NULL: not recorded)
    previous        jsonb NOT NULL            -- the replaced definitions: [{"kind":…,"name":…,"definition":…}]
);
CREATE INDEX rule_history_name_idx ON realtime.rule_history (name, id);

COMMENT ON TABLE realtime.rule_files IS 'Rule files applied (realtimed triggers apply, serve); written by realtimed.';
COMMENT ON TABLE realtime.rule_history IS 'Definitions replaced by rule applies, newest 20 per file; written by realtimed.';
