//! Rate limits and lockout as configured (`RATE_LIMIT_*`, `LOGIN_LOCKOUT_*`).

use super::*;

/// A number of events allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per window.
    pub max: i64,
    /// The window.
    pub window: Duration,
}

impl Rate {
    pub(super) fn parse(name: &str, raw: &str) -> Result<Self> {
        let (max, seconds) = raw
            .split_once('/')
            .with_context(|| format!("{name} must look like COUNT/SECONDS (e.g. 30/60), got {raw:?}"))?;
        let max: i64 = max
            .trim()
            .parse()
            .with_context(|| format!("{name}: bad count in {raw:?}"))?;
        let seconds: u64 = seconds
            .trim()
            .parse()
            .with_context(|| format!("{name}: bad seconds in {raw:?}"))?;
        anyhow::ensure!(
            max >= 1 && seconds >= 1,
            "{name}: count and seconds must be at least 1"
        );
        Ok(Self {
            max,
            window: Duration::from_secs(seconds),
        })
    }

    pub(super) fn scaled(self, multiplier: f64) -> Self {
        // Rounded and at least 1; the limits are small integers, so the float
        // never loses anything that matters.
        let max = ((self.max as f64) * multiplier).round().max(1.0);
        Self {
            max: if max >= i64::MAX as f64 {
                i64::MAX
            } else {
                max as i64
            },
            window: self.window,
        }
    }
}

/// Rate limits (scaled by `ZEKKA_RATE_LIMIT_MULTIPLIER`) and the account lockout (not scaled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitsConfig {
    /// `ZEKKA_RATE_LIMIT_MULTIPLIER`: scales every rate limit (not the
    /// lockout), for load tests that sign in often from one address. Default 1.
    pub multiplier: f64,
    /// `RATE_LIMIT_LOGIN_FAILURES`: failed sign-ins per client address. Default 20/900.
    pub login_failures_per_ip: Rate,
    /// `RATE_LIMIT_REGISTER`: registrations per client address. Default 30/60.
    pub register_per_ip: Rate,
    /// `RATE_LIMIT_AUTH`: other auth calls (refresh, password reset,
    /// verification) per client address. Default 60/60.
    pub auth_per_ip: Rate,
    /// `RATE_LIMIT_WRITES`: writes per signed-in user. Default 600/60.
    pub writes_per_user: Rate,
    /// `LOGIN_LOCKOUT_THRESHOLD`: failed sign-ins in a row that lock an account. Default 5.
    pub lockout_threshold: u32,
    /// `LOGIN_LOCKOUT_SECONDS`: how long a locked account stays locked. Default 900.
    pub lockout_duration: Duration,
}
