//! The one way a jxc process is told to stop: SIGINT (Ctrl-C) or SIGTERM
//! (systemd, `kill`).

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on SIGINT or SIGTERM. A handler that cannot be installed (only
/// when the process is out of resources) is logged, and the process then
/// stops on the other signal alone rather than at once or never.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT; stopping on SIGTERM only");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; stopping on SIGINT only");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{Signal, raise};
    use std::time::Duration;

    #[tokio::test]
    async fn sigterm_resolves_it_and_the_process_lives_on() {
        // Registered first so a SIGTERM raised before the function's own
        // listener exists is caught, not the end of the test process.
        let _guard = signal(SignalKind::terminate()).unwrap();
        let stopped = tokio::spawn(shutdown_signal());
        let raised = async {
            while !stopped.is_finished() {
                raise(Signal::SIGTERM).unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), raised)
            .await
            .expect("shutdown_signal resolves on SIGTERM");
    }
}
