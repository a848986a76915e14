//! The role matrix: owner, admin, member, viewer and a non-member against
//! every project route.

use serde_json::json;

use crate::support::app::User;
use crate::support::spawn_app;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Actor {
    Owner,
    Admin,
    Member,
    Viewer,
    Stranger,
}

const ACTORS: [Actor; 5] = [
    Actor::Owner,
    Actor::Admin,
    Actor::Member,
    Actor::Viewer,
    Actor::Stranger,
];

/// What each actor gets: (route, [owner, admin, member, viewer, stranger]).
const MATRIX: &[(&str, [u16; 5])] = &[
    ("read", [200, 200, 200, 200, 404]),
    ("update", [200, 200, 403, 403, 404]),
    ("advance stage", [200, 200, 403, 403, 404]),
    ("add member", [200, 200, 403, 403, 404]),
    ("remove member", [204, 204, 403, 403, 404]),
    ("archive", [204, 403, 403, 403, 404]),
];

#[tokio::test]
async fn every_project_route_answers_each_role_as_the_matrix_says() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let member = app.user("member").await;
    let viewer = app.user("viewer").await;
    let stranger = app.user("stranger").await;
    let newcomer = app.user("newcomer").await;
    let user_of = |actor: Actor| -> &User {
        match actor {
            Actor::Owner => &owner,
            Actor::Admin => &admin,
            Actor::Member => &member,
            Actor::Viewer => &viewer,
            Actor::Stranger => &stranger,
        }
    };

    for (column, actor) in ACTORS.into_iter().enumerate() {
        // A fresh project per actor, so one actor's writes never change what
        // the next one meets.
        let (project, _) = app.project(&owner, &format!("Matrix {actor:?}")).await;
        let path = format!("/api/v1/projects/{project}");
        let mut consistency = String::new();
        for (role, user) in [
            ("admin", &admin),
            ("member", &member),
            ("viewer", &viewer),
            ("member", &newcomer),
        ] {
            let added = app
                .request(
                    "POST",
                    &format!("{path}/members"),
                    Some(&owner.token),
                    Some(&json!({"user_id": user.id, "role": role})),
                )
                .await;
            assert_eq!(added.status, 200, "{}", added.text());
            consistency = added.header("x-consistency-token").expect("token").to_owned();
        }
        let token = &user_of(actor).token;
        for (route, expected) in MATRIX {
            let response = match *route {
                "read" => app.get_consistent(&path, token, &consistency).await,
                "update" => {
                    app.request("PUT", &path, Some(token), Some(&json!({"name": "Renamed"})))
                        .await
                }
                "advance stage" => {
                    app.request(
                        "POST",
                        &format!("{path}/stage"),
                        Some(token),
                        Some(&json!({"stage": "architecture"})),
                    )
                    .await
                }
                "add member" => {
                    let extra = app.user("extra").await;
                    app.request(
                        "POST",
                        &format!("{path}/members"),
                        Some(token),
                        Some(&json!({"user_id": extra.id, "role": "viewer"})),
                    )
                    .await
                }
                "remove member" => {
                    app.request(
                        "DELETE",
                        &format!("{path}/members/{}", newcomer.id),
                        Some(token),
                        None,
                    )
                    .await
                }
                "archive" => app.request("DELETE", &path, Some(token), None).await,
                other => unreachable!("unknown route {other}"),
            };
            assert_eq!(
                response.status,
                expected[column],
                "{actor:?} on {route}: {}",
                response.text()
            );
            if response.status >= 400 {
                response.assert_problem(response.status);
            }
        }
    }
}

#[tokio::test]
async fn the_owner_can_neither_leave_nor_be_removed() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let admin = app.user("admin").await;
    let (project, _) = app.project(&owner, "Kept").await;
    let path = format!("/api/v1/projects/{project}");
    app.request(
        "POST",
        &format!("{path}/members"),
        Some(&owner.token),
        Some(&json!({"user_id": admin.id, "role": "admin"})),
    )
    .await;
    for user in [&owner, &admin] {
        app.request(
            "DELETE",
            &format!("{path}/members/{}", owner.id),
            Some(&user.token),
            None,
        )
        .await
        .assert_problem(409);
    }
}
