//! An alert: the price of a job reached its target.

use serde::{Deserialize, Serialize};

use crate::{AlertId, JobId, Money, ProductUrl, TargetPrice, Timestamp, UserId};

/// One crossing of a job's target price. Published at least once; receivers de-duplicate on
/// [`Alert::id`], which stays the same across re-publications of the same crossing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique per crossing.
    pub id: AlertId,
    /// The job whose target was reached.
    pub job_id: JobId,
    /// Its owner.
    pub user_id: UserId,
    /// The product page.
    pub url: ProductUrl,
    /// The price found.
    pub price: Money,
    /// The job's target.
    pub target_price: TargetPrice,
    /// When the check ran.
    pub checked_at: Timestamp,
}
