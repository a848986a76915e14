//! The account lockout after failed sign-ins.

use std::time::{Duration, Instant};

use crate::support::app::PASSWORD;
use crate::support::spawn_app_with;

const FAST_LOCK: &[(&str, &str)] = &[("LOGIN_LOCKOUT_SECONDS", "2")];

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_until_the_lock_ends() {
    let app = spawn_app_with(FAST_LOCK).await;
    let user = app.user("locked").await;
    for _ in 0..5 {
        app.login(&user.email, "wrong password!")
            .await
            .assert_problem(401);
    }
    let locked = app.login(&user.email, PASSWORD).await;
    let problem = locked.assert_problem(429);
    let retry: u64 = locked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("failed sign-ins")
    );

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let after = app.login(&user.email, PASSWORD).await;
    assert_eq!(after.status, 200, "the lock ends by itself: {}", after.text());

    let events: Vec<String> = app
        .db
        .connect()
        .await
        .query(
            "SELECT event_type FROM events WHERE aggregate_type = 'User' ORDER BY global_position",
            &[],
        )
        .await
        .expect("events")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(events.iter().filter(|e| *e == "LoginFailed").count(), 5);
    assert_eq!(events.last().map(String::as_str), Some("LoginFailuresCleared"));
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answers_and_runs_argon2_too() {
    let app = spawn_app_with(FAST_LOCK).await;
    let user = app.user("known").await;
    let unknown = "nobody-here@example.com";

    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response = app.login(email, "wrong password!").await;
            (response, started.elapsed())
        }
    };
    let known_email: &'static str = Box::leak(user.email.clone().into_boxed_str());
    for attempt in 0..5 {
        let (known, known_time) = timed(known_email).await;
        let (missing, missing_time) = timed(unknown).await;
        let known = known.assert_problem(401);
        let missing = missing.assert_problem(401);
        assert_eq!(known["detail"], missing["detail"], "attempt {attempt}");
        // argon2id runs either way: neither answer is instant.
        assert!(known_time >= Duration::from_millis(5), "{known_time:?}");
        assert!(missing_time >= Duration::from_millis(5), "{missing_time:?}");
    }
    let known = app.login(&user.email, PASSWORD).await;
    let missing = app.login(unknown, PASSWORD).await;
    let known_problem = known.assert_problem(429);
    let missing_problem = missing.assert_problem(429);
    assert_eq!(known_problem["detail"], missing_problem["detail"]);
    assert!(known.header("retry-after").is_some() && missing.header("retry-after").is_some());
}

/// Security review F3: a burst of concurrent guesses is no way around the
/// lockout. Every guess takes its place before its password is checked,
/// so at most five are checked in a lock period, and the right password
/// sent after the burst is refused too.
#[tokio::test]
async fn a_burst_of_concurrent_guesses_gets_no_more_than_five_checked() {
    // The per-address limit well out of the way: the account's own gate holds.
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_FAILURES", "1000/900")]).await;
    let user = app.user("raced").await;
    let client: crate::support::app::Client = *app;
    let guesses: Vec<_> = (0..25)
        .map(|n| {
            let email = user.email.clone();
            tokio::spawn(async move { client.login(&email, &format!("wrong guess {n:02}")).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("guess"));
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 20, "{statuses:?}");
    app.login(&user.email, PASSWORD).await.assert_problem(429);
    let failures: i64 = app
        .db
        .connect()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_type = 'User' AND aggregate_id = $1 AND event_type = 'LoginFailed'",
            &[&user.id],
        )
        .await
        .expect("events")
        .get(0);
    assert!(failures <= 5, "{failures} failures recorded");
}

/// The per-address limit on failed sign-ins holds against a burst too:
/// each attempt is counted before it is checked.
#[tokio::test]
async fn a_burst_from_one_address_gets_no_more_than_its_limit_of_failures_checked() {
    let app = spawn_app_with(&[("RATE_LIMIT_LOGIN_FAILURES", "4/900")]).await;
    let client: crate::support::app::Client = *app;
    let guesses: Vec<_> = (0..12)
        .map(|n| {
            tokio::spawn(async move {
                client
                    .login(&format!("nobody-{n}@example.com"), "a wrong password")
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("guess"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 8, "{statuses:?}");
}
