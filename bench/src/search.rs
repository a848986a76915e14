//! `search`: `GET /search` (issue 23) over a corpus of 100,000 messages and
//! 1,000 text sources across 100 projects, at a fixed rate, p50/p99 per
//! kind of query and for the mix.
//!
//! The words follow Zipf's law over a vocabulary of 5,000 made-up words
//! (the `n`th most common drawn with probability ∝ 1/n), as words in real
//! text do, so queries range from a word in most messages (like "the": the
//! `simple` configuration keeps every word) to one in a few dozen. One user
//! owns every project (a search over the whole corpus: the most a caller
//! can read); another is a member of one project.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use serde_json::{Value, json};
use zekka_client::{Connection, Method, Server};

use crate::load::{self, Plan, RoundRobinReads};
use crate::report;
use crate::setup::{create, signed_in_user};

/// What to run.
pub struct Options {
    /// The server.
    pub server: Server,
    /// Messages in the corpus.
    pub messages: usize,
    /// Text sources in the corpus.
    pub sources: usize,
    /// Projects they are spread over.
    pub projects: usize,
    /// Searches per second.
    pub rate: f64,
    /// Seconds per series.
    pub seconds: u64,
    /// Connections searching.
    pub connections: usize,
}

/// Words in the vocabulary.
const VOCABULARY: usize = 5_000;

/// Connections filling the corpus.
const FILLERS: usize = 8;

/// A made-up word for vocabulary rank `rank`: syllables spelling the rank
/// in base 20, so every rank has its own word.
fn word(rank: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "bu", "da", "fe", "gi", "ho", "ju", "pe",
        "qua", "ri", "so", "wy",
    ];
    let mut rest = rank;
    let mut spelled = String::from("x");
    loop {
        spelled.push_str(SYLLABLES[rest % 20]);
        rest /= 20;
        if rest == 0 {
            return spelled;
        }
    }
}

/// A small deterministic generator (no crate for one benchmark's words).
struct Words {
    state: u64,
    /// Cumulative Zipf weights, for drawing a rank.
    cumulative: Arc<Vec<f64>>,
}

impl Words {
    fn new(seed: u64, cumulative: Arc<Vec<f64>>) -> Self {
        Self {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            cumulative,
        }
    }

