//! The per-user job quota (`PRICETRACK_MAX_JOBS_PER_USER`).

use pricetrack_domain::UserId;
use pricetrack_domain::ports::PageRequest;

use crate::error::ApiError;
use crate::state::AppState;

/// Fails with 403 `job_limit_reached` when the user already has the most jobs allowed.
///
/// Counts by paging through the user's jobs (at most `limit / 100 + 1` reads, on job creation
/// only), so every job store answers it without a new port method. Two creations racing at the
/// limit may both pass: the quota bounds a user's jobs to about the limit, not exactly.
pub(crate) async fn ensure_room_for_a_job(state: &AppState, user_id: UserId) -> Result<(), ApiError> {
    let limit = state.settings.max_jobs_per_user;
    let mut counted: u64 = 0;
    let mut cursor = None;
    loop {
        let page = state.ports.jobs.list(user_id, &PageRequest { limit: PageRequest::MAX_LIMIT, cursor }).await?;
        counted += page.items.len() as u64;
        if counted >= u64::from(limit) {
            return Err(ApiError::JobLimitReached { limit });
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}
