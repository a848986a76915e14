//! The docs page (issue 11): `/docs` renders in headless Chromium, a person
//! authorises with their access token, runs `GET /api/v1/users/me` from the
//! page and sees a 200; a screenshot is kept in `target/docs-page.png`.
//!
//! It drives Debian's `chromium` through `chromedriver` (the WebDriver
//! protocol is JSON over HTTP, spoken here with the project's own client).
//! Ignored by a plain `cargo test`, since a fresh machine has no browser;
//! `.ci/run` installs both and runs it:
//! `cargo test --test api -- --ignored docs_page`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use zekka_client::{Connection, Method};

use crate::support::spawn_app;

/// The key WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (apt-get install chromium chromium-driver; .ci/run does)");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { child, addr }
}

/// One WebDriver session.
struct Browser {
    connection: Connection,
    session: String,
}

impl Browser {
    async fn open(driver: &Driver) -> Self {
        let server = format!("http://{}", driver.addr)
            .parse()
            .expect("chromedriver's URL");
        let mut connection = Connection::open(&server).expect("a client for chromedriver");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1800"]
            }
        }}});
        let answer = connection
            .send(Method::POST, "/session", None, Some(&capabilities))
            .await
            .expect("new session");
        let body = answer.json(200, "a browser session").expect("session");
        let session = body["value"]["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        Self { connection, session }
    }

    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.or_else(|| (method == Method::POST).then(|| json!({})));
        let answer = self
            .connection
            .send(method, &path, None, body.as_ref())
            .await
            .expect("webdriver call");
        serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null)["value"].clone()
    }

    /// The first element matching `css`, waiting for it to appear.
    async fn find(&mut self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self
                .call(
                    Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element matches {css}: {found}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn click(&mut self, css: &str) {
        let element = self.find(css).await;
        self.call(Method::POST, &format!("/element/{element}/click"), None)
            .await;
    }

    async fn type_into(&mut self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The text of the first element matching `css` once it is `wanted`.
    async fn wait_for_text(&mut self, css: &str, wanted: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let element = self.find(css).await;
            let text = self
                .call(Method::GET, &format!("/element/{element}/text"), None)
                .await;
            let text = text.as_str().unwrap_or_default().trim().to_owned();
            if text == wanted || Instant::now() > deadline {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver: bash .ci/run installs them and runs it"]
async fn the_docs_page_authorises_and_runs_a_request_that_answers_200() {
    let app = spawn_app().await;
    let person = app.user("reader").await;
    let driver = start_driver().await;
    let mut browser = Browser::open(&driver).await;

    browser
        .call(
            Method::POST,
            "/url",
            Some(json!({"url": format!("http://{}/docs", app.addr)})),
        )
        .await;
    // Authorise both bearer schemes (people; people or API keys) with the
    // access token: each form, once authorised, shows no input any more.
    browser.click("button.authorize").await;
    for _ in 0..2 {
        browser
            .type_into(".modal-ux input[type=text]", &person.token)
            .await;
        browser
            .click(".modal-ux .auth-btn-wrapper button.authorize")
            .await;
    }
    browser.click(".modal-ux button.btn-done").await;

    // Run GET /api/v1/users/me from the page.
    browser.click("#operations-Users-getMe .opblock-summary").await;
    browser.click("#operations-Users-getMe .try-out__btn").await;
    browser.click("#operations-Users-getMe button.execute").await;
    let status = browser
        .wait_for_text(
            "#operations-Users-getMe .live-responses-table tbody .response-col_status",
            "200",
        )
        .await;

    // The screenshot shows the answer.
    browser
        .call(
            Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "document.querySelector('#operations-Users-getMe .live-responses-table').scrollIntoView({block: 'center'})",
                "args": []
            })),
        )
        .await;
    let screenshot = browser.call(Method::GET, "/screenshot", None).await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(screenshot.as_str().unwrap_or_default())
        .expect("a PNG");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/target/docs-page.png");
    std::fs::write(path, &png).expect("write the screenshot");
    browser.call(Method::DELETE, "", None).await;
    assert_eq!(
        status, "200",
        "the request from the docs page answered {status} (screenshot: {path})"
    );
    assert!(png.len() > 10_000, "the screenshot is empty");
}
