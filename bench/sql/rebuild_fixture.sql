-- A history for the rebuild benchmark: :projects projects with 4 agents
-- each, and :usage token-usage records spread over them and over 90 days,
-- shaped exactly as the command side writes them (TokenUsageRecorded 2.0).
-- Run with psql -v projects=100 -v usage=1000000.
\set ON_ERROR_STOP on

-- Chained as the writer chains them (the hashes `zekka audit verify`
-- checks), by the database for this load only (migration 0035).
CREATE TRIGGER events_chain_fixture BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_chain();

CREATE TEMP TABLE bench_projects AS
SELECT gen_random_uuid() AS project_id, gen_random_uuid() AS owner_id, n
  FROM generate_series(1, :projects) n;

CREATE TEMP TABLE bench_agents AS
SELECT p.project_id, gen_random_uuid() AS agent_id, a AS slot
  FROM bench_projects p, generate_series(0, 3) a;

INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Project', project_id::text, 1, 'ProjectCreated', '1.0',
       jsonb_build_object('ProjectCreated', jsonb_build_object(
           'project_id', project_id, 'name', 'Bench ' || n, 'description', '', 'budget_usd', null,
           'owner_id', owner_id, 'stage', 'requirements')),
       jsonb_build_object('actor', owner_id, 'command', 'CreateProject')
  FROM bench_projects ORDER BY n;

INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Agent', agent_id::text, 1, 'AgentRegistered', '1.0',
       jsonb_build_object('AgentRegistered', jsonb_build_object(
           'agent_id', agent_id, 'project_id', project_id, 'name', 'Agent ' || slot,
           'kind', 'developer', 'stage', null, 'model', 'gpt-4')),
       '{}'::jsonb
  FROM bench_agents;

CREATE TEMP TABLE bench_usage AS
SELECT u.n, p.project_id, a.agent_id, m.model, m.input_price, m.output_price,
       (hashtext(u.n::text) & 65535) * 3 AS input_tokens,
       (hashtext((u.n * 7)::text) & 16383) AS output_tokens,
       now() - make_interval(secs => (u.n % (90 * 86400))) AS at
  FROM generate_series(1, :usage) u(n)
  JOIN bench_projects p ON p.n = 1 + (u.n % :projects)
  JOIN bench_agents a ON a.project_id = p.project_id AND a.slot = (u.n / :projects) % 4
  JOIN (VALUES (0, 'gemini-pro', 0.50::numeric, 1.50::numeric), (1, 'claude-sonnet', 3.00, 15.00),
               (2, 'gpt-4', 30.00, 60.00), (3, 'llama3.1:8b', 0, 0)) m(slot, model, input_price, output_price)
    ON m.slot = (u.n / 7) % 4;

INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata,
                    recorded_at)
SELECT 'Project', project_id::text,
       1 + row_number() OVER (PARTITION BY project_id ORDER BY n),
       'TokenUsageRecorded', '2.0',
       jsonb_build_object('TokenUsageRecorded', jsonb_build_object(
           -- Time-ordered ids, as the server makes them (UUIDv7).
           'usage_id', ('01900000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid,
           'agent_id', agent_id, 'model', model,
           'input_tokens', input_tokens, 'output_tokens', output_tokens,
           'conversation_id', null, 'task_id', null,
           'input_usd_per_million', input_price::text, 'output_usd_per_million', output_price::text,
           'cost_usd', (cost)::text,
           'input_cost_usd', (input_tokens * input_price / 1000000)::text,
           'output_cost_usd', (output_tokens * output_price / 1000000)::text,
           'spent_usd', (sum(cost) OVER (PARTITION BY project_id ORDER BY n))::text)),
       jsonb_build_object('actor', agent_id, 'command', 'RecordTokenUsage'),
       at
  FROM (SELECT *, (input_tokens * input_price + output_tokens * output_price) / 1000000 AS cost
          FROM bench_usage) u
 ORDER BY project_id, n;

DROP TRIGGER events_chain_fixture ON events;
ANALYZE events;
SELECT count(*) AS events FROM events;
