//! Bad input gets a 4xx problem+json and appends nothing.

use crate::support::spawn_app;

#[tokio::test]
async fn malformed_or_invalid_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let user = app.user("fuzzy").await;
    let (project, consistency) = app.project(&user, "Target").await;
    let bearer = format!("Bearer {}", user.token);
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let before = app.event_count().await;

    let cases: Vec<(&str, String, Vec<u8>, u16)> = vec![
        ("POST", "/api/v1/projects".into(), b"{\"name\": ".to_vec(), 400),
        ("POST", "/api/v1/projects".into(), b"[1, 2, 3]".to_vec(), 400),
        ("POST", "/api/v1/projects".into(), b"{}".to_vec(), 400),
        (
            "POST",
            "/api/v1/projects".into(),
            br#"{"name": ""}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/v1/projects".into(),
            br#"{"name": "   "}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/v1/projects".into(),
            br#"{"name": "ok", "budget_usd": "-5"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/api/v1/projects".into(),
            br#"{"name": "ok", "budget_usd": "lots"}"#.to_vec(),
            422,
        ),
        ("GET", "/api/v1/projects/not-a-uuid".into(), Vec::new(), 400),
        (
            "PUT",
            "/api/v1/projects/not-a-uuid".into(),
            br#"{"name": "x"}"#.to_vec(),
            400,
        ),
        (
            "PUT",
            format!("/api/v1/projects/{project}"),
            br#"{"name": ""}"#.to_vec(),
            422,
        ),
        (
            "POST",
            format!("/api/v1/projects/{project}/stage"),
            br#"{"stage": "moon"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            format!("/api/v1/projects/{project}/stage"),
            br#"{"stage": "database"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            format!("/api/v1/projects/{project}/stage"),
            b"{}".to_vec(),
            400,
        ),
        (
            "POST",
            format!("/api/v1/projects/{project}/members"),
            format!(r#"{{"user_id": "{}", "role": "emperor"}}"#, user.id).into_bytes(),
            422,
        ),
        (
            "POST",
            format!("/api/v1/projects/{project}/members"),
            br#"{"user_id": "0190b5b4-0000-7000-8000-000000000000", "role": "member"}"#.to_vec(),
            422,
        ),
        ("GET", "/api/v1/projects?limit=0".into(), Vec::new(), 422),
        ("GET", "/api/v1/projects?cursor=bogus".into(), Vec::new(), 400),
        (
            "POST",
            "/api/v1/auth/register".into(),
            br#"{"email": "nope", "password": "correct horse battery", "display_name": "x"}"#.to_vec(),
            422,
        ),
        ("POST", "/api/v1/auth/login".into(), b"not json".to_vec(), 400),
    ];
    for (method, path, body, status) in cases {
        let body = (!body.is_empty()).then_some(body.as_slice());
        let response = app.raw(method, &path, &auth, body).await;
        assert_eq!(response.status, status, "{method} {path}: {}", response.text());
        response.assert_problem(status);
    }

    let too_large = vec![b'x'; 2 * 1024 * 1024];
    app.raw("POST", "/api/v1/projects", &auth, Some(&too_large))
        .await
        .assert_problem(413);
    let not_allowed = app.raw("TRACE", "/api/v1/projects", &auth, None).await;
    not_allowed.assert_problem(405);
    assert_eq!(
        not_allowed.header("allow"),
        Some("GET, POST"),
        "a 405 names the methods the path answers (RFC 9110)"
    );
    let on_one = app
        .raw(
            "PATCH",
            "/api/v1/projects/00000000-0000-0000-0000-000000000000",
            &auth,
            None,
        )
        .await;
    on_one.assert_problem(405);
    assert_eq!(on_one.header("allow"), Some("DELETE, GET, PUT"));
    app.raw("GET", "/api/v1/no-such-route", &auth, None)
        .await
        .assert_problem(404);

    assert_eq!(app.event_count().await, before, "bad input must append nothing");
    let still = app
        .get_consistent(&format!("/api/v1/projects/{project}"), &user.token, &consistency)
        .await;
    assert_eq!(still.status, 200);
    assert_eq!(still.json()["stage"], "requirements");
}
