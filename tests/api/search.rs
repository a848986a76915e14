//! Search (issue 23): found by a member, never by a stranger, gone once
//! deleted or erased, ranked and paged.

use serde_json::{Value, json};

use crate::support::app::{TestApp, User};
use crate::support::spawn_app;

/// `GET /search?{query}` as `user`, once the read models hold `token`.
pub(crate) async fn search(app: &TestApp, user: &User, query: &str, token: &str) -> Value {
    let found = app
        .get_consistent(&format!("/api/v1/search?{query}"), &user.token, token)
        .await;
    assert_eq!(found.status, 200, "{}", found.text());
    found.json()
}

/// The page's hits as (type, id).
pub(crate) fn kinds_and_ids(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|hit| {
            (
                hit["type"].as_str().expect("type").to_owned(),
                hit["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_member_finds_a_word_a_stranger_does_not_and_deleted_or_erased_words_are_gone() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let member = app.verified_user("member").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Quasar telescope").await;
    app.add_member(&owner, &project, &member, "member").await;
    let (conversation, _) = app.conversation(&owner, &project, "Mirror grinding").await;
    let kept = app
        .send_message(
            &owner,
            &conversation,
            "The zirconium mirror needs polishing before Friday",
        )
        .await;
    let deleted = app
        .send_message(&owner, &conversation, "Another zirconium batch arrives Monday")
        .await;
    let said = app
        .send_message(&member, &conversation, "I think the zirconium coating cracked")
        .await;
    let uploaded = app
        .raw(
            "POST",
            &format!("/api/v1/projects/{project}/sources?name=zirconium-specs.md"),
            &[
                ("Authorization", &format!("Bearer {}", owner.token)),
                ("Content-Type", "text/markdown"),
            ],
            Some(b"# specs"),
        )
        .await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let source = uploaded.json()["id"].as_str().expect("id").to_owned();
    let token = uploaded.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let found = search(&app, &member, "q=zirconium", &token).await;
    let hits = kinds_and_ids(&found);
    for (kind, id) in [
        ("messages", kept["id"].as_str().expect("id")),
        ("messages", deleted["id"].as_str().expect("id")),
        ("messages", said["id"].as_str().expect("id")),
        ("sources", source.as_str()),
    ] {
        assert!(
            hits.contains(&(kind.to_owned(), id.to_owned())),
            "{kind} {id} not in {found}"
        );
    }
    let message = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|hit| hit["id"] == kept["id"])
        .expect("the message");
    assert_eq!(message["project_id"], project.as_str());
    assert_eq!(message["title"], "Mirror grinding");
    assert_eq!(message["conversation_id"], conversation.as_str());
    assert!(
        message["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("«zirconium»")),
        "{message}"
    );
    // A project by its name; a phrase; a word left out; only one type.
    let projects = search(&app, &member, "q=quasar&types=projects", &token).await;
    assert_eq!(
        kinds_and_ids(&projects),
        vec![("projects".to_owned(), project.clone())]
    );
    let phrase = search(&app, &member, "q=%22coating%20cracked%22", &token).await;
    assert_eq!(kinds_and_ids(&phrase).len(), 1, "{phrase}");
    let without = search(&app, &member, "q=zirconium%20-monday&types=messages", &token).await;
    assert_eq!(kinds_and_ids(&without).len(), 2, "{without}");

    // The stranger finds nothing, even naming the project.
    for query in [
        "q=zirconium",
        "q=quasar",
        &format!("q=zirconium&project_id={project}"),
    ] {
        let theirs = search(&app, &stranger, query, &token).await;
        assert_eq!(theirs["items"], json!([]), "{query}: {theirs}");
    }

    // Paged: one at a time, every hit once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = search(
            &app,
            &member,
            &format!("q=zirconium&limit=1&cursor={cursor}"),
            &token,
        )
        .await;
        seen.extend(kinds_and_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => next.clone_into(&mut cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), hits.len(), "{seen:?} against {hits:?}");

    // A deleted message, a removed source: not found any more.
    let removed = app
        .request(
            "DELETE",
            &format!(
                "/api/v1/conversations/{conversation}/messages/{}",
                deleted["id"].as_str().expect("id")
            ),
            Some(&owner.token),
            None,
        )
        .await;
    assert!(removed.status < 300, "{}", removed.text());
    let gone = app
        .request(
            "DELETE",
            &format!("/api/v1/sources/{source}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{}", gone.text());
    let token = gone.header("x-consistency-token").expect("token").to_owned();
    let after = kinds_and_ids(&search(&app, &owner, "q=zirconium", &token).await);
    assert!(
        !after
            .iter()
            .any(|(_, id)| id == deleted["id"].as_str().expect("id") || *id == source)
    );

    // The member erases themselves: their words are not found.
    let erased = app
        .request(
            "DELETE",
            "/api/v1/users/me",
            Some(&member.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(erased.status, 202, "{}", erased.text());
    let token = erased.json()["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let cracked = search(&app, &owner, "q=cracked", &token).await;
    assert_eq!(cracked["items"], json!([]), "{cracked}");
}

#[tokio::test]
async fn a_query_is_checked_and_one_of_only_stop_signs_finds_nothing() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    for query in [
        "q=",
        "types=messages",
        "q=x&types=files",
        "q=x&cursor=nonsense",
        "q=zirc%00onium",
        "q=zirc%1bonium",
    ] {
        let answer = app
            .request(
                "GET",
                &format!("/api/v1/search?{query}"),
                Some(&owner.token),
                None,
            )
            .await;
        assert!(
            [400, 422].contains(&answer.status),
            "{query}: {} {}",
            answer.status,
            answer.text()
        );
        answer.assert_problem(answer.status);
    }
    let punctuation = app
        .request("GET", "/api/v1/search?q=%21%21%21", Some(&owner.token), None)
        .await;
    assert_eq!(punctuation.status, 200, "{}", punctuation.text());
    assert_eq!(punctuation.json()["items"], json!([]));
}

#[tokio::test]
async fn a_query_matching_more_than_the_candidates_ranks_its_newest_matches() {
    let app = crate::support::spawn_app_with(&[("SEARCH_CANDIDATES", "3")]).await;
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Cobalt works").await;
    let (conversation, _) = app.conversation(&owner, &project, "Shifts").await;
    let mut sent = Vec::new();
    for n in 0..5 {
        let message = app
            .send_message(&owner, &conversation, &format!("cobalt batch {n}"))
            .await;
        sent.push(message["id"].as_str().expect("id").to_owned());
    }
    let token = app
        .send_message(&owner, &conversation, "nothing to find here")
        .await["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // Paged one at a time: the three newest, each once, none of the others.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = search(
            &app,
            &owner,
            &format!("q=cobalt&types=messages&limit=1&cursor={cursor}"),
            &token,
        )
        .await;
        seen.extend(kinds_and_ids(&page).into_iter().map(|(_, id)| id));
        match page["next_cursor"].as_str() {
            Some(next) => next.clone_into(&mut cursor),
            None => break,
        }
    }
    seen.sort();
    let mut newest = sent[2..].to_vec();
    newest.sort();
    assert_eq!(seen, newest);
    // A rarer word is found among all, however old.
    let oldest = search(&app, &owner, "q=cobalt%200&types=messages", &token).await;
    assert_eq!(
        kinds_and_ids(&oldest),
        vec![("messages".to_owned(), sent[0].clone())]
    );
}
