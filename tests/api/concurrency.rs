//! Concurrent writes to one aggregate: 200 or 409, never a lost or doubled event.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn concurrent_updates_of_one_project_answer_200_or_409_and_leave_a_gapless_stream() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Contended").await;
    let path = format!("/api/v1/projects/{project}");

    let mut accepted = 0;
    for round in 0..5 {
        let first = json!({"name": format!("A{round}")});
        let second = json!({"name": format!("B{round}")});
        let (a, b) = tokio::join!(
            app.request("PUT", &path, Some(&owner.token), Some(&first)),
            app.request("PUT", &path, Some(&owner.token), Some(&second)),
        );
        for response in [&a, &b] {
            assert!(
                response.status == 200 || response.status == 409,
                "unexpected {}: {}",
                response.status,
                response.text()
            );
            if response.status == 409 {
                response.assert_problem(409);
            }
        }
        assert!(a.status == 200 || b.status == 200, "one of two writers must win");
        accepted += [&a, &b].into_iter().filter(|r| r.status == 200).count();
    }

    let client = app.db.connect().await;
    let sequences: Vec<i64> = client
        .query(
            "SELECT sequence FROM events WHERE aggregate_type = 'Project' AND aggregate_id = $1 ORDER BY sequence",
            &[&project],
        )
        .await
        .expect("stream")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<i64> = (1..=i64::try_from(sequences.len()).expect("small")).collect();
    assert_eq!(
        sequences, expected,
        "the stream must have no gap and no duplicate"
    );
    assert!(
        sequences.len() >= 6,
        "creation plus at least one update per round"
    );
    assert_eq!(
        sequences.len(),
        accepted + 1,
        "events stored = the creation + every update answered 200"
    );

    // Events projected: the read model reflects the last stored update, and
    // its projection applied each stored event once.
    let last = client
        .query_one(
            "SELECT payload -> 'ProjectUpdated' ->> 'name', transaction_id::text, global_position FROM events
              WHERE aggregate_type = 'Project' AND aggregate_id = $1 ORDER BY sequence DESC LIMIT 1",
            &[&project],
        )
        .await
        .expect("last update");
    let (last_name, transaction, position): (String, String, i64) = (last.get(0), last.get(1), last.get(2));
    let read = app
        .get_consistent(&path, &owner.token, &format!("v1.{transaction}.{position}"))
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["name"], last_name.as_str());
}
