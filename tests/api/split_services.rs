//! The services run as separate processes (as in compose.yaml) work together,
//! and processes starting together agree on one token key.

use serde_json::json;
use zekka::Services;
use zekka_platform::signing_keys;

use crate::support::TestDatabase;
use crate::support::app::start_service;
use crate::support::app::test_config;
use crate::support::http;

#[tokio::test]
async fn command_api_query_api_and_projectors_as_separate_services_serve_one_flow() {
    let db = TestDatabase::migrated().await;
    let (commands, _c) = start_service(test_config(&db.url), Services::CommandApi).await;
    let (queries, _q) = start_service(test_config(&db.url), Services::QueryApi).await;
    let (_projectors, _p) = start_service(test_config(&db.url), Services::Projectors).await;

    let credentials = json!({"email": "split@example.com", "password": "correct horse battery"});
    let mut register = credentials.clone();
    register["display_name"] = json!("Split");
    assert_eq!(
        http::json_request(commands, "POST", "/api/v1/auth/register", None, Some(&register))
            .await
            .status,
        201
    );
    let login = http::json_request(commands, "POST", "/api/v1/auth/login", None, Some(&credentials)).await;
    let token = login.json()["access_token"].as_str().expect("token").to_owned();
    let created = http::json_request(
        commands,
        "POST",
        "/api/v1/projects",
        Some(&token),
        Some(&json!({"name": "Split"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let body = created.json();
    let path = format!("/api/v1/projects/{}", body["id"].as_str().expect("id"));
    let consistency = body["consistency_token"].as_str().expect("consistency");

    let bearer = format!("Bearer {token}");
    let read = http::send(
        queries,
        "GET",
        &path,
        &[("Authorization", &bearer), ("X-Consistency-Token", consistency)],
        None,
    )
    .await
    .expect("send");
    assert_eq!(read.status, 200, "{}", read.text());
    assert_eq!(read.json()["name"], "Split");

    // Each service serves only its own side.
    let on_commands = http::send(commands, "GET", &path, &[("Authorization", &bearer)], None)
        .await
        .expect("send");
    assert!(matches!(on_commands.status, 404 | 405), "{}", on_commands.status);
    let on_queries = http::json_request(
        queries,
        "POST",
        "/api/v1/projects",
        Some(&token),
        Some(&json!({"name": "Nope"})),
    )
    .await;
    assert!(matches!(on_queries.status, 404 | 405), "{}", on_queries.status);
}

#[tokio::test]
async fn processes_starting_together_generate_one_signing_key() {
    let db = TestDatabase::migrated().await;
    let config = test_config(&db.url);
    let pool = db.sqlx_pool().await;
    let (a, b, c, d) = tokio::join!(
        signing_keys::load_signer(&config, &pool),
        signing_keys::load_signer(&config, &pool),
        signing_keys::load_verifier(&config, &pool),
        signing_keys::load_verifier(&config, &pool),
    );
    let (a, b, c, d) = (a.expect("a"), b.expect("b"), c.expect("c"), d.expect("d"));
    let user = uuid::Uuid::now_v7();
    for signer in [&a, &b] {
        let issued = signer.issue(user, None, &[]).expect("issue");
        for verifier in [&c, &d] {
            assert_eq!(verifier.verify(&issued.token).expect("verifies").user_id, user);
        }
    }
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_keys")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(keys, 1);
}

#[tokio::test]
async fn the_openapi_document_lists_both_services_operations_on_a_shared_path() {
    let app = crate::support::spawn_app().await;
    let document = app.request("GET", "/openapi.json", None, None).await;
    assert_eq!(document.status, 200);
    let spec = document.json();
    let projects = &spec["paths"]["/api/v1/projects"];
    assert!(projects["get"].is_object(), "the query side's list");
    assert!(projects["post"].is_object(), "the command side's create");
    let conversation = &spec["paths"]["/api/v1/conversations/{id}"];
    assert!(
        conversation["get"].is_object() && conversation["delete"].is_object(),
        "{conversation}"
    );
}
