//! Registration, sign-in and token checks.

use serde_json::json;

use crate::support::spawn_app;

#[tokio::test]
async fn a_registered_user_signs_in_and_reads_their_account() {
    let app = spawn_app().await;
    let registered = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": " Ada@Example.com ", "password": "correct horse battery", "display_name": "Ada"})),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let consistency = registered.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let login = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "ada@example.com", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text());
    let session = login.json();
    assert_eq!(session["expires_in"], 900);
    assert_eq!(session["user_id"], registered.json()["user_id"]);
    let token = session["access_token"].as_str().expect("access token");
    assert!(token.starts_with("v4.public."), "{token}");

    let me = app.get_consistent("/api/v1/users/me", token, &consistency).await;
    assert_eq!(me.status, 200, "{}", me.text());
    let me = me.json();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["display_name"], "Ada");
    assert_eq!(me["email_verified"], false);
}

#[tokio::test]
async fn a_wrong_password_or_unknown_email_gets_the_same_401() {
    let app = spawn_app().await;
    let user = app.user("bob").await;
    let wrong = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": user.email, "password": "not the password"})),
        )
        .await;
    let unknown = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": "nobody@example.com", "password": "not the password"})),
        )
        .await;
    let wrong = wrong.assert_problem(401);
    let unknown = unknown.assert_problem(401);
    assert_eq!(wrong["detail"], unknown["detail"]);
}

#[tokio::test]
async fn an_email_registers_once_even_under_concurrent_registrations() {
    let app = spawn_app().await;
    let body =
        json!({"email": "race@example.com", "password": "correct horse battery", "display_name": "Racer"});
    let attempts = (0..6).map(|_| app.request("POST", "/api/v1/auth/register", None, Some(&body)));
    let responses = futures_util::future::join_all(attempts).await;
    // Every attempt answers alike (security review F9: no enumeration)…
    assert!(
        responses.iter().all(|r| r.status == 201),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // …but one account exists, and the mailbox hears of the other five.
    let client = app.db.connect().await;
    let registered: i64 = client
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'UserRegistered'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(registered, 1);
    let notices: i64 = client
        .query_one(
            "SELECT count(*) FROM mail_outbox WHERE recipient = 'race@example.com' AND purpose = 'registration_attempt'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(notices, 3, "at most three notices an hour");
}

/// Security review F9: registering, asking for a reset and redeeming a
/// reset token answer the same whether or not an account has the address,
/// and a bad reset token costs no password hashing (F10).
#[tokio::test]
async fn no_answer_tells_whether_an_address_has_an_account() {
    let app = spawn_app().await;
    let known = app.user("known").await;
    let register = |email: &str| json!({"email": email, "password": "another good passphrase", "display_name": "Someone"});
    let taken = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&register(&known.email)),
        )
        .await;
    let fresh = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&register("fresh-address@example.com")),
        )
        .await;
    assert_eq!((taken.status, fresh.status), (201, 201));
    let keys = |v: serde_json::Value| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>());
    assert_eq!(keys(taken.json()), keys(fresh.json()));
    // The account is unchanged: its password still signs in, the other not.
    assert_eq!(
        app.login(&known.email, crate::support::app::PASSWORD)
            .await
            .status,
        200
    );
    app.login(&known.email, "another good passphrase")
        .await
        .assert_problem(401);

    for email in [known.email.as_str(), "nobody-at-all@example.com"] {
        let asked = app
            .request(
                "POST",
                "/api/v1/auth/forgot-password",
                None,
                Some(&json!({"email": email})),
            )
            .await;
        assert_eq!(asked.status, 202, "{}", asked.text());
        assert!(asked.body.is_empty());
    }
    // However often it is asked, one account gets three reset mails an hour.
    for _ in 0..4 {
        app.request(
            "POST",
            "/api/v1/auth/forgot-password",
            None,
            Some(&json!({"email": known.email})),
        )
        .await;
    }
    let client = app.db.connect().await;
    let mut mails = 0;
    for _ in 0..100 {
        mails = client
            .query_one(
                "SELECT count(*) FROM mail_outbox WHERE recipient = $1 AND purpose = 'password_reset'",
                &[&known.email],
            )
            .await
            .expect("outbox")
            .get::<_, i64>(0);
        if mails >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let settled: i64 = client
        .query_one(
            "SELECT count(*) FROM mail_outbox WHERE recipient = $1 AND purpose = 'password_reset'",
            &[&known.email],
        )
        .await
        .expect("outbox")
        .get(0);
    assert_eq!((mails, settled), (3, 3));
    // A well-formed token for no account reads as a bad token, like one
    // for a real account.
    let bad = |user: &str| json!({"token": format!("zkp_{user}_not-the-secret"), "new_password": "a new good passphrase"});
    let unknown = app
        .request(
            "POST",
            "/api/v1/auth/reset-password",
            None,
            Some(&bad(&uuid::Uuid::now_v7().to_string())),
        )
        .await
        .assert_problem(400);
    let wrong = app
        .request("POST", "/api/v1/auth/reset-password", None, Some(&bad(&known.id)))
        .await
        .assert_problem(400);
    assert_eq!(unknown["detail"], wrong["detail"]);
}

#[tokio::test]
async fn a_short_password_is_rejected_with_the_field_named() {
    let app = spawn_app().await;
    let response = app
        .request(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(&json!({"email": "short@example.com", "password": "short", "display_name": "S"})),
        )
        .await;
    let problem = response.assert_problem(422);
    assert_eq!(problem["errors"][0]["field"], "password");
    let users: i64 = app
        .db
        .connect()
        .await
        .query_one("SELECT count(*) FROM events WHERE aggregate_type = 'User'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(users, 0, "no account was created");
}

#[tokio::test]
async fn requests_without_a_token_or_with_a_tampered_one_get_401_problems() {
    let app = spawn_app().await;
    let user = app.user("carol").await;
    let (project, _) = app.project(&user, "Secret").await;
    let path = format!("/api/v1/projects/{project}");

    app.request("GET", &path, None, None).await.assert_problem(401);
    app.request("GET", "/api/v1/projects", None, None)
        .await
        .assert_problem(401);
    app.request("POST", "/api/v1/projects", None, Some(&json!({"name": "x"})))
        .await
        .assert_problem(401);

    let mut tampered = user.token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    app.request("GET", &path, Some(&tampered), None)
        .await
        .assert_problem(401);
    app.request("GET", &path, Some("v4.public.garbage"), None)
        .await
        .assert_problem(401);
    app.request("PUT", &path, Some(&tampered), Some(&json!({"name": "Mine"})))
        .await
        .assert_problem(401);
}

/// Security review F14: a bare `POST /auth/logout` (no body, no
/// Content-Type) signs out; the session does not live on.
#[tokio::test]
async fn a_bare_logout_without_a_body_or_content_type_ends_the_session() {
    let app = spawn_app().await;
    let user = app.user("leaving").await;
    let bearer = format!("Bearer {}", user.token);
    let logout = app
        .raw("POST", "/api/v1/auth/logout", &[("Authorization", &bearer)], None)
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text());
    app.request("GET", "/api/v1/users/me", Some(&user.token), None)
        .await
        .assert_problem(401);
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&serde_json::json!({"refresh_token": user.refresh_token})),
    )
    .await
    .assert_problem(401);
}
