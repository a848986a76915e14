-- Usage rolled up as it is projected, so an analytics answer reads a row per
-- project, UTC day, model and agent (or per task) instead of summing every
-- record at request time. Owned by the `usage` projection, written in the
-- same transaction as `rm_usage`; sums stay exact (unscaled numeric).

CREATE TABLE rm_usage_daily (
    project_id      uuid    NOT NULL,
    day             date    NOT NULL,
    model           text    NOT NULL,
    agent_id        uuid    NOT NULL,
    records         bigint  NOT NULL,
    input_tokens    bigint  NOT NULL,
    output_tokens   bigint  NOT NULL,
    cost_usd        numeric NOT NULL,
    input_cost_usd  numeric NOT NULL,
    output_cost_usd numeric NOT NULL,
    PRIMARY KEY (project_id, day, model, agent_id)
);
CREATE INDEX rm_usage_daily_by_agent ON rm_usage_daily (agent_id);

-- Per-task sums replace the index tasks were summed through.
DROP INDEX rm_usage_by_task;
CREATE TABLE rm_task_usage (
    task_id         uuid    PRIMARY KEY,
    records         bigint  NOT NULL,
    input_tokens    bigint  NOT NULL,
    output_tokens   bigint  NOT NULL,
    cost_usd        numeric NOT NULL
);

INSERT INTO rm_usage_daily
SELECT project_id, (recorded_at AT TIME ZONE 'UTC')::date, model, agent_id, count(*),
       sum(input_tokens), sum(output_tokens), sum(cost_usd), sum(input_cost_usd), sum(output_cost_usd)
  FROM rm_usage GROUP BY 1, 2, 3, 4;

INSERT INTO rm_task_usage
SELECT task_id, count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd)
  FROM rm_usage WHERE task_id IS NOT NULL GROUP BY 1;

-- The usage `viewer` may see in `project` (all of theirs when NULL), between
-- `from_ts` (inclusive) and `until_ts` (exclusive), each NULL for no bound,
-- one row per UTC day, model and agent. Whole days inside the range come
-- from the rollup; the partial days at either end from the records.
CREATE FUNCTION usage_between(viewer uuid, project uuid, from_ts timestamptz, until_ts timestamptz)
RETURNS TABLE (day date, model text, agent_id uuid, records bigint, input_tokens bigint,
               output_tokens bigint, cost_usd numeric, input_cost_usd numeric, output_cost_usd numeric)
LANGUAGE sql STABLE AS $$
    WITH scope AS (
        SELECT m.project_id FROM rm_project_members m
         WHERE m.user_id = viewer AND (project IS NULL OR m.project_id = project)
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
