//! The read side's shared state.

use std::sync::Arc;

use uuid::Uuid;
use zekka_event_store::consistency::{ConsistencyToken, ConsistencyWaits};
use zekka_event_store::database::ReadPool;
use zekka_event_store::personal_data::PersonalData;
use zekka_platform::Problem;

/// What every query handler shares.
pub struct QueryState {
    /// The read pool.
    pub pool: ReadPool,
    /// Waits for consistency tokens (bounded, holding no connection).
    pub waits: ConsistencyWaits,
    /// Opens personal data in events (audit routes, exports).
    pub personal: Arc<PersonalData>,
    /// File locks on the context bus (`GET /projects/{id}/locks`).
    pub locks: Arc<zekka_platform::locks::LockBus>,
    /// Where sources' bytes are kept (`GET /sources/{id}/content`).
    pub blobs: zekka_platform::blobs::Blobs,
    /// Matches of each kind a search ranks (`SEARCH_CANDIDATES`).
    pub search_candidates: i64,
}

impl QueryState {
    /// When the client sent a consistency token, waits until `projections`
    /// have applied it; `principal` is who reads (the person, or the one
    /// behind an API key), whose waits at once are capped.
    ///
    /// # Errors
    /// 400 for a token this server did not issue; 429 when the principal
    /// waits too often at once; 503 when the read models do not catch up
    /// in time.
    pub async fn catch_up(
        &self,
        principal: Uuid,
        token: Option<&str>,
        projections: &[&str],
    ) -> Result<(), Problem> {
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            return Ok(());
        };
        let token: ConsistencyToken = token.parse()?;
        Ok(self.waits.wait_for(principal, projections, token).await?)
    }
}
