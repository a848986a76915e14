//! Sources (issue 23): uploads streamed into the object store, downloads
//! with `ETag` and `Range`, folders, the 50 MB limit, who may do what, the
//! blob sweeper — each on a local directory and on a real S3-compatible
//! server (moto's, `support::s3`).

use serde_json::{Value, json};
use zekka_platform::blobs::Blobs;

use crate::support::app::{TestApp, User, test_config_with};
use crate::support::database::sources_dir;
use crate::support::s3::{self, S3Server};
use crate::support::{spawn_app, spawn_app_with};

/// A running app and a view of the store its sources are kept in.
struct Rig {
    app: TestApp,
    store: Blobs,
    _s3: Option<S3Server>,
}

impl std::ops::Deref for Rig {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The app with sources in a local directory (the default).
async fn local() -> Rig {
    let app = spawn_app().await;
    let store = Blobs::local(&sources_dir(&app.db.url)).expect("the local store");
    Rig {
        app,
        store,
        _s3: None,
    }
}

/// The app with sources in a bucket of its own on an S3 server.
async fn on_s3() -> Rig {
    let server = s3::start().await;
    let bucket = format!("zekka-{}", uuid::Uuid::new_v4().simple());
    s3::create_bucket(&server, &bucket).await;
    let url = format!("s3://{bucket}/sources");
    let overrides = [
        ("SOURCES_URL", url.as_str()),
        ("SOURCES_S3_ENDPOINT", server.endpoint.as_str()),
        ("SOURCES_S3_ALLOW_HTTP", "yes"),
        ("SOURCES_S3_ACCESS_KEY_ID", "testing"),
        ("SOURCES_S3_SECRET_ACCESS_KEY", "testing"),
    ];
    let app = spawn_app_with(&overrides).await;
    let store = Blobs::from_config(&test_config_with(&app.db.url, &overrides)).expect("the S3 store");
    Rig {
        app,
        store,
        _s3: Some(server),
    }
}

/// Every object the store holds (blobs, and any staging left behind).
async fn stored(rig: &Rig) -> Vec<String> {
    rig.store.list_all().await.expect("the store lists")
}

/// Uploads `bytes` as `name` into `project` (and `folder`), as `user`.
async fn upload(
    app: &TestApp,
    user: &User,
    project: &str,
    name: &str,
    folder: Option<&str>,
    media_type: &str,
    bytes: &[u8],
) -> crate::support::http::Response {
    let folder = folder.map(|f| format!("&folder_id={f}")).unwrap_or_default();
    let bearer = format!("Bearer {}", user.token);
    app.raw(
        "POST",
        &format!("/api/v1/projects/{project}/sources?name={name}{folder}"),
        &[("Authorization", &bearer), ("Content-Type", media_type)],
        Some(bytes),
    )
    .await
}

/// `GET /sources/{id}/content` as `user`, with `headers` besides the token.
async fn download(
    app: &TestApp,
    user: &User,
    id: &str,
    headers: &[(&str, &str)],
) -> crate::support::http::Response {
    let bearer = format!("Bearer {}", user.token);
    let mut all = vec![("Authorization", bearer.as_str())];
    all.extend_from_slice(headers);
    app.raw("GET", &format!("/api/v1/sources/{id}/content"), &all, None)
        .await
}

fn consistency(answer: &crate::support::http::Response) -> String {
    answer.json()["consistency_token"]
        .as_str()
        .expect("a consistency token")
        .to_owned()
}

async fn an_upload_is_listed_described_and_downloaded_whole_by_range_and_by_etag(app: Rig) {
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Library").await;
    let text = b"# Notes\nThe quick brown fox jumps over the lazy dog.\n";
    let added = upload(
        &app,
        &owner,
        &project,
        "notes.md",
        None,
        "text/markdown; charset=utf-8",
        text,
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());
    let source = added.json();
    assert_eq!(source["name"], "notes.md");
    assert_eq!(source["media_type"], "text/markdown");
    assert_eq!(source["size_bytes"], text.len());
    assert_eq!(source["project_id"], project.as_str());
    assert_eq!(source["folder_id"], Value::Null);
    assert_eq!(source["created_by"], owner.id.as_str());
    let sha = source["sha256"].as_str().expect("sha256").to_owned();
    assert_eq!(sha.len(), 64);
    let id = source["id"].as_str().expect("id").to_owned();
    let token = consistency(&added);

    let listed = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/sources"),
            &owner.token,
            &token,
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json()["items"][0]["id"], id.as_str());
    let described = app
        .get_consistent(&format!("/api/v1/sources/{id}"), &owner.token, &token)
        .await
        .json();
    assert_eq!(described["sha256"], sha.as_str());

