//! Invitations by email (issue 24): sent by owners and admins with a mailed
//! one-time link, listed while pending, taken back, accepted only by the
//! signed-in person holding the invited address, verified; expired ones
//! are gone. Every step is in the audit.

use serde_json::{Value, json};

use crate::support::app::{TestApp, User, token_in};
use crate::support::{spawn_app, spawn_app_with};

async fn invite(
    app: &TestApp,
    by: &User,
    project: &str,
    email: &str,
    role: &str,
) -> crate::support::http::Response {
    app.request(
        "POST",
        &format!("/api/v1/projects/{project}/invitations"),
        Some(&by.token),
        Some(&json!({"email": email, "role": role})),
    )
    .await
}

async fn accept(app: &TestApp, as_user: &User, token: &str) -> crate::support::http::Response {
    app.request(
        "POST",
        "/api/v1/invitations/accept",
        Some(&as_user.token),
        Some(&json!({"token": token})),
    )
    .await
}

async fn event_types(app: &TestApp, project: &str) -> Vec<String> {
    app.db
        .connect()
        .await
        .query(
            "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
            &[&project],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn an_invited_verified_address_accepts_and_joins() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let invitee = app.verified_user("invitee").await;
    let (project, _) = app.project(&owner, "Invitations").await;

    let sent = invite(&app, &owner, &project, &invitee.email.to_uppercase(), "member").await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    let body = sent.json();
    assert_eq!(body["email"], invitee.email.as_str(), "normalised");
    assert_eq!(body["role"], "member");
    assert!(body["expires_at"].as_str().is_some());
    let id = body["id"].as_str().expect("id").to_owned();
    let consistency = body["consistency_token"].as_str().expect("token").to_owned();

    let pending = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/invitations"),
            &owner.token,
            &consistency,
        )
        .await;
    assert_eq!(pending.status, 200, "{}", pending.text());
    let pending = pending.json();
    assert_eq!(pending["items"].as_array().map(Vec::len), Some(1), "{pending}");
    assert_eq!(pending["items"][0]["id"], id.as_str());
    assert_eq!(pending["items"][0]["email"], invitee.email.as_str());
    assert_eq!(pending["items"][0]["invited_by"], owner.id.as_str());

    // The mail carries the link; its owner, signed in and verified, accepts.
    let mail = app.mail(&invitee.email, "invitation").await;
    assert!(mail.contains("Invitations"), "{mail}");
    let token = token_in(&mail);
    let joined = accept(&app, &invitee, &token).await;
    assert_eq!(joined.status, 200, "{}", joined.text());
    let joined = joined.json();
    assert_eq!(joined["project_id"], project.as_str());
    assert_eq!(joined["role"], "member");
    let consistency = joined["consistency_token"].as_str().expect("token").to_owned();
    let seen = app
        .get_consistent(
            &format!("/api/v1/projects/{project}"),
            &invitee.token,
            &consistency,
        )
        .await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    assert_eq!(seen.json()["my_role"], "member");
    let pending = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/invitations"),
            &owner.token,
            &consistency,
        )
        .await
        .json();
    assert_eq!(pending["items"], json!([]));

    // Used once: the link is gone.
    accept(&app, &invitee, &token).await.assert_problem(410);
    let types = event_types(&app, &project).await;
    assert_eq!(
        types,
        [
            "ProjectCreated",
            "InvitationSent",
            "InvitationAccepted",
            "ProjectMemberAdded"
        ]
    );
    // The address is sealed at rest.
    let stored: Value = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT payload FROM events WHERE event_type = 'InvitationSent'",
            &[],
        )
        .await
        .expect("the invitation")
        .get(0);
    assert!(!stored.to_string().contains(&invitee.email), "{stored}");
}

#[tokio::test]
async fn another_account_an_unverified_one_and_a_forged_token_cannot_accept() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let invitee = app.user("unverified").await;
    let other = app.verified_user("other").await;
    let (project, _) = app.project(&owner, "Wrong hands").await;
    assert_eq!(
        invite(&app, &owner, &project, &invitee.email, "viewer")
            .await
            .status,
        201
    );
    let token = token_in(&app.mail(&invitee.email, "invitation").await);

    accept(&app, &other, &token).await.assert_problem(403);
    accept(&app, &invitee, &token).await.assert_problem(403);
    let forged = format!("{}{}", &token[..token.len() - 4], "beef");
    accept(&app, &invitee, &forged).await.assert_problem(404);
    accept(&app, &invitee, "zki_nonsense").await.assert_problem(400);
    // Nothing was accepted; nobody joined.
    assert_eq!(
        event_types(&app, &project).await,
        ["ProjectCreated", "InvitationSent"]
    );
}

#[tokio::test]
async fn an_expired_or_revoked_invitation_is_gone() {
    let app = spawn_app_with(&[("INVITATION_TTL_SECONDS", "1")]).await;
    let owner = app.user("owner").await;
    let late = app.verified_user("late").await;
    let revoked = app.verified_user("revoked").await;
    let (project, _) = app.project(&owner, "Lapses").await;

    assert_eq!(
        invite(&app, &owner, &project, &late.email, "member").await.status,
        201
    );
    let late_token = token_in(&app.mail(&late.email, "invitation").await);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    accept(&app, &late, &late_token).await.assert_problem(410);

    let sent = invite(&app, &owner, &project, &revoked.email, "member")
        .await
        .json();
    let id = sent["id"].as_str().expect("id").to_owned();
    let revoked_token = token_in(&app.mail(&revoked.email, "invitation").await);
    let taken_back = app
        .request(
            "DELETE",
            &format!("/api/v1/projects/{project}/invitations/{id}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(taken_back.status, 204, "{}", taken_back.text());
    accept(&app, &revoked, &revoked_token).await.assert_problem(410);
    let types = event_types(&app, &project).await;
    assert_eq!(
        types,
        [
            "ProjectCreated",
            "InvitationSent",
            "InvitationSent",
            "InvitationRevoked"
        ]
    );
}

#[tokio::test]
async fn invitations_are_for_managers_and_hidden_from_strangers() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Managed").await;
    let consistency = app.add_member(&owner, &project, &member, "member").await;
    let sent = invite(&app, &owner, &project, "someone@example.com", "viewer")
        .await
        .json();
    let id = sent["id"].as_str().expect("id").to_owned();

    invite(&app, &stranger, &project, "x@example.com", "viewer")
        .await
        .assert_problem(404);
    invite(&app, &member, &project, "x@example.com", "viewer")
        .await
        .assert_problem(403);
    invite(&app, &owner, &project, "not an address", "viewer")
        .await
        .assert_problem(422);
    invite(&app, &owner, &project, "x@example.com", "emperor")
        .await
        .assert_problem(422);
    for (who, status) in [(&stranger, 404), (&member, 403)] {
        app.get_consistent(
            &format!("/api/v1/projects/{project}/invitations"),
            &who.token,
            &consistency,
        )
        .await
        .assert_problem(status);
        app.request(
            "DELETE",
            &format!("/api/v1/projects/{project}/invitations/{id}"),
            Some(&who.token),
            None,
        )
        .await
        .assert_problem(status);
    }
    // Only the one invitation the owner sent; no mail to the refused addresses.
    assert_eq!(
        event_types(&app, &project)
            .await
            .iter()
            .filter(|t| *t == "InvitationSent")
            .count(),
        1
    );
    let mails: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM mail_outbox WHERE purpose = 'invitation'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(mails, 1);
}
