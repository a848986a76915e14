//! `/readyz` in detail (issue 24): JSON when asked for, plain text for
//! probes; a stopped projection shows as `degraded` without failing the probe.

use serde_json::Value;

use crate::support::spawn_app;

async fn report(app: &crate::support::app::TestApp) -> (u16, Value) {
    let answer = app
        .raw("GET", "/readyz", &[("Accept", "application/json")], None)
        .await;
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        answer.header("content-type")
    );
    (answer.status, answer.json())
}

#[tokio::test]
async fn readyz_answers_json_with_each_dependency_and_the_projections() {
    let app = spawn_app().await;
    let (status, body) = report(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
    assert_eq!(body["migrations"]["applied"], body["migrations"]["expected"]);
    assert!(
        body["migrations"]["applied"].as_i64().is_some_and(|v| v >= 28),
        "{body}"
    );
    assert_eq!(body["projections"]["failed"], 0);
    assert!(body["projections"]["behind"].as_i64().is_some());

    // A poison event stops the projections of its type: degraded, still serving.
    app.append_poison("Project").await;
    let mut degraded = Value::Null;
    for _ in 0..200 {
        let (status, body) = report(&app).await;
        if body["status"] == "degraded" {
            assert_eq!(status, 200, "{body}");
            degraded = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(
        degraded["projections"]["failed"].as_i64().is_some_and(|n| n >= 1),
        "never degraded: {degraded}"
    );
    let plain = app.raw("GET", "/readyz", &[], None).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.text(), "ready");
}
