//! Preferences: defaults, partial updates, export, reset, import.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn export_then_reset_then_import_restores_exactly_the_exported_document() {
    let app = spawn_app().await;
    let user = app.user("tidy").await;
    let defaults = app
        .request("GET", "/api/v1/preferences", Some(&user.token), None)
        .await;
    assert_eq!(defaults.status, 200);
    assert_eq!(defaults.json()["theme"], "system");

    let updated = app
        .request(
            "PUT",
            "/api/v1/preferences",
            Some(&user.token),
            Some(&json!({"theme": "dark", "language": "pt-BR", "notifications": {"sound": true}})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let token = updated.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let read = app
        .get_consistent("/api/v1/preferences", &user.token, &token)
        .await
        .json();
    assert_eq!(read["theme"], "dark");
    assert_eq!(read["language"], "pt-BR");
    assert_eq!(read["notifications"]["sound"], true);
    assert_eq!(
        read["notifications"]["email"], true,
        "untouched keys keep their values"
    );

    let exported = app
        .request("POST", "/api/v1/preferences/export", Some(&user.token), None)
        .await;
    assert_eq!(exported.status, 200, "{}", exported.text());
    let document = exported.json();

    let reset = app
        .request("DELETE", "/api/v1/preferences/reset", Some(&user.token), None)
        .await;
    assert_eq!(reset.status, 204);
    let token = reset.header("x-consistency-token").expect("token").to_owned();
    let after_reset = app
        .get_consistent("/api/v1/preferences", &user.token, &token)
        .await
        .json();
    assert_eq!(after_reset["theme"], "system");

    let imported = app
        .request(
            "POST",
            "/api/v1/preferences/import",
            Some(&user.token),
            Some(&document),
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.text());
    let again = app
        .request("POST", "/api/v1/preferences/export", Some(&user.token), None)
        .await
        .json();
    assert_eq!(again, document);
    let token = imported.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let read = app
        .get_consistent("/api/v1/preferences", &user.token, &token)
        .await
        .json();
    assert_eq!(read, document["preferences"]);
}

#[tokio::test]
async fn unknown_keys_and_wrong_types_are_422_and_change_nothing() {
    let app = spawn_app().await;
    let user = app.user("careful").await;
    let document = app
        .request("POST", "/api/v1/preferences/export", Some(&user.token), None)
        .await
        .json();
    let before = app.event_count().await;

    let mut unknown = document.clone();
    unknown["preferences"]["volume"] = json!(11);
    let mut wrong_type = document.clone();
    wrong_type["preferences"]["compact_mode"] = json!("yes");
    for bad in [unknown, wrong_type, json!({"preferences": {}}), json!([1, 2])] {
        let refused = app
            .request(
                "POST",
                "/api/v1/preferences/import",
                Some(&user.token),
                Some(&bad),
            )
            .await;
        let problem = refused.assert_problem(422);
        assert!(
            problem["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{problem}"
        );
    }
    let refused = app
        .request(
            "PUT",
            "/api/v1/preferences",
            Some(&user.token),
            Some(&json!({"theme": "neon", "font": "comic", "notifications": {"email": "often"}})),
        )
        .await;
    let problem = refused.assert_problem(422);
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["font", "notifications.email", "theme"]);
    app.raw(
        "PUT",
        "/api/v1/preferences",
        &[
            ("Authorization", &format!("Bearer {}", user.token)),
            ("Content-Type", "application/json"),
        ],
        Some(b"{not json"),
    )
    .await
    .assert_problem(400);

    assert_eq!(app.event_count().await, before, "nothing was appended");
    let still = app
        .request("POST", "/api/v1/preferences/export", Some(&user.token), None)
        .await
        .json();
    assert_eq!(still, document);
}
