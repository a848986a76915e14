//! People and accounts (issue 24): member lists with names, another
//! person's name for those who share a project, profile changes, password
//! changes that end every other session, and the session list.

use serde_json::json;

use crate::support::app::PASSWORD;
use crate::support::spawn_app;

#[tokio::test]
async fn members_see_each_others_names_and_roles_and_strangers_see_nothing() {
    let app = spawn_app().await;
    let owner = app.user("Olivia").await;
    let member = app.user("Mateo").await;
    let stranger = app.user("Stella").await;
    let (project, _) = app.project(&owner, "People").await;
    let token = app.add_member(&owner, &project, &member, "viewer").await;

    let listed = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/members"),
            &member.token,
            &token,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    let body = listed.json();
    let mut members: Vec<(String, String, String)> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| {
            assert!(m["joined_at"].as_str().is_some(), "{m}");
            (
                m["user_id"].as_str().expect("id").to_owned(),
                m["display_name"].as_str().expect("name").to_owned(),
                m["role"].as_str().expect("role").to_owned(),
            )
        })
        .collect();
    members.sort();
    let mut expected = vec![
        (owner.id.clone(), "Olivia".to_owned(), "owner".to_owned()),
        (member.id.clone(), "Mateo".to_owned(), "viewer".to_owned()),
    ];
    expected.sort();
    assert_eq!(members, expected);
    assert!(body["next_cursor"].is_null());

    // Paged by one: two pages, the cursor from the first.
    let first = app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}/members?limit=1"),
            Some(&owner.token),
            None,
        )
        .await
        .json();
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app
        .request(
            "GET",
            &format!("/api/v1/projects/{project}/members?limit=1&cursor={cursor}"),
            Some(&owner.token),
            None,
        )
        .await
        .json();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert_ne!(first["items"][0]["user_id"], second["items"][0]["user_id"]);

    // A co-member's name, by id; a stranger is a 404 both ways.
    let person = app
        .request(
            "GET",
            &format!("/api/v1/users/{}", owner.id),
            Some(&member.token),
            None,
        )
        .await;
    assert_eq!(person.status, 200, "{}", person.text());
    assert_eq!(person.json()["display_name"], "Olivia");
    assert!(person.json()["email"].is_null(), "only admins see emails");
    app.request(
        "GET",
        &format!("/api/v1/users/{}", owner.id),
        Some(&stranger.token),
        None,
    )
    .await
    .assert_problem(404);
    app.request(
        "GET",
        &format!("/api/v1/users/{}", stranger.id),
        Some(&member.token),
        None,
    )
    .await
    .assert_problem(404);
    app.request(
        "GET",
        &format!("/api/v1/projects/{project}/members"),
        Some(&stranger.token),
        None,
    )
    .await
    .assert_problem(404);

    // An admin sees anyone, with the email.
    let admin = app.admin("admin").await;
    let seen = app
        .request(
            "GET",
            &format!("/api/v1/users/{}", stranger.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(seen.json()["email"], stranger.email.to_lowercase());
}

#[tokio::test]
async fn a_new_display_name_is_what_co_members_see() {
    let app = spawn_app().await;
    let owner = app.user("Nadia").await;
    let member = app.user("Noor").await;
    let (project, _) = app.project(&owner, "Renames").await;
    app.add_member(&owner, &project, &member, "member").await;

    let changed = app
        .request(
            "PATCH",
            "/api/v1/users/me",
            Some(&owner.token),
            Some(&json!({"display_name": "Nadia K."})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let body = changed.json();
    assert_eq!(body["display_name"], "Nadia K.");
    assert_eq!(body["email"], owner.email.to_lowercase());
    let token = body["consistency_token"].as_str().expect("token").to_owned();

    let me = app.get_consistent("/api/v1/users/me", &owner.token, &token).await;
    assert_eq!(me.json()["display_name"], "Nadia K.");
    let members = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/members"),
            &member.token,
            &token,
        )
        .await
        .json();
    assert!(
        members["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["display_name"] == "Nadia K."),
        "{members}"
    );

    // Bad names change nothing.
    for bad in [json!(""), json!("a\u{0}b"), json!("x".repeat(500))] {
        app.request(
            "PATCH",
            "/api/v1/users/me",
            Some(&owner.token),
            Some(&json!({"display_name": bad})),
        )
        .await
        .assert_problem(422);
    }
    let events: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE event_type = 'DisplayNameChanged'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(events, 1);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    let here = app.user("Paz").await;
    // A second sign-in: another device.
    let elsewhere = app.login(&here.email, PASSWORD).await.json();
    let elsewhere_access = elsewhere["access_token"].as_str().expect("access").to_owned();
    let elsewhere_refresh = elsewhere["refresh_token"].as_str().expect("refresh").to_owned();

    // The wrong current password: 403, nothing changes.
    app.request(
        "POST",
        "/api/v1/users/me/password",
        Some(&here.token),
        Some(&json!({"current_password": "not the password", "new_password": "a brand new secret 1"})),
    )
    .await
    .assert_problem(403);
    // Too short a new one: 422.
    app.request(
        "POST",
        "/api/v1/users/me/password",
        Some(&here.token),
        Some(&json!({"current_password": PASSWORD, "new_password": "short"})),
    )
    .await
    .assert_problem(422);
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&elsewhere_access), None)
            .await
            .status,
        200
    );

    let changed = app
        .request(
            "POST",
            "/api/v1/users/me/password",
            Some(&here.token),
            Some(&json!({"current_password": PASSWORD, "new_password": "a brand new secret 1"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.text());

    // The other device is out at once, access and refresh alike.
    app.request("GET", "/api/v1/projects", Some(&elsewhere_access), None)
        .await
        .assert_problem(401);
    app.request(
        "POST",
        "/api/v1/auth/refresh-token",
        None,
        Some(&json!({"refresh_token": elsewhere_refresh})),
    )
    .await
    .assert_problem(401);
    // This one goes on, and refreshes.
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&here.token), None)
            .await
            .status,
        200
    );
    let refreshed = app
        .request(
            "POST",
            "/api/v1/auth/refresh-token",
            None,
            Some(&json!({"refresh_token": here.refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    // The old password no longer signs in; the new one does.
    app.login(&here.email, PASSWORD).await.assert_problem(401);
    assert_eq!(app.login(&here.email, "a brand new secret 1").await.status, 200);
}

#[tokio::test]
async fn my_sessions_are_listed_with_where_they_signed_in_and_one_can_be_ended() {
    let app = spawn_app().await;
    let me = app.user("Sami").await;
    let other = app.user("Sol").await;
    let phone = app
        .raw(
            "POST",
            "/api/v1/auth/login",
            &[
                ("Content-Type", "application/json"),
                ("User-Agent", "ZekkaPhone/2.1"),
            ],
            Some(
                json!({"email": me.email, "password": PASSWORD})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await
        .json();
    let phone_access = phone["access_token"].as_str().expect("access").to_owned();

    let sessions = loop {
        let listed = app
            .request("GET", "/api/v1/users/me/sessions", Some(&me.token), None)
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text());
        let body = listed.json();
        if body["items"].as_array().map(Vec::len) == Some(2) {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let items = sessions["items"].as_array().expect("items");
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{sessions}");
    let phone_session = items
        .iter()
        .find(|s| s["user_agent"] == "ZekkaPhone/2.1")
        .expect("the phone's session, with its user agent");
    assert_eq!(phone_session["current"], false);
    assert_eq!(phone_session["client_ip"], "127.0.0.1");
    assert!(phone_session["created_at"].as_str().is_some());
    assert!(phone_session["last_used_at"].as_str().is_some());
    let phone_id = phone_session["id"].as_str().expect("id").to_owned();

    // Nobody else's session can be ended, nor seen.
    app.request(
        "DELETE",
        &format!("/api/v1/users/me/sessions/{phone_id}"),
        Some(&other.token),
        None,
    )
    .await
    .assert_problem(404);
    assert_eq!(
        app.request("GET", "/api/v1/projects", Some(&phone_access), None)
            .await
            .status,
        200
    );
    let others = app
        .request("GET", "/api/v1/users/me/sessions", Some(&other.token), None)
        .await
        .json();
    assert!(
        others["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|s| s["id"] != phone_id.as_str()),
        "{others}"
    );

    let ended = app
        .request(
            "DELETE",
            &format!("/api/v1/users/me/sessions/{phone_id}"),
            Some(&me.token),
            None,
        )
        .await;
    assert_eq!(ended.status, 204, "{}", ended.text());
    app.request("GET", "/api/v1/projects", Some(&phone_access), None)
        .await
        .assert_problem(401);
    let token = ended.header("x-consistency-token").expect("token").to_owned();
    let left = app
        .get_consistent("/api/v1/users/me/sessions", &me.token, &token)
        .await
        .json();
    assert_eq!(left["items"].as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left["items"][0]["current"], true);
}