    fn next_unit(&mut self) -> f64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn rank(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = self.next_unit() * total;
        self.cumulative
            .partition_point(|&c| c < target)
            .min(VOCABULARY - 1)
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| word(self.rank()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn zipf_cumulative() -> Arc<Vec<f64>> {
    let mut total = 0.0;
    Arc::new(
        (1..=VOCABULARY)
            .map(|n| {
                total += 1.0 / n as f64;
                total
            })
            .collect(),
    )
}

/// The queries, by kind: from a word in most messages to one in a few
/// dozen, two words, a phrase, a word left out, one project only.
fn queries(project: &str) -> Vec<(&'static str, String)> {
    vec![
        ("word in ~70% of messages", word(0)),
        ("word in ~12%", word(9)),
        ("word in ~1.3%", word(99)),
        ("word in ~0.1%", word(999)),
        ("rare word", word(4_999)),
        ("two words", format!("{}+{}", word(30), word(60))),
        ("phrase", format!("%22{}+{}%22", word(0), word(1))),
        ("word minus word", format!("{}+-{}", word(99), word(0))),
        (
            "common word, one project",
            format!("{}&project_id={project}", word(0)),
        ),
    ]
}

/// What one filler connection made: the consistency token of its last write.
async fn fill(
    server: Server,
    token: Arc<str>,
    targets: Arc<Vec<(String, String)>>,
    share: std::ops::Range<usize>,
    sources: std::ops::Range<usize>,
    cumulative: Arc<Vec<f64>>,
) -> Result<String> {
    let mut connection = Connection::open(&server)?;
    let mut words = Words::new(share.start as u64 + 1, cumulative);
    let mut last = String::new();
    for n in share {
        let (_, conversation) = &targets[n % targets.len()];
        let length = 6 + words.rank() % 14;
        let body = json!({"content": words.sentence(length)});
        let sent = connection
            .send(
                Method::POST,
                &format!("/api/v1/conversations/{conversation}/messages"),
                Some(&token),
                Some(&body),
            )
            .await?
            .json(201, "message")?;
        last = sent["consistency_token"].as_str().unwrap_or_default().to_owned();
    }
    for n in sources {
        let (project, _) = &targets[n % targets.len()];
        // A note of about 4 KiB.
        let text = format!("# {}\n\n{}\n", words.sentence(4), words.sentence(600));
        let answer = connection
            .send_bytes(
                Method::POST,
                &format!("/api/v1/projects/{project}/sources?name=note-{n}.md"),
                Some(&token),
                "text/markdown",
                Bytes::from(text),
            )
            .await?;
        if answer.status != 201 {
            bail!("upload answered {}", answer.status);
        }
        let added: Value = serde_json::from_slice(&answer.body)?;
        last = added["consistency_token"].as_str().unwrap_or_default().to_owned();
    }
    Ok(last)
}

/// Waits until the read models hold every write (a search that honours each
/// filler's last token answers 200).
async fn caught_up(connection: &mut Connection, token: &str, last: &[String]) -> Result<()> {
    for consistency in last {
        let started = Instant::now();
        loop {
            let answer = connection
                .send_with(
                    Method::GET,
                    "/api/v1/search?q=xka",
                    Some(token),
                    &[("X-Consistency-Token", consistency)],
                    None,
                )
                .await?;
            if answer.status == 200 {
                break;
            }
            if started.elapsed() > Duration::from_secs(600) {
                bail!("the read models did not catch up: {}", answer.status);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

/// Analyzes the corpus's tables, as autovacuum does within a minute or so
/// of a bulk load: right after one, the planner still holds the empty
/// tables' statistics and picks plans that visit every message (searches
/// took seconds in that state; `docs/performance.md`). `DATABASE_URL` is
/// the server's database (`bench/run.sh` sets it); without it nothing is
/// done.
async fn analyzed() -> Result<bool> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        return Ok(false);
    };
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client.batch_execute("ANALYZE").await?;
    drop(client);
    let _ = driver.await;
    Ok(true)
}

/// Runs the scenario and prints its results.
///
/// # Errors
/// When the server cannot be reached or refuses the corpus.
pub async fn run(options: Options) -> Result<()> {
    let mut connection = Connection::open(&options.server)?;
    let owner: Arc<str> = signed_in_user(&mut connection).await?.into();
    let mut targets = Vec::with_capacity(options.projects);
    for n in 0..options.projects.max(1) {
        let project = create(
            &mut connection,
            &owner,
            "/api/v1/projects",
            &json!({"name": format!("Search {n}")}),
        )
        .await?;
        let conversation = create(
            &mut connection,
            &owner,
            "/api/v1/conversations",
            &json!({"project_id": project, "title": format!("Thread {n}")}),
        )
        .await?;
        targets.push((project, conversation));
    }
    let targets = Arc::new(targets);
    let cumulative = zipf_cumulative();
    let started = Instant::now();
    let mut fillers = Vec::new();
    for filler in 0..FILLERS {
        let share = options.messages * filler / FILLERS..options.messages * (filler + 1) / FILLERS;
        let sources = options.sources * filler / FILLERS..options.sources * (filler + 1) / FILLERS;
        fillers.push(tokio::spawn(fill(
            options.server.clone(),
            owner.clone(),
            targets.clone(),
            share,
            sources,
            cumulative.clone(),
        )));
    }
    let mut last = Vec::new();
    for filler in fillers {
        last.push(filler.await??);
    }
    caught_up(&mut connection, &owner, &last).await?;
    let filled_seconds = started.elapsed().as_secs_f64();
    let analyzed = analyzed().await?;
    println!(
        "corpus: {} messages and {} sources in {} projects, written and projected in {filled_seconds:.0} s{}",
        options.messages,
        options.sources,
        options.projects,
        if analyzed {
            ", analyzed"
        } else {
            " (not analyzed: no DATABASE_URL)"
        }
    );

    // A member of one project only.
    let member_email = format!("bench-member-{}@example.com", uuid::Uuid::new_v4().simple());
    connection
        .send(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(
                &json!({"email": member_email, "password": "benchmark passphrase", "display_name": "Member"}),
            ),
        )
        .await?
        .json(201, "register")?;
    let (member, member_id) =
        crate::setup::signed_in_as(&mut connection, &member_email, "benchmark passphrase").await?;
    let first = &targets[0].0;
    connection
        .send(
            Method::POST,
            &format!("/api/v1/projects/{first}/members"),
            Some(&owner),
            Some(&json!({"user_id": member_id, "role": "member"})),
        )
        .await?
        .json(200, "member")?;
    let member: Arc<str> = member.into();

    let duration = Duration::from_secs(options.seconds);
    let mut per_query = serde_json::Map::new();
    let mut all_paths = Vec::new();
    report::print_header();
    for (kind, query) in queries(first) {
        let path = format!("/api/v1/search?q={query}&limit=20");
        let found = connection
            .send(Method::GET, &path, Some(&owner), None)
            .await?
            .json(200, "search")?;
        let hits = found["items"].as_array().map_or(0, Vec::len);
        let plan: Arc<dyn Plan> = Arc::new(RoundRobinReads {
            token: owner.clone(),
            paths: vec![path.clone()],
        });
        let series =
            load::fixed_rate(&options.server, plan, options.connections, options.rate, duration).await?;
        report::print_row(
            &kind.chars().take(14).collect::<String>(),
            &series.latency,
            series.elapsed.as_secs_f64(),
        );
        let mut summary = series.summary();
        summary["query"] = json!(query);
        summary["first_page_hits"] = json!(hits);
        per_query.insert(kind.to_owned(), summary);
        all_paths.push(path);
    }
    let plan: Arc<dyn Plan> = Arc::new(RoundRobinReads {
        token: owner.clone(),
        paths: all_paths.clone(),
    });
    let mixed = load::fixed_rate(&options.server, plan, options.connections, options.rate, duration).await?;
    report::print_row("mix (owner)", &mixed.latency, mixed.elapsed.as_secs_f64());
    let plan: Arc<dyn Plan> = Arc::new(RoundRobinReads {
        token: member,
        paths: all_paths,
    });
    let one_project =
        load::fixed_rate(&options.server, plan, options.connections, options.rate, duration).await?;
    report::print_row(
        "mix (member)",
        &one_project.latency,
        one_project.elapsed.as_secs_f64(),
    );
    let result = json!({
        "scenario": "search",
        "messages": options.messages,
        "sources": options.sources,
        "projects": options.projects,
        "rate": options.rate,
        "seconds": options.seconds,
        "analyzed": analyzed,
        "mix_owner_of_all": mixed.summary(),
        "mix_member_of_one": one_project.summary(),
        "per_query": Value::Object(per_query),
    });
    println!("{result}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_has_its_own_word_and_common_words_come_first() {
        let words: std::collections::HashSet<_> = (0..VOCABULARY).map(word).collect();
        assert_eq!(words.len(), VOCABULARY);
        let mut draws = Words::new(7, zipf_cumulative());
        let common = (0..10_000).filter(|_| draws.rank() == 0).count();
        // 1/H(5000) ≈ 11 % of draws are the most common word.
        assert!((900..1300).contains(&common), "{common}");
    }
}
