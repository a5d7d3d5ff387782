//! What every handler shares.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::limiter::SignInLimiter;
use crate::password::Hasher;
use crate::session::Sessions;
use crate::{ApiPorts, ApiSettings};

/// The delivery stage's ports the API uses: channels, the delivery log, and the probe that
/// checks and tests channels.
#[derive(Clone)]
pub struct DeliveryPorts {
    /// Each user's channels.
    pub channels: std::sync::Arc<dyn pricetrack_domain::delivery::ChannelStore>,
    /// The delivery log.
    pub log: std::sync::Arc<dyn pricetrack_domain::delivery::DeliveryLog>,
    /// Checks channel addresses and sends test messages.
    pub probe: std::sync::Arc<dyn pricetrack_domain::delivery::ChannelProbe>,
}

/// Failed sign-ins allowed per account per [`SIGN_IN_WINDOW`].
pub(crate) const MAX_FAILED_SIGN_INS: u32 = 10;
/// The window over which failed sign-ins are counted.
pub(crate) const SIGN_IN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Shared state: settings, ports and the services built from them. Cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub(crate) struct Inner {
    pub(crate) settings: ApiSettings,
    pub(crate) ports: ApiPorts,
    pub(crate) sessions: Sessions,
    pub(crate) hasher: Hasher,
    pub(crate) limiter: SignInLimiter,
}

impl AppState {
    /// Builds the shared state.
    pub(crate) fn new(settings: ApiSettings, ports: ApiPorts) -> Self {
        let sessions = Sessions::new(&settings.jwt_secret, settings.session_ttl, settings.cookie_secure);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self(Arc::new(Inner {
            settings,
            ports,
            sessions,
            hasher: Hasher::new(cores),
            limiter: SignInLimiter::new(MAX_FAILED_SIGN_INS, SIGN_IN_WINDOW),
        }))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
