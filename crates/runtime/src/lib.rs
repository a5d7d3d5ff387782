//! Process plumbing shared by every pricetrack program (`pricetrack`, `api`, `scraper`,
//! `rescheduler`): how a shutdown signal reaches the components, and back-off (logging and traces
//! start in `pricetrack-telemetry`).

pub mod backoff;

use tokio_util::sync::CancellationToken;

/// Completes on SIGTERM or Ctrl-C (SIGINT). If a signal cannot be listened for, that one is
/// logged and the other still counts.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received: finishing in-flight work");
}

/// A token cancelled on SIGTERM or Ctrl-C. Call inside a Tokio runtime.
pub fn cancel_on_shutdown() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    token
}