    let whole = download(&app, &owner, &id, &[]).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, text);
    assert_eq!(whole.header("content-type"), Some("text/markdown"));
    assert_eq!(whole.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert!(
        whole
            .header("content-disposition")
            .is_some_and(|d| d.contains("notes.md"))
    );

    let part = download(&app, &owner, &id, &[("Range", "bytes=2-6")]).await;
    assert_eq!(part.status, 206, "{}", part.text());
    assert_eq!(part.body, &text[2..7]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 2-6/{}", text.len()).as_str())
    );
    let tail = download(&app, &owner, &id, &[("Range", "bytes=-5")]).await;
    assert_eq!(tail.body, &text[text.len() - 5..]);
    let beyond = download(&app, &owner, &id, &[("Range", "bytes=9999-")]).await;
    beyond.assert_problem(416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", text.len()).as_str())
    );
    let etag = format!("\"{sha}\"");
    let cached = download(&app, &owner, &id, &[("If-None-Match", &etag)]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());

    // The same bytes again: a second source, one blob.
    let again = upload(&app, &owner, &project, "copy.md", None, "text/markdown", text).await;
    assert_eq!(again.status, 201, "{}", again.text());
    assert_eq!(again.json()["sha256"], sha.as_str());
    assert_eq!(stored(&app).await, vec![format!("projects/{project}/{sha}")]);

    // Renamed, then deleted: gone from the listing, 404 after.
    let renamed = app
        .request(
            "PATCH",
            &format!("/api/v1/sources/{id}"),
            Some(&owner.token),
            Some(&json!({"name": "renamed.md"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    let token = consistency(&renamed);
    let described = app
        .get_consistent(&format!("/api/v1/sources/{id}"), &owner.token, &token)
        .await
        .json();
    assert_eq!(described["name"], "renamed.md");
    let deleted = app
        .request(
            "DELETE",
            &format!("/api/v1/sources/{id}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    let token = deleted.header("x-consistency-token").expect("token").to_owned();
    app.get_consistent(&format!("/api/v1/sources/{id}"), &owner.token, &token)
        .await
        .assert_problem(404);
    app.request(
        "DELETE",
        &format!("/api/v1/sources/{id}"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(404);
}

async fn folders_nest_move_never_under_themselves_and_go_only_when_empty(app: Rig) {
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Tree").await;
    let folder = |name: &'static str, parent: Option<String>| {
        let app = &app;
        let owner = &owner;
        let project = project.clone();
        async move {
            let made = app
                .request(
                    "POST",
                    &format!("/api/v1/projects/{project}/source-folders"),
                    Some(&owner.token),
                    Some(&json!({"name": name, "parent_id": parent})),
                )
                .await;
            assert_eq!(made.status, 201, "{}", made.text());
            made.json()["id"].as_str().expect("id").to_owned()
        }
    };
    let docs = folder("docs", None).await;
    let specs = folder("specs", Some(docs.clone())).await;
    let drafts = folder("drafts", Some(specs.clone())).await;

    let added = upload(
        &app,
        &owner,
        &project,
        "plan.txt",
        Some(&specs),
        "text/plain",
        b"plan",
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());
    assert_eq!(added.json()["folder_id"], specs.as_str());
    let source = added.json()["id"].as_str().expect("id").to_owned();

    // A folder under itself or under its own subfolder: 422, nothing moved.
    for parent in [&docs, &drafts] {
        let looped = app
            .request(
                "PATCH",
                &format!("/api/v1/source-folders/{docs}"),
                Some(&owner.token),
                Some(&json!({"parent_id": parent})),
            )
            .await;
        looped.assert_problem(422);
    }
    // A folder of another project, or none: 422.
    let (other, _) = app.project(&owner, "Elsewhere").await;
    let foreign = app
        .request(
            "POST",
            &format!("/api/v1/projects/{other}/source-folders"),
            Some(&owner.token),
            Some(&json!({"name": "theirs"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for folder in [foreign.as_str(), "01900000-0000-7000-8000-000000000000"] {
        let refused = upload(&app, &owner, &project, "x.txt", Some(folder), "text/plain", b"x").await;
        refused.assert_problem(422);
    }

    // Not empty: 409. Move what it holds out, then it goes.
    app.request(
        "DELETE",
        &format!("/api/v1/source-folders/{specs}"),
        Some(&owner.token),
        None,
    )
    .await
    .assert_problem(409);
    let moved = app
        .request(
            "PATCH",
            &format!("/api/v1/sources/{source}"),
            Some(&owner.token),
            Some(&json!({"folder_id": null})),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let lifted = app
        .request(
            "PATCH",
            &format!("/api/v1/source-folders/{drafts}"),
            Some(&owner.token),
            Some(&json!({"parent_id": docs, "name": "old drafts"})),
        )
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.text());
    let emptied = app
        .request(
            "DELETE",
            &format!("/api/v1/source-folders/{specs}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(emptied.status, 204, "{}", emptied.text());
    let token = emptied.header("x-consistency-token").expect("token").to_owned();

    let tree = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/source-folders"),
            &owner.token,
            &token,
        )
        .await
        .json();
    let items = tree["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{tree}");
    let drafts_now = items.iter().find(|f| f["id"] == drafts.as_str()).expect("drafts");
    assert_eq!(drafts_now["parent_id"], docs.as_str());
    assert_eq!(drafts_now["name"], "old drafts");
    let top = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/sources"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(top["items"][0]["folder_id"], Value::Null);
    let in_docs = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/sources?folder_id={docs}"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(in_docs["items"], json!([]));
}

async fn viewers_read_members_write_and_a_stranger_gets_404_on_every_route(app: Rig) {
    let owner = app.user("owner").await;
    let viewer = app.user("viewer").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Guarded").await;
    app.add_member(&owner, &project, &viewer, "viewer").await;
    let added = upload(
        &app,
        &owner,
        &project,
        "secret.txt",
        None,
        "text/plain",
        b"classified",
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());
    let source = added.json()["id"].as_str().expect("id").to_owned();
    let token = consistency(&added);
    let folder = app
        .request(
            "POST",
            &format!("/api/v1/projects/{project}/source-folders"),
            Some(&owner.token),
            Some(&json!({"name": "private"})),
        )
        .await;
    let folder = folder.json()["id"].as_str().expect("id").to_owned();

    // The viewer reads…
    let read = app
        .get_consistent(
            &format!("/api/v1/sources/{source}/content"),
            &viewer.token,
            &token,
        )
        .await;
    assert_eq!(read.body, b"classified");
    // …and writes nothing: 403, and no blob is stored for the attempt.
    let before = stored(&app).await;
    upload(
        &app,
        &viewer,
        &project,
        "mine.txt",
        None,
        "text/plain",
        b"from a viewer",
    )
    .await
    .assert_problem(403);
    assert_eq!(stored(&app).await, before);
    app.request(
        "PATCH",
        &format!("/api/v1/sources/{source}"),
        Some(&viewer.token),
        Some(&json!({"name": "x"})),
    )
    .await
    .assert_problem(403);

    // The stranger learns nothing on any route.
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/api/v1/projects/{project}/sources"), None),
        ("GET", format!("/api/v1/sources/{source}"), None),
        ("GET", format!("/api/v1/sources/{source}/content"), None),
        (
            "PATCH",
            format!("/api/v1/sources/{source}"),
            Some(json!({"name": "mine"})),
        ),
        ("DELETE", format!("/api/v1/sources/{source}"), None),
        ("GET", format!("/api/v1/projects/{project}/source-folders"), None),
        (
            "POST",
            format!("/api/v1/projects/{project}/source-folders"),
            Some(json!({"name": "mine"})),
        ),
        (
            "PATCH",
            format!("/api/v1/source-folders/{folder}"),
            Some(json!({"name": "mine"})),
        ),
        ("DELETE", format!("/api/v1/source-folders/{folder}"), None),
    ];
    for (method, path, body) in routes {
        app.request(method, &path, Some(&stranger.token), body.as_ref())
            .await
            .assert_problem(404);
    }
    upload(
        &app,
        &stranger,
        &project,
        "mine.txt",
        None,
        "text/plain",
        b"from outside",
    )
    .await
    .assert_problem(404);
    assert_eq!(stored(&app).await, before, "a refused upload kept bytes");
}

async fn fifty_megabytes_are_taken_one_byte_more_is_413_and_none_is_422_with_nothing_kept(app: Rig) {
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Big").await;
    let limit = 50 * 1024 * 1024;
    let mut bytes = vec![7u8; limit + 1];
    // One byte over: the route reads it and refuses it.
    let refused = upload(
        &app,
        &owner,
        &project,
        "big.bin",
        None,
        "application/octet-stream",
        &bytes,
    )
    .await;
    refused.assert_problem(413);
    assert!(
        stored(&app).await.is_empty(),
        "a refused upload left {:?}",
        stored(&app).await
    );
    // Declared larger still: refused before a byte is read.
    bytes.resize(limit + 1024, 7);
    upload(
        &app,
        &owner,
        &project,
        "bigger.bin",
        None,
        "application/octet-stream",
        &bytes,
    )
    .await
    .assert_problem(413);
    assert!(stored(&app).await.is_empty());

    // No bytes at all: a file with no content is refused too.
    upload(
        &app,
        &owner,
        &project,
        "empty.bin",
        None,
        "application/octet-stream",
        b"",
    )
    .await
    .assert_problem(422);
    assert!(stored(&app).await.is_empty());

    bytes.truncate(limit);
    let taken = upload(
        &app,
        &owner,
        &project,
        "exact.bin",
        None,
        "application/octet-stream",
        &bytes,
    )
    .await;
    assert_eq!(taken.status, 201, "{}", taken.text());
    assert_eq!(taken.json()["size_bytes"], limit);
    assert_eq!(stored(&app).await.len(), 1);
    let token = consistency(&taken);
    let listed = app
        .get_consistent(
            &format!("/api/v1/projects/{project}/sources"),
            &owner.token,
            &token,
        )
        .await
        .json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
}

async fn an_added_and_a_removed_source_are_pushed_to_the_project_subscription(app: Rig) {
    let owner = app.user("owner").await;
    let (project, token) = app.project(&owner, "Live").await;
    // The socket accepts the subscription once the read model shows the project.
    app.get_consistent(&format!("/api/v1/projects/{project}"), &owner.token, &token)
        .await;
    let mut socket = crate::realtime::connect(app.addr, &owner, None).await;
    crate::realtime::subscribe(&mut socket, json!({"type": "subscribe", "project_id": project})).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let added = upload(&app, &owner, &project, "live.txt", None, "text/plain", b"live").await;
    assert_eq!(added.status, 201, "{}", added.text());
    let id = added.json()["id"].as_str().expect("id").to_owned();
    let pushed = crate::realtime::next_of(&mut socket, "source:added").await;
    assert_eq!(pushed["data"]["source_id"], id.as_str());
    assert_eq!(pushed["data"]["project_id"], project.as_str());
    assert_eq!(pushed["data"]["name"], "live.txt");
    assert_eq!(pushed["data"]["size_bytes"], 4);
    // When it is pushed, it can be read.
    let bearer = format!("Bearer {}", owner.token);
    let read = app
        .raw(
            "GET",
            &format!("/api/v1/sources/{id}"),
            &[("Authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text());

    let removed = app
        .request(
            "DELETE",
            &format!("/api/v1/sources/{id}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    let pushed = crate::realtime::next_of(&mut socket, "source:removed").await;
    assert_eq!(pushed["data"]["source_id"], id.as_str());
    assert_eq!(pushed["data"]["project_id"], project.as_str());
    assert_eq!(pushed["data"]["removed_by"], owner.id.as_str());
}

async fn bytes_no_source_names_are_swept_after_the_grace_and_a_concurrent_upload_keeps_them(app: Rig) {
    use zekka_command_api::app::sources::sweeper::{self, GRACE};
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Swept").await;
    let reads = zekka_event_store::database::read_pool(&app.db.url, 4).expect("pool");
    let blobs_store = app.store.clone();
    let later = chrono::Utc::now() + GRACE + chrono::Duration::minutes(1);

    let kept = upload(
        &app,
        &owner,
        &project,
        "kept.txt",
        None,
        "text/plain",
        b"kept bytes",
    )
    .await;
    let gone = upload(
        &app,
        &owner,
        &project,
        "gone.txt",
        None,
        "text/plain",
        b"gone bytes",
    )
    .await;
    let (kept_sha, gone_sha) = (
        kept.json()["sha256"].as_str().expect("sha").to_owned(),
        gone.json()["sha256"].as_str().expect("sha").to_owned(),
    );
    let gone_id = gone.json()["id"].as_str().expect("id").to_owned();
    let deleted = app
        .request(
            "DELETE",
            &format!("/api/v1/sources/{gone_id}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(stored(&app).await.len(), 2);

    // Young: kept whatever names it.
    let young = sweeper::sweep(&reads, &blobs_store, chrono::Utc::now(), false)
        .await
        .expect("sweep");
    assert_eq!((young.blobs, young.removed), (2, 0));
    // A dry run counts and keeps.
    let dry = sweeper::sweep(&reads, &blobs_store, later, true)
        .await
        .expect("sweep");
    assert_eq!((dry.blobs, dry.removed), (2, 1));
    assert_eq!(stored(&app).await.len(), 2);
    // Past the grace: the unnamed one goes, the named one stays.
    let swept = sweeper::sweep(&reads, &blobs_store, later, false)
        .await
        .expect("sweep");
    assert_eq!(swept.removed, 1);
    assert_eq!(stored(&app).await, vec![format!("projects/{project}/{kept_sha}")]);
    assert!(!stored(&app).await.iter().any(|b| b.ends_with(&gone_sha)));

    // The same bytes uploaded while a sweep runs are never lost.
    for round in 0..8 {
        let again = upload(
            &app,
            &owner,
            &project,
            "again.txt",
            None,
            "text/plain",
            b"gone bytes",
        );
        let sweep = sweeper::sweep(&reads, &blobs_store, later, false);
        let (again, swept) = tokio::join!(again, sweep);
        swept.expect("sweep");
        assert_eq!(again.status, 201, "{}", again.text());
        let id = again.json()["id"].as_str().expect("id").to_owned();
        let content = download(
            &app,
            &owner,
            &id,
            &[("X-Consistency-Token", &consistency(&again))],
        )
        .await;
        assert_eq!(content.status, 200, "round {round}: {}", content.text());
        assert_eq!(content.body, b"gone bytes", "round {round}");
        // Unnamed again for the next round.
        let removed = app
            .request(
                "DELETE",
                &format!("/api/v1/sources/{id}"),
                Some(&owner.token),
                None,
            )
            .await;
        assert_eq!(removed.status, 204);
    }
}

async fn a_multipart_file_part_is_uploaded_with_its_filename_and_type(app: Rig) {
    let owner = app.user("owner").await;
    let (project, _) = app.project(&owner, "Forms").await;
    let bearer = format!("Bearer {}", owner.token);
    let form = |parts: &[(&str, Option<&str>, &[u8])]| {
        let mut body = Vec::new();
        for (name, file, bytes) in parts {
            body.extend_from_slice(b"--XZEKKA\r\n");
            match file {
                Some(file) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: text/plain\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XZEKKA--\r\n");
        body
    };
    let post = |query: &'static str, body: Vec<u8>| {
        let app = &app;
        let bearer = bearer.clone();
        let project = project.clone();
        async move {
            app.raw(
                "POST",
                &format!("/api/v1/projects/{project}/sources{query}"),
                &[
                    ("Authorization", &bearer),
                    ("Content-Type", "multipart/form-data; boundary=XZEKKA"),
                ],
                Some(&body),
            )
            .await
        }
    };
    let content: &[u8] = b"line one\nline two\n";
    let added = post(
        "",
        form(&[
            ("note", None, b"ignored"),
            ("file", Some("report final.txt"), content),
        ]),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.text());
    let source = added.json();
    assert_eq!(source["name"], "report final.txt");
    assert_eq!(source["media_type"], "text/plain");
    assert_eq!(source["size_bytes"], content.len());
    let id = source["id"].as_str().expect("id").to_owned();
    let read = download(
        &app,
        &owner,
        &id,
        &[("X-Consistency-Token", &consistency(&added))],
    )
    .await;
    assert_eq!(read.body, content);
    // `?name=` wins over the filename; a form without a `file` part is 422.
    let named = post("?name=renamed.txt", form(&[("file", Some("x.txt"), b"other")])).await;
    assert_eq!(named.json()["name"], "renamed.txt", "{}", named.text());
    post("", form(&[("note", None, b"no file")]))
        .await
        .assert_problem(422);
}

async fn the_text_of_a_text_source_is_found_by_search_and_other_bytes_are_not(app: Rig) {
    use crate::search::{kinds_and_ids, search};
    let owner = app.user("owner").await;
    let stranger = app.user("stranger").await;
    let (project, _) = app.project(&owner, "Foundry").await;
    let id_of = |answer: &crate::support::http::Response| {
        assert_eq!(answer.status, 201, "{}", answer.text());
        answer.json()["id"].as_str().expect("id").to_owned()
    };
    let notes = id_of(
        &upload(
            &app,
            &owner,
            &project,
            "notes.md",
            None,
            "text/markdown",
            b"# Casting\n\nThe tantalum crucible cracked at 1900 degrees; order another.",
        )
        .await,
    );
    let data = id_of(
        &upload(
            &app,
            &owner,
            &project,
            "data.json",
            None,
            "application/json",
            br#"{"metal": "osmium"}"#,
        )
        .await,
    );
    let untyped = id_of(
        &upload(
            &app,
            &owner,
            &project,
            "readme.txt",
            None,
            "application/octet-stream",
            b"hafnium rods",
        )
        .await,
    );
    // Not text: never read, whatever its bytes say.
    let picture = id_of(
        &upload(
            &app,
            &owner,
            &project,
            "photo.png",
            None,
            "image/png",
            b"tantalum osmium hafnium",
        )
        .await,
    );
    // Text the database could refuse (NUL, invalid UTF-8) is indexed all the same.
    let odd = id_of(
        &upload(
            &app,
            &owner,
            &project,
            "odd.txt",
            None,
            "text/plain",
            b"niobium\0wire \xff\xfe end",
        )
        .await,
    );
    // Past the cap: the start is indexed, what follows is not.
    let mut long = b"vanadium ".to_vec();
    long.resize(200 * 1024, b' ');
    long.extend_from_slice(b" beyondthecap");
    let long = id_of(&upload(&app, &owner, &project, "long.txt", None, "text/plain", &long).await);
    let last = upload(
        &app,
        &owner,
        &project,
        "last.txt",
        None,
        "text/plain",
        b"tungsten",
    )
    .await;
    let token = consistency(&last);

    for (word, expected) in [
        ("tantalum", &notes),
        ("osmium", &data),
        ("hafnium", &untyped),
        ("niobium", &odd),
        ("vanadium", &long),
    ] {
        let found = search(&app, &owner, &format!("q={word}&types=sources"), &token).await;
        assert_eq!(
            kinds_and_ids(&found),
            vec![("sources".to_owned(), expected.clone())],
            "{word}: {found}"
        );
        let theirs = search(&app, &stranger, &format!("q={word}"), &token).await;
        assert_eq!(theirs["items"], json!([]), "{word}: {theirs}");
    }
    let found = search(&app, &owner, "q=crucible", &token).await;
    assert!(
        found["items"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("«crucible»") && s.contains("tantalum")),
        "the snippet comes from the text: {found}"
    );
    let beyond = search(&app, &owner, "q=beyondthecap", &token).await;
    assert_eq!(beyond["items"], json!([]), "{beyond}");
    assert!(
        !kinds_and_ids(&search(&app, &owner, "q=tantalum", &token).await)
            .contains(&("sources".to_owned(), picture))
    );

    // Removed: its text is not found any more.
    let removed = app
        .request(
            "DELETE",
            &format!("/api/v1/sources/{notes}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    let token = removed.header("x-consistency-token").expect("token").to_owned();
    let gone = search(&app, &owner, "q=tantalum", &token).await;
    assert_eq!(gone["items"], json!([]), "{gone}");
}

/// Each scenario on both stores.
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod on_a_local_directory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::local().await).await;
                }
            )*
        }
        mod on_an_s3_server {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::on_s3().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    an_upload_is_listed_described_and_downloaded_whole_by_range_and_by_etag,
    folders_nest_move_never_under_themselves_and_go_only_when_empty,
    viewers_read_members_write_and_a_stranger_gets_404_on_every_route,
    fifty_megabytes_are_taken_one_byte_more_is_413_and_none_is_422_with_nothing_kept,
    an_added_and_a_removed_source_are_pushed_to_the_project_subscription,
    bytes_no_source_names_are_swept_after_the_grace_and_a_concurrent_upload_keeps_them,
    a_multipart_file_part_is_uploaded_with_its_filename_and_type,
    the_text_of_a_text_source_is_found_by_search_and_other_bytes_are_not,
);
