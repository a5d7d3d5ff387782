//! One reusable tab: a page in its own browser context, with the listeners that enforce the
//! guard and watch the network while a page renders.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::fetch::{ContinueRequestParams, EventRequestPaused, FailRequestParams};
use chromiumoxide::cdp::browser_protocol::network::{
    ErrorReason, EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent, EventResponseReceived, ResourceType,
    SetUserAgentOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::page::FrameId;
use futures::StreamExt;
use pricetrack_scraper::GuardError;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::guard::{RequestGuard, Verdict};

/// Most origins remembered per check for clearing their storage afterwards.
const MAX_ORIGINS: usize = 32;

/// The main document's response, as the network events reported it.
#[derive(Debug, Clone)]
pub(crate) struct DocumentResponse {
    pub(crate) frame_id: Option<FrameId>,
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
}

/// What the listeners saw during the current check. Reset before each check.
#[derive(Debug)]
pub(crate) struct Observed {
    /// The first refusal of a document request (a navigation or a frame), for the error message.
    pub(crate) document_refusal: Option<GuardError>,
    /// Requests refused by the guard, documents and sub-resources alike.
    pub(crate) refused_requests: u64,
    /// Redirects the documents of this check followed.
    pub(crate) document_redirects: usize,
    /// Requests sent and not yet finished.
    pub(crate) in_flight: HashSet<String>,
    /// The last time a request started or ended.
    pub(crate) last_activity: Instant,
    /// Document responses in arrival order.
    pub(crate) documents: Vec<DocumentResponse>,
    /// The origins documents were loaded from: their storage is cleared after the check.
    pub(crate) origins: BTreeSet<String>,
}

impl Observed {
    fn new() -> Self {
        Self {
            document_refusal: None,
            refused_requests: 0,
            document_redirects: 0,
            in_flight: HashSet::new(),
            last_activity: Instant::now(),
            documents: Vec::new(),
            origins: BTreeSet::new(),
        }
    }
}

/// State shared between a tab and its listener tasks.
#[derive(Debug)]
pub(crate) struct TabState {
    observed: Mutex<Observed>,
    max_redirects: usize,
    /// The tab's main frame: a refused document there fails the check, one in a frame does not.
    main_frame: Option<FrameId>,
}

impl TabState {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn reset(&self) {
        *self.lock() = Observed::new();
    }
}

/// A tab of the pool.
pub(crate) struct Tab {
    pub(crate) page: Page,
    pub(crate) context: BrowserContextId,
    /// The browser generation the tab belongs to (a restarted browser has a new one).
    pub(crate) generation: u64,
    pub(crate) state: Arc<TabState>,
    listeners: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Tab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tab").field("generation", &self.generation).finish_non_exhaustive()
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

impl Tab {
    /// Sets up a tab on `page` (a blank page in `context`): the user agent and the listeners.
    pub(crate) async fn open(
        page: Page,
        context: BrowserContextId,
        generation: u64,
        guard: RequestGuard,
        user_agent: &str,
        max_redirects: usize,
    ) -> Result<Self, chromiumoxide::error::CdpError> {
        page.set_user_agent(SetUserAgentOverrideParams::new(user_agent)).await?;
        let main_frame = page.mainframe().await?;
        let state = Arc::new(TabState { observed: Mutex::new(Observed::new()), max_redirects, main_frame });
        let mut listeners = Vec::new();
        listeners.push(intercept(&page, guard, Arc::clone(&state)).await?);
        listeners.push(watch_network(&page, Arc::clone(&state)).await?);
        Ok(Self { page, context, generation, state, listeners })
    }
}

/// Decides every paused request with the guard; records refusals and the main document's
/// redirects.
async fn intercept(
    page: &Page,
    guard: RequestGuard,
    state: Arc<TabState>,
) -> Result<JoinHandle<()>, chromiumoxide::error::CdpError> {
    let mut paused = page.event_listener::<EventRequestPaused>().await?;
    let page = page.clone();
    Ok(tokio::spawn(async move {
        while let Some(event) = paused.next().await {
            let page = page.clone();
            let guard = guard.clone();
            let state = Arc::clone(&state);
            // Decided concurrently: a slow DNS answer for one request must not hold the others.
            tokio::spawn(async move {
                let is_document = event.resource_type == ResourceType::Document
                    && state.main_frame.as_ref().is_none_or(|main| *main == event.frame_id);
                let mut verdict = guard.decide(&event.request.url, &event.resource_type).await;
                if is_document && event.redirected_request_id.is_some() && verdict == Verdict::Continue {
                    let mut observed = state.lock();
                    observed.document_redirects += 1;
                    if observed.document_redirects > state.max_redirects {
                        verdict = Verdict::Refuse(GuardError::TooManyRedirects);
                    }
                }
                let command = match verdict {
                    Verdict::Continue => page.execute(ContinueRequestParams::new(event.request_id.clone())).await.err(),
                    Verdict::Skip => page
                        .execute(FailRequestParams::new(event.request_id.clone(), ErrorReason::BlockedByClient))
                        .await
                        .err(),
                    Verdict::Refuse(refusal) => {
                        tracing::info!(error = %refusal, "browser request refused by the address guard");
                        {
                            let mut observed = state.lock();
                            observed.refused_requests += 1;
                            if is_document && observed.document_refusal.is_none() {
                                observed.document_refusal = Some(refusal);
                            }
                        }
                        page.execute(FailRequestParams::new(event.request_id.clone(), ErrorReason::BlockedByClient))
                            .await
                            .err()
                    }
                };
                if let Some(error) = command {
                    // The tab closed or the browser died meanwhile: the check fails on its own.
                    tracing::debug!(%error, "could not answer a paused request");
                }
            });
        }
    }))
}

/// Tracks requests in flight (for the network-quiet wait), document responses and origins.
async fn watch_network(page: &Page, state: Arc<TabState>) -> Result<JoinHandle<()>, chromiumoxide::error::CdpError> {
    let mut sent = page.event_listener::<EventRequestWillBeSent>().await?;
    let mut finished = page.event_listener::<EventLoadingFinished>().await?;
    let mut failed = page.event_listener::<EventLoadingFailed>().await?;
    let mut responses = page.event_listener::<EventResponseReceived>().await?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(event) = sent.next() => {
                    let mut observed = state.lock();
                    observed.in_flight.insert(event.request_id.inner().clone());
                    observed.last_activity = Instant::now();
                    if event.r#type == Some(ResourceType::Document)
                        && observed.origins.len() < MAX_ORIGINS
                        && let Ok(url) = url::Url::parse(&event.request.url)
                        && matches!(url.scheme(), "http" | "https")
                    {
                        observed.origins.insert(url.origin().ascii_serialization());
                    }
                }
                Some(event) = finished.next() => {
                    let mut observed = state.lock();
                    observed.in_flight.remove(event.request_id.inner());
                    observed.last_activity = Instant::now();
                }
                Some(event) = failed.next() => {
                    let mut observed = state.lock();
                    observed.in_flight.remove(event.request_id.inner());
                    observed.last_activity = Instant::now();
                }
                Some(event) = responses.next() => {
                    if event.r#type == ResourceType::Document {
                        let status = u16::try_from(event.response.status).unwrap_or(0);
                        let retry_after = header(event.response.headers.inner(), "retry-after");
                        state.lock().documents.push(DocumentResponse {
                            frame_id: event.frame_id.clone(),
                            status,
                            retry_after,
                        });
                    }
                }
                else => break,
            }
        }
    }))
}

/// A response header by case-insensitive name.
fn header(headers: &serde_json::Value, name: &str) -> Option<String> {
    headers.as_object()?.iter().find(|(key, _)| key.eq_ignore_ascii_case(name))?.1.as_str().map(str::to_owned)
}

/// Waits until no request has been in flight for `quiet`, or `max` has passed.
pub(crate) async fn wait_for_network_quiet(state: &TabState, quiet: Duration, max: Duration) {
    let give_up = Instant::now() + max;
    loop {
        let (idle, since) = {
            let observed = state.lock();
            (observed.in_flight.is_empty(), observed.last_activity)
        };
        let now = Instant::now();
        if (idle && now.duration_since(since) >= quiet) || now >= give_up {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
