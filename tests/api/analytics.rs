//! Analytics over usage, agents, tasks and conflicts.

use serde_json::json;

use crate::support::spawn_app_with;

#[tokio::test]
async fn analytics_sum_usage_exactly_by_day_model_agent_and_task_and_reprice_it() {
    let app = spawn_app_with(&[("RATE_LIMIT_WRITES", "100000/60")]).await;
    let admin = app.user("analyst").await;
    let (project, _) = app.project(&admin, "Measured").await;
    let agent = app
        .request(
            "POST",
            "/api/v1/agents",
            Some(&admin.token),
            Some(&json!({"project_id": project, "name": "Counter", "kind": "developer", "model": "gpt-4"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let task = app
        .request(
            "POST",
            &format!("/api/v1/agents/{agent}/tasks"),
            Some(&admin.token),
            Some(&json!({"title": "Count"})),
        )
        .await
        .json()["task_id"]
        .as_str()
        .expect("task")
        .to_owned();
    // Deterministic pseudo-random records; the expected total is computed
    // exactly from the default prices (USD per million).
    let prices = [
        ("gemini-pro", 50_i128, 150_i128),
        ("claude-sonnet", 300, 1500),
        ("gpt-4", 3000, 6000),
    ];
    let mut expected_micro_cents: i128 = 0; // cents per million tokens × tokens
    let mut seed: u64 = 42;
    let mut last = String::new();
    for n in 0..60 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let (model, price_in, price_out) = prices[(seed % 3) as usize];
        let input = i64::try_from((seed >> 8) % 50_000).expect("small");
        let output = i64::try_from((seed >> 24) % 20_000).expect("small");
        expected_micro_cents += i128::from(input) * price_in + i128::from(output) * price_out;
        let body = if n % 2 == 0 {
            json!({"model": model, "input_tokens": input, "output_tokens": output, "task_id": task})
        } else {
            json!({"model": model, "input_tokens": input, "output_tokens": output})
        };
        let recorded = app
            .request(
                "POST",
                &format!("/api/v1/agents/{agent}/usage"),
                Some(&admin.token),
                Some(&body),
            )
            .await;
        assert_eq!(recorded.status, 201, "{}", recorded.text());
        last = recorded.json()["consistency_token"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    // expected = micro_cents / 100 / 1e6 USD, shown with six decimals.
    let expected = rust_decimal::Decimal::from_i128_with_scale(expected_micro_cents, 8).round_dp(6);
    let expected = format!("{expected:.6}");

    let breakdown = app
        .get_consistent(
            &format!("/api/v1/analytics/costs/breakdown?project_id={project}"),
            &admin.token,
            &last,
        )
        .await;
    assert_eq!(breakdown.status, 200, "{}", breakdown.text());
    let total: rust_decimal::Decimal = breakdown.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["cost_usd"]
                .as_str()
                .expect("cost")
                .parse::<rust_decimal::Decimal>()
                .expect("decimal")
        })
        .sum();
    let metrics = app
        .get_consistent("/api/v1/analytics/metrics", &admin.token, &last)
        .await
        .json();
    assert_eq!(metrics["cost_usd"], expected.as_str());
    let daily = app
        .get_consistent(
            &format!("/api/v1/analytics/costs?project_id={project}"),
            &admin.token,
            &last,
        )
        .await
        .json();
    let daily_total: rust_decimal::Decimal = daily["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i["cost_usd"]
                .as_str()
                .expect("cost")
                .parse::<rust_decimal::Decimal>()
                .expect("decimal")
        })
        .sum();
    let exact = expected.parse::<rust_decimal::Decimal>().expect("decimal");
    assert!(
        (daily_total - exact).abs() < rust_decimal::Decimal::new(2, 6),
        "{daily_total} vs {exact}"
    );
    assert!(
        (total - expected.parse::<rust_decimal::Decimal>().expect("decimal")).abs()
            < rust_decimal::Decimal::new(3, 6)
    );

    let tokens = app
        .get_consistent("/api/v1/analytics/tokens?from=2000-01-01", &admin.token, &last)
        .await
        .json();
    assert!(!tokens["items"].as_array().expect("items").is_empty());
    let none = app
        .get_consistent("/api/v1/analytics/tokens?to=2000-01-01", &admin.token, &last)
        .await
        .json();
    assert_eq!(none["items"], json!([]));

    let agents = app
        .get_consistent("/api/v1/analytics/agents", &admin.token, &last)
        .await
        .json();
    assert_eq!(agents["items"][0]["agent_id"], agent.as_str());
    assert_eq!(agents["items"][0]["cost_usd"], expected.as_str());
    let tasks = app
        .get_consistent("/api/v1/analytics/tasks", &admin.token, &last)
        .await
        .json();
    assert_eq!(tasks["items"][0]["task_id"], task.as_str());

    // Re-pricing at 1971 (the defaults) equals what was charged.
    let repriced = app
        .get_consistent(
            "/api/v1/analytics/costs/repriced?price_at=1971-01-01",
            &admin.token,
            &last,
        )
        .await
        .json();
    for item in repriced["items"].as_array().expect("items") {
        assert_eq!(item["charged_usd"], item["repriced_usd"], "{item}");
    }
    // Before any price existed, nothing can be repriced.
    let before_prices = app
        .get_consistent(
            "/api/v1/analytics/costs/repriced?price_at=1960-01-01",
            &admin.token,
            &last,
        )
        .await
        .json();
    assert!(
        before_prices["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["repriced_usd"].is_null())
    );
}

#[tokio::test]
async fn bad_analytics_filters_are_422_or_404() {
    let app = spawn_app_with(&[]).await;
    let user = app.user("curious").await;
    for path in [
        "/api/v1/analytics/costs?from=yesterday",
        "/api/v1/analytics/costs?from=2026-02-30",
        "/api/v1/analytics/tokens?from=2026-03-02&to=2026-03-01",
        "/api/v1/analytics/costs/repriced?price_at=soon",
    ] {
        app.request("GET", path, Some(&user.token), None)
            .await
            .assert_problem(422);
    }
    let other = uuid::Uuid::now_v7();
    app.request(
        "GET",
        &format!("/api/v1/analytics/costs?project_id={other}"),
        Some(&user.token),
        None,
    )
    .await
    .assert_problem(404);
    app.request(
        "GET",
        "/api/v1/analytics/costs?project_id=nope",
        Some(&user.token),
        None,
    )
    .await
    .assert_problem(400);
}
