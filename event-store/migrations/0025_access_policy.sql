-- One access policy (issue 21): the one SQL definition of what a person may
-- read. `visible_projects(viewer)` is every project `viewer` is a member of,
-- with their role; every read of a project's data joins it (or filters on
-- it) instead of repeating the membership join. Rules about who may *write*
-- live in the domain (`domain::shared::access`), about API keys and system
-- roles in `platform::policy`.
--
-- A function, not a view: a view is bound to the table it was created over,
-- so a rebuilt `rm_project_members` swapped in by name would leave it reading
-- the retired copy; a plain SQL function is resolved when the calling
-- statement is planned, and PostgreSQL inlines it there (it is one SELECT,
-- STABLE, not STRICT, not SECURITY DEFINER, with no SET clause), so the
-- plans are the joins they replace.
CREATE FUNCTION visible_projects(viewer uuid)
RETURNS TABLE (project_id uuid, role text)
LANGUAGE sql STABLE AS $$
    SELECT m.project_id, m.role FROM rm_project_members m WHERE m.user_id = viewer
$$;

-- Unchanged from 0020 but for `scope`, now read through the policy.
-- The usage `viewer` may see in `project` (all of theirs when NULL), between
-- `from_ts` (inclusive) and `until_ts` (exclusive), each NULL for no bound,
-- one row per UTC day, model and agent. Whole days inside the range come
-- from the rollup; the partial days at either end from the records.
CREATE OR REPLACE FUNCTION usage_between(viewer uuid, project uuid, from_ts timestamptz, until_ts timestamptz)
RETURNS TABLE (day date, model text, agent_id uuid, records bigint, input_tokens bigint,
               output_tokens bigint, cost_usd numeric, input_cost_usd numeric, output_cost_usd numeric)
LANGUAGE sql STABLE AS $$
    WITH scope AS (
        SELECT v.project_id FROM visible_projects(viewer) v
         WHERE project IS NULL OR v.project_id = project
    ), bounds AS (
        -- Whole days run from the first midnight at or after `from_ts` to
        -- the last midnight at or before `until_ts`.
        SELECT coalesce(date_trunc('day', from_ts AT TIME ZONE 'UTC')
                          + CASE WHEN date_trunc('day', from_ts AT TIME ZONE 'UTC') = from_ts AT TIME ZONE 'UTC'
                                 THEN interval '0' ELSE interval '1 day' END,
                        '-infinity'::timestamp) AT TIME ZONE 'UTC' AS whole_from,
               coalesce(date_trunc('day', until_ts AT TIME ZONE 'UTC'), 'infinity'::timestamp)
                   AT TIME ZONE 'UTC' AS whole_until
    )
    SELECT r.day, r.model, r.agent_id, r.records, r.input_tokens, r.output_tokens,
           r.cost_usd, r.input_cost_usd, r.output_cost_usd
      FROM rm_usage_daily r, bounds b
     WHERE r.project_id IN (SELECT project_id FROM scope)
       AND r.day >= (b.whole_from AT TIME ZONE 'UTC')::date
       AND r.day < (b.whole_until AT TIME ZONE 'UTC')::date
    UNION ALL
    -- The part of the first day before it is whole (all of the range when
    -- it starts and ends within one day).
    SELECT (u.recorded_at AT TIME ZONE 'UTC')::date, u.model, u.agent_id, 1, u.input_tokens,
           u.output_tokens, u.cost_usd, u.input_cost_usd, u.output_cost_usd
      FROM rm_usage u, bounds b
     WHERE from_ts IS NOT NULL
       AND u.project_id IN (SELECT project_id FROM scope)
       AND u.recorded_at >= from_ts
       AND u.recorded_at < least(coalesce(until_ts, 'infinity'), b.whole_from)
    UNION ALL
    -- The part of the last day after the whole days.
    SELECT (u.recorded_at AT TIME ZONE 'UTC')::date, u.model, u.agent_id, 1, u.input_tokens,
           u.output_tokens, u.cost_usd, u.input_cost_usd, u.output_cost_usd
      FROM rm_usage u, bounds b
     WHERE until_ts IS NOT NULL
       AND u.project_id IN (SELECT project_id FROM scope)
       AND u.recorded_at >= greatest(b.whole_until, least(until_ts, b.whole_from))
       AND u.recorded_at < until_ts
$$;
