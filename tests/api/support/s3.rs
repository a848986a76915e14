//! A real S3-compatible server for the source tests: moto's standalone
//! server (from PyPI, installed on first use into `target/moto-venv`, or
//! the binary `MOTO_SERVER` names), one per test on a free port, killed
//! when the test ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The moto version the tests are written against.
const MOTO: &str = "moto[server]==5.2.6";

/// Installs moto once per test run (tests of one binary share it).
static INSTALL: Mutex<()> = Mutex::new(());

/// One running S3 server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:port`.
    pub endpoint: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    if let Some(binary) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(binary);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv");
    let binary = venv.join("bin/moto_server");
    let _installing = INSTALL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !binary.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv (install python3-venv)");
        assert!(made.success(), "python3 -m venv failed");
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", MOTO])
            .status()
            .expect("pip install moto");
        assert!(installed.success(), "pip install {MOTO} failed");
    }
    binary
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts a server and waits until it answers.
pub async fn start() -> S3Server {
    let binary = tokio::task::spawn_blocking(moto_server)
        .await
        .expect("moto installed");
    let port = free_port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let server = S3Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start on port {port}");
}

/// Creates `bucket` (moto checks no signature).
pub async fn create_bucket(server: &S3Server, bucket: &str) {
    let port: u16 = server
        .endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let answer = super::http::send(addr, "PUT", &format!("/{bucket}"), &[], None)
        .await
        .expect("bucket created");
    assert!(answer.status < 300, "creating the bucket: {}", answer.text());
}
