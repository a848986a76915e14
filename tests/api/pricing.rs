//! Model prices: defaults seeded once, admin-only changes, kept history.

use serde_json::json;
use zekka::Services;

use crate::support::app::{start_service, test_config};
use crate::support::spawn_app;

#[tokio::test]
async fn the_default_price_list_is_seeded_once_however_many_processes_start() {
    let app = spawn_app().await;
    let (_second, _trigger) = start_service(test_config(&app.db.url), Services::CommandApi).await;
    let user = app.user("reader").await;
    let seeded: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'ModelPriceSet'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(seeded, 4);

    let mut prices = json!(null);
    for _ in 0..250 {
        prices = app
            .request("GET", "/api/v1/pricing/models", Some(&user.token), None)
            .await
            .json();
        if prices.as_array().is_some_and(|p| p.len() == 4) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let by_model = |model: &str| {
        prices
            .as_array()
            .and_then(|p| p.iter().find(|p| p["model"] == model))
            .cloned()
            .unwrap_or_else(|| panic!("{model} in {prices}"))
    };
    assert_eq!(by_model("claude-sonnet")["input_usd_per_million"], "3.000000");
    assert_eq!(by_model("claude-sonnet")["output_usd_per_million"], "15.000000");
    assert_eq!(by_model("gpt-4")["output_usd_per_million"], "60.000000");
    assert_eq!(by_model("gemini-pro")["input_usd_per_million"], "0.500000");
    assert_eq!(by_model("llama3.1:8b")["input_usd_per_million"], "0.000000");
}

#[tokio::test]
async fn only_an_admin_sets_a_price_and_history_is_kept() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let member = app.user("not-admin").await;
    let body = json!({"input_usd_per_million": "2.5", "output_usd_per_million": "12"});

    app.request(
        "PUT",
        "/api/v1/pricing/models/claude-sonnet",
        Some(&member.token),
        Some(&body),
    )
    .await
    .assert_problem(403);
    let set = app
        .request(
            "PUT",
            "/api/v1/pricing/models/claude-sonnet",
            Some(&admin.token),
            Some(&body),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text());
    let token = set.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let current = app
        .get_consistent("/api/v1/pricing/models", &admin.token, &token)
        .await
        .json();
    let sonnet = current
        .as_array()
        .and_then(|p| p.iter().find(|p| p["model"] == "claude-sonnet"))
        .expect("claude-sonnet");
    assert_eq!(sonnet["input_usd_per_million"], "2.500000");
    let history = app
        .get_consistent("/api/v1/pricing/models?history=true", &admin.token, &token)
        .await
        .json();
    let sonnet: Vec<&serde_json::Value> = history
        .as_array()
        .expect("history")
        .iter()
        .filter(|p| p["model"] == "claude-sonnet")
        .collect();
    assert_eq!(sonnet.len(), 2);
    assert_eq!(
        sonnet[0]["input_usd_per_million"], "3.000000",
        "the old price is kept"
    );

    // A brand-new model gets its first price the same way.
    let new_model = app
        .request(
            "PUT",
            "/api/v1/pricing/models/mistral-large",
            Some(&admin.token),
            Some(&json!({"input_usd_per_million": "2", "output_usd_per_million": "6"})),
        )
        .await;
    assert_eq!(new_model.status, 200, "{}", new_model.text());
}

#[tokio::test]
async fn bad_prices_are_refused_and_append_nothing() {
    let app = spawn_app().await;
    let admin = app.admin("admin").await;
    let before = app.event_count().await;
    let cases = [
        (
            "claude-sonnet",
            json!({"input_usd_per_million": "-1", "output_usd_per_million": "1"}),
            422,
        ),
        (
            "claude-sonnet",
            json!({"input_usd_per_million": "1.0000001", "output_usd_per_million": "1"}),
            422,
        ),
        (
            "claude-sonnet",
            json!({"input_usd_per_million": "lots", "output_usd_per_million": "1"}),
            422,
        ),
        ("claude-sonnet", json!({"input_usd_per_million": "1"}), 400),
        (
            "bad%20name",
            json!({"input_usd_per_million": "1", "output_usd_per_million": "1"}),
            422,
        ),
        (
            "claude-sonnet",
            json!({"input_usd_per_million": "1", "output_usd_per_million": "1", "effective_from": "1970-01-01T00:00:00Z"}),
            409,
        ),
        (
            "claude-sonnet",
            json!({"input_usd_per_million": "1", "output_usd_per_million": "1", "effective_from": "yesterday"}),
            400,
        ),
    ];
    for (model, body, status) in cases {
        let response = app
            .request(
                "PUT",
                &format!("/api/v1/pricing/models/{model}"),
                Some(&admin.token),
                Some(&body),
            )
            .await;
        assert_eq!(response.status, status, "{model} {body}: {}", response.text());
        response.assert_problem(status);
    }
    assert_eq!(app.event_count().await, before);
}
