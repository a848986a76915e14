//! Password hashing with argon2id (OWASP's parameters: m=19 MiB, t=2, p=1),
//! always on the blocking thread pool: a hash takes tens of milliseconds of
//! CPU and must never stall the async runtime. At most one hash per core but
//! one runs at a time (`PASSWORD_HASH_CONCURRENCY`), so a burst of sign-ins
//! queues instead of starving every other request of CPU.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tracing::Instrument;
use zekka_domain::user::Password;

/// A hash of a password nobody has, verified when an email is unknown so a
/// failed sign-in takes as long whether or not the account exists.
static DECOY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"zekka decoy password, never valid")
        .ok()
        .map(|hash| hash.to_string())
});

/// Hashes allowed at once: one core is always left to everything else.
fn configured_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    std::env::var("PASSWORD_HASH_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or_else(|| cores.saturating_sub(1))
        .max(1)
}

static HASH_SLOTS: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(configured_slots()));

/// Hashes running now, and the most ever seen running at once.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts one running hash for as long as it lives (a cancelled request
/// still gives its count back).
struct Running;

impl Running {
    fn start() -> Self {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        MOST_RUNNING.fetch_max(now, Ordering::SeqCst);
        Self
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn with_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The semaphore is never closed, so acquiring only waits.
    let _slot = HASH_SLOTS.acquire().await;
    let _running = Running::start();
    tokio::task::spawn_blocking(work).await
}

/// Why hashing failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 refused the input.
    #[error("failed to hash the password: {0}")]
    Hash(String),
    /// The blocking task did not complete.
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes a password into a PHC string (`$argon2id$v=19$…`), salt included.
///
/// # Errors
/// When argon2 fails or the blocking task is cancelled.
pub async fn hash(password: Password) -> Result<String, HashError> {
    crate::metrics::METRICS
        .password_hashes
        .with_label_values(&["hash"])
        .inc();
    let span = tracing::info_span!("argon2_hash");
    with_slot(move || {
        let _entered = span.enter();
        Argon2::default()
            .hash_password(password.expose())
            .map(|hash| hash.to_string())
            .map_err(|e| HashError::Hash(e.to_string()))
    })
    .await?
}

/// Whether `password` matches `phc`. With no hash (an unknown account) a decoy
/// is checked instead, to spend the same time, and the answer is `false`.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    crate::metrics::METRICS
        .password_hashes
        .with_label_values(&["verify"])
        .inc();
    let known = phc.is_some();
    let span = tracing::info_span!("argon2_verify");
    let checked = with_slot(move || {
        let Some(phc) = phc.or_else(|| DECOY_HASH.clone()) else {
            return false;
        };
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .instrument(tracing::Span::current())
    .await;
    drop(span);
    known && checked.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let password = Password::parse("correct horse battery").expect("policy");
        let phc = hash(password).await.expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(phc)).await);
    }

    #[tokio::test]
    async fn hashes_use_at_least_owasps_argon2id_parameters() {
        let phc = hash(Password::parse("correct horse battery").expect("policy"))
            .await
            .expect("hash");
        let parsed = PasswordHash::new(&phc).expect("PHC string");
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let param = |name: &str| {
            parsed
                .params
                .get_decimal(name)
                .unwrap_or_else(|| panic!("{name} in {phc}"))
        };
        assert!(param("m") >= 19_456, "{phc}");
        assert!(param("t") >= 2, "{phc}");
        assert!(param("p") >= 1, "{phc}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_slots() {
        let hashes: Vec<_> = (0..8)
            .map(|_| tokio::spawn(hash(Password::parse("correct horse battery").expect("policy"))))
            .collect();
        for hash in hashes {
            hash.await.expect("task").expect("hash");
        }
        let most = MOST_RUNNING.load(Ordering::SeqCst);
        assert!(most >= 1, "hashes ran");
        assert!(
            most <= configured_slots(),
            "{most} hashes ran at once with {} slots",
            configured_slots()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("zekka decoy password, never valid".into(), None).await);
    }
}
