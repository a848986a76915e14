//! Schema evolution: an event stored in an old version is read in the
//! current shape by the command side, the projectors and the audit replay,
//! while the stored event itself never changes.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_version_1_usage_event_is_read_back_as_version_2_everywhere() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Old history").await;
    let agent = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&owner.token),
            Some(&json!({"project_id": project, "name": "Veteran", "kind": "developer", "model": "claude-sonnet"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // A usage record as version 1.0 wrote it: one cost, no split.
    let old = json!({"TokenUsageRecorded": {
        "usage_id": uuid::Uuid::now_v7(), "agent_id": agent, "model": "claude-sonnet",
        "input_tokens": 1_000_000, "output_tokens": 500_000, "conversation_id": null, "task_id": null,
        "input_usd_per_million": "3.00", "output_usd_per_million": "15.00",
        "cost_usd": "10.5", "spent_usd": "10.5"}});
    let client = app.db.connect().await;
    client
        .execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, hash)
             SELECT 'Project', $1, max(sequence) + 1, 'TokenUsageRecorded', '1.0', $2, '{}', 'by hand'
               FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1",
            &[&project, &old],
        )
        .await
        .expect("store a version 1.0 event");

    // The command side loads the project through the upcaster and charges on top.
    let recorded = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/usage"),
            Some(&owner.token),
            Some(&json!({"model": "claude-sonnet", "input_tokens": 1_000_000, "output_tokens": 0})),
        )
        .await;
    assert_eq!(recorded.status, 201, "{}", recorded.text());
    assert_eq!(recorded.json()["project_spent_usd"], "13.500000");
    let token = recorded.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    // The projector read the old event in the new shape: its cost is split.
    let breakdown = app
        .get_consistent(
            &format!("/api/v1/analytics/costs/breakdown?project_id={project}"),
            &owner.token,
            &token,
        )
        .await
        .json();
    let row = &breakdown["items"][0];
    assert_eq!(row["cost_usd"], "13.500000", "{breakdown}");
    assert_eq!(row["input_cost_usd"], "6.000000", "{breakdown}");
    assert_eq!(row["output_cost_usd"], "7.500000", "{breakdown}");

    // The audit replay of the project applies it too; the stored event is
    // untouched (still 1.0, still without the split).
    let state = app
        .get_consistent(
            &format!("/api/v1/audit/streams/Project/{project}/state"),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(state.status, 200, "{}", state.text());
    assert_eq!(state.json()["state"]["spent_usd"], "13.50", "{}", state.text());
    let stored = client
        .query_one(
            "SELECT event_version, payload FROM events
              WHERE aggregate_type = 'Project' AND aggregate_id = $1 AND event_version = '1.0'
                AND event_type = 'TokenUsageRecorded'",
            &[&project],
        )
        .await
        .expect("the old event");
    let payload: serde_json::Value = stored.get(1);
    assert_eq!(payload, old);
    let newest: String = client
        .query_one(
            "SELECT event_version FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1
              ORDER BY sequence DESC LIMIT 1",
            &[&project],
        )
        .await
        .expect("the new event")
        .get(0);
    assert_eq!(newest, "2.0");
}
