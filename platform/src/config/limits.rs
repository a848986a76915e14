//! Rate limits and lockout as configured (`RATE_LIMIT_*`, `LOGIN_LOCKOUT_*`).

use std::time::Duration;

use super::parse;

/// A number of events allowed per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per window.
    pub max: i64,
    /// The window.
    pub window: Duration,
}

impl Rate {
    /// `COUNT/SECONDS`, both at least 1 (clap's parser for a rate).
    fn parse(raw: &str) -> Result<Self, String> {
        let (max, seconds) = raw
            .split_once('/')
            .ok_or_else(|| format!("{raw:?} does not look like COUNT/SECONDS (e.g. 30/60)"))?;
        let max: i64 = max.trim().parse().map_err(|_| format!("bad count in {raw:?}"))?;
        let seconds: u64 = seconds
            .trim()
            .parse()
            .map_err(|_| format!("bad seconds in {raw:?}"))?;
        if max < 1 || seconds < 1 {
            return Err("count and seconds must be at least 1".to_owned());
        }
        Ok(Self {
            max,
            window: Duration::from_secs(seconds),
        })
    }

    fn scaled(self, multiplier: f64) -> Self {
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
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct LimitsConfig {
    /// Scales every rate limit (not the lockout), for load tests that sign in
    /// often from one address.
    #[arg(long, env = "ZEKKA_RATE_LIMIT_MULTIPLIER", default_value = "1", value_parser = parse::positive)]
    pub multiplier: f64,
    /// Failed sign-ins per client address (COUNT/SECONDS).
    #[arg(long, env = "RATE_LIMIT_LOGIN_FAILURES", default_value = "20/900", value_parser = Rate::parse)]
    pub login_failures_per_ip: Rate,
    /// Registrations per client address.
    #[arg(long, env = "RATE_LIMIT_REGISTER", default_value = "30/60", value_parser = Rate::parse)]
    pub register_per_ip: Rate,
    /// Other auth calls (refresh, password reset, verification) per client address.
    #[arg(long, env = "RATE_LIMIT_AUTH", default_value = "60/60", value_parser = Rate::parse)]
    pub auth_per_ip: Rate,
    /// Writes per signed-in user.
    #[arg(long, env = "RATE_LIMIT_WRITES", default_value = "600/60", value_parser = Rate::parse)]
    pub writes_per_user: Rate,
    /// Failed sign-ins in a row that lock an account.
    #[arg(long, env = "LOGIN_LOCKOUT_THRESHOLD", default_value = "5", value_parser = parse::at_least::<u32, 1>)]
    pub lockout_threshold: u32,
    /// Seconds a locked account stays locked.
    #[arg(long, env = "LOGIN_LOCKOUT_SECONDS", default_value = "900", value_parser = parse::seconds::<1>)]
    pub lockout_duration: Duration,
}

impl LimitsConfig {
    /// The rate limits multiplied by [`LimitsConfig::multiplier`], once, after parsing.
    pub(super) fn scale_rates(&mut self) {
        let multiplier = self.multiplier;
        for rate in [
            &mut self.login_failures_per_ip,
            &mut self.register_per_ip,
            &mut self.auth_per_ip,
            &mut self.writes_per_user,
        ] {
            *rate = rate.scaled(multiplier);
        }
    }
}
