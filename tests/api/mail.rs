//! Outgoing mail through a real SMTP conversation (a minimal SMTP server
//! stands in for the mail relay).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::support::spawn_app_with;

/// Accepts SMTP sessions and hands each message's data to the receiver.
async fn smtp_server() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 test ESMTP\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or_default().to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-test\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut message = String::new();
                            while let Ok(Some(data)) = lines.next_line().await {
                                if data == "." {
                                    break;
                                }
                                message.push_str(&data);
                                message.push('\n');
                            }
                            let _ = sender.send(message);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, receiver)
}

#[tokio::test]
async fn verification_mail_goes_out_through_smtp_and_is_marked_sent() {
    let (smtp, mut inbox) = smtp_server().await;
    let url = format!("smtp://{smtp}");
    let app = spawn_app_with(&[
        ("SMTP_URL", &url),
        ("MAIL_FROM", "Zekka <zekka@example.com>"),
        ("MAIL_POLL_MS", "50"),
    ])
    .await;
    let user = app.user("mailed").await;

    let message = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .expect("a mail within 10 s")
        .expect("the server is running");
    assert!(message.contains(&format!("To: {}", user.email)), "{message}");
    assert!(message.contains("From: Zekka <zekka@example.com>"), "{message}");
    // The body is quoted-printable: undo soft line breaks and `=3D`.
    let body = message.replace("=\n", "").replace("=3D", "=");
    assert!(body.contains("verify-email?token=zkv_"), "{message}");

    let client = app.db.connect().await;
    let mut sent = false;
    for _ in 0..100 {
        let row = client
            .query_one(
                "SELECT sent_at IS NOT NULL AND body IS NULL FROM mail_outbox WHERE recipient = $1",
                &[&user.email],
            )
            .await
            .expect("outbox");
        sent = row.get(0);
        if sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sent,
        "the outbox row is marked sent, and its one-time link is gone with the body (security review F13)"
    );
}

#[tokio::test]
async fn an_unreachable_smtp_server_leaves_the_mail_in_the_outbox_for_later() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("smtp://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let app = spawn_app_with(&[("SMTP_URL", &url), ("MAIL_POLL_MS", "50")]).await;
    let user = app.user("unmailed").await;
    let client = app.db.connect().await;
    let mut attempts = 0;
    for _ in 0..250 {
        let row = client
            .query_one(
                "SELECT attempts, sent_at IS NULL, last_error IS NOT NULL FROM mail_outbox WHERE recipient = $1",
                &[&user.email],
            )
            .await
            .expect("outbox");
        attempts = row.get::<_, i32>(0);
        if attempts > 0 {
            assert!(row.get::<_, bool>(1), "not marked sent");
            assert!(row.get::<_, bool>(2), "the error is recorded");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(attempts > 0, "the mailer tried");
}
