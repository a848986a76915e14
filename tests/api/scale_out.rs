//! Scale-out on one machine (issue 11): two command-api, two query-api and
//! two projector processes over one PostgreSQL and Redis. Writes go through
//! both command-apis at once; every event is projected exactly once, and
//! a socket on either query-api sees every message.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use serde_json::json;
use zekka::Services;

use crate::realtime::{connect, next_of, subscribe};
use crate::support::TestDatabase;
use crate::support::app::{Client, start_service, test_config_with};

/// Messages each writer sends.
const PER_WRITER: usize = 25;
/// Writers: two on each command-api.
const WRITERS: usize = 4;

#[tokio::test]
async fn two_of_each_service_project_every_event_once_and_every_socket_sees_every_message() {
    let db = TestDatabase::migrated().await;
    let config = || test_config_with(&db.url, &[("RATE_LIMIT_WRITES", "100000/60")]);
    let (commands_a, _ca) = start_service(config(), Services::CommandApi).await;
    let (commands_b, _cb) = start_service(config(), Services::CommandApi).await;
    let (queries_a, _qa) = start_service(config(), Services::QueryApi).await;
    let (queries_b, _qb) = start_service(config(), Services::QueryApi).await;
    let (_projectors_a, _pa) = start_service(config(), Services::Projectors).await;
    let (_projectors_b, _pb) = start_service(config(), Services::Projectors).await;
    let (a, b) = (Client { addr: commands_a }, Client { addr: commands_b });

    let owner = a.user("owner").await;
    let (project, _) = a.project(&owner, "Scaled out").await;
    let (conversation, token) = b.conversation(&owner, &project, "Everyone").await;
    for reader in [queries_a, queries_b] {
        let known = Client { addr: reader }
            .get_consistent(
                &format!("/api/v1/conversations/{conversation}"),
                &owner.token,
                &token,
            )
            .await;
        assert_eq!(known.status, 200, "{}", known.text());
    }
    let mut sockets = vec![
        connect(queries_a, &owner, None).await,
        connect(queries_b, &owner, None).await,
    ];
    for socket in &mut sockets {
        subscribe(
            socket,
            json!({"type": "subscribe", "conversation_id": conversation}),
        )
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Four writers, two through each command-api, all on one conversation.
    let writers = (0..WRITERS).map(|writer| {
        let (client, owner, conversation) = (
            if writer % 2 == 0 { a } else { b },
            owner.clone(),
            conversation.clone(),
        );
        async move {
            let mut last = String::new();
            for n in 0..PER_WRITER {
                let sent = client
                    .send_message(&owner, &conversation, &format!("writer {writer} message {n}"))
                    .await;
                last = sent["consistency_token"].as_str().unwrap_or_default().to_owned();
            }
            last
        }
    });
    let tokens = join_all(writers).await;
    let expected: BTreeSet<String> = (0..WRITERS)
        .flat_map(|writer| (0..PER_WRITER).map(move |n| format!("writer {writer} message {n}")))
        .collect();

    // Every socket, on either query-api, sees every message once.
    for socket in &mut sockets {
        let mut seen = BTreeSet::new();
        for _ in 0..expected.len() {
            let message = next_of(socket, "message:received").await;
            let content = message["data"]["content"].as_str().unwrap_or_default().to_owned();
            assert!(seen.insert(content.clone()), "{content} pushed twice");
        }
        assert_eq!(seen, expected);
    }

    // Every event projected exactly once, whichever projector took the lease.
    for token in &tokens {
        let page = Client { addr: queries_b }
            .get_consistent(
                &format!("/api/v1/conversations/{conversation}/messages?limit=200"),
                &owner.token,
                token,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text());
    }
    let client = db.connect().await;
    let numbers: Vec<i64> = client
        .query(
            "SELECT number FROM rm_messages WHERE conversation_id = $1::text::uuid ORDER BY number",
            &[&conversation],
        )
        .await
        .expect("messages")
        .iter()
        .map(|row| row.get(0))
        .collect();
    let gapless: Vec<i64> = (1..=i64::try_from(expected.len()).unwrap_or(0)).collect();
    assert_eq!(
        numbers, gapless,
        "each message projected once, numbered without a gap"
    );
    let (applied, stored): (i64, i64) = {
        let row = client
            .query_one(
                "SELECT (SELECT events_applied FROM projection_checkpoints WHERE name = 'conversations'),
                        (SELECT count(*) FROM events)",
                &[],
            )
            .await
            .expect("counts");
        (row.get(0), row.get(1))
    };
    // The engine counts every event it passes, of any type, once.
    assert_eq!(
        applied, stored,
        "the conversations projection went past each event once"
    );
}
