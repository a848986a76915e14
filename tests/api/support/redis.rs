//! Talking to the test Redis directly, for tests that play a Redis outage
//! on their own keys (every test has a key prefix of its own).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Deletes every key under `prefix`, as a Redis restart (which keeps
/// nothing on disk here) would for this test's keys alone.
pub async fn forget_prefix(url: &str, prefix: &str) {
    let address = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let mut stream = TcpStream::connect(address).await.expect("connect to Redis");
    let script = "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1";
    let pattern = format!("{prefix}*");
    let parts = ["EVAL", script, "0", pattern.as_str()];
    let mut command = format!("*{}\r\n", parts.len());
    for part in parts {
        command.push_str(&format!("${}\r\n{part}\r\n", part.len()));
    }
    stream.write_all(command.as_bytes()).await.expect("send to Redis");
    let mut reply = [0_u8; 64];
    let read = stream.read(&mut reply).await.expect("Redis answers");
    assert!(
        reply[..read].starts_with(b":1"),
        "{}",
        String::from_utf8_lossy(&reply[..read])
    );
}
