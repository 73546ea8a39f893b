//! Starting and stopping the service, the same way for `kbsearch serve` and `kbsearch preview`.
//! It listens at once (so `/healthz` answers) while the live indexer brings the index up to date
//! on its own thread; the service is ready when the first searcher is published, and follows the
//! content folder from then on. Connections are taken by `connections::serve`, with the limits
//! of `[limits]`. On Ctrl-C or SIGTERM it stops taking requests, ends the preview's live-reload
//! streams, lets answers under way finish, commits what the indexer has queued and writes the
//! last events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tracing::{info, warn};

use super::connections::{ConnectionLimits, serve};
use super::{AppState, preview_router, router};
use crate::config::{Config, WatchOptions};
use crate::events::{EventStore, PgEventStore, SqliteEventStore, StoreError};
use crate::ingest::indexer::IndexOptions;
use crate::ingest::live::{LiveIndex, LiveOptions};
use crate::ingest::progress::Progress;
use crate::semantic::{Embedder, ModelError, Semantic, VECTORS_DIR};

/// Quiet time before a saved file is shown in the preview: shorter than the service's, since one
/// writer saves one file at a time.
const PREVIEW_DEBOUNCE: Duration = Duration::from_millis(100);

/// Which service to run over the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The production service: published articles for each caller's audience.
    Serve,
    /// The writers' preview: drafts and every visibility level, live reload, problems and ranks;
    /// no result cache, since every save changes the results.
    Preview,
}

impl Mode {
    /// What to try when the address is taken: the preview picks its port with `--port`.
    fn listen_hint(self) -> &'static str {
        match self {
            Mode::Serve => "",
            Mode::Preview => " (try --port)",
        }
    }
}

/// Why the service could not start, or did not stop cleanly.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot listen on {address}{}", mode.listen_hint())]
    Listen {
        address: SocketAddr,
        mode: Mode,
        #[source]
        error: std::io::Error,
    },
    #[error("opening the event store")]
    Events(#[source] StoreError),
    #[error("starting the indexer thread")]
    Indexer(#[source] std::io::Error),
    #[error("stopping the indexer")]
    Stop(#[source] tokio::task::JoinError),
    #[error("loading the semantic model")]
    Model(#[source] ModelError),
    #[error("starting the embedder thread")]
    Embedder(#[source] std::io::Error),
}

/// A service that listens and indexes, not yet answering requests: [`Service::run`] serves.
pub struct Service {
    mode: Mode,
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    live: LiveIndex,
    embedder: Option<Embedder>,
    events: Arc<dyn EventStore>,
    /// Turned true at shutdown, so the preview's event streams end and do not hold up the exit.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Service {
    /// Listens on the configured address, opens the event store and starts the live indexer,
    /// whose start-up reconcile reports to `progress`.
    pub async fn start(
        config: Config,
        mode: Mode,
        progress: Box<dyn Progress + Send>,
    ) -> Result<Service, StartError> {
        let configured = config.bind_addr();
        let listener = TcpListener::bind(configured)
            .await
            .map_err(|error| StartError::Listen {
                address: configured,
                mode,
                error,
            })?;
        let address = listener.local_addr().unwrap_or(configured);
        let options = LiveOptions {
            index: IndexOptions {
                max_file_bytes: config.max_file_bytes,
                ..IndexOptions::new(&config.kb, &config.index)
            },
            watch: match mode {
                Mode::Serve => config.watch.options(),
                Mode::Preview => WatchOptions {
                    debounce: PREVIEW_DEBOUNCE,
                    ..config.watch.options()
                },
            },
            reconcile_every: config.watch.reconcile_every(),
        };
        let events: Arc<dyn EventStore> = match &config.events.url {
            Some(url) => Arc::new(
                PgEventStore::open(url.expose(), &config.events)
                    .await
                    .map_err(StartError::Events)?,
            ),
            None => Arc::new(
                SqliteEventStore::open_configured(&config.data, &config.events)
                    .map_err(StartError::Events)?,
            ),
        };
        // The model loads before the indexer starts (a few tenths of a second, off the runtime);
        // its vectors come later, in the background.
        let semantic = match config.semantic.model.clone() {
            Some(model) => {
                let cache = config.index.join(VECTORS_DIR);
                let semantic =
                    tokio::task::spawn_blocking(move || Semantic::open(&model, Some(&cache)))
                        .await
                        .map_err(StartError::Stop)?
                        .map_err(StartError::Model)?;
                let status = semantic.status();
                info!(model = %status.model, id = %status.model_id, dimensions = status.dimensions, "semantic model loaded");
                Some(Arc::new(semantic))
            }
            None => None,
        };
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let mut serving = AppState::new(config)
            .with_events(events.clone())
            .with_stopping(stopping);
        let embedder = match &semantic {
            Some(semantic) => {
                let embedder = Embedder::start(semantic.clone()).map_err(StartError::Embedder)?;
                serving = serving.with_semantic(semantic.clone(), Some(embedder.handle()));
                Some(embedder)
            }
            None => None,
        };
        let state = match mode {
            Mode::Serve => serving,
            Mode::Preview => serving.for_preview(),
        };
        let publisher = state.clone();
        let live = LiveIndex::start(options, progress, move |published| {
            publisher.publish(published)
        })
        .map_err(StartError::Indexer)?;
        let service = Service {
            mode,
            listener,
            address,
            state: state.with_live(live.handle()),
            live,
            embedder,
            events,
            stop,
        };
        match mode {
            Mode::Serve => info!(%address, "listening on {}", service.url()),
            Mode::Preview => info!(
                %address,
                "preview on {} (drafts and internal articles shown)",
                service.url()
            ),
        }
        Ok(service)
    }

    /// Where to open the service in a browser: the search page, or the preview's article list.
    pub fn url(&self) -> String {
        match self.mode {
            Mode::Serve => format!("http://{}/", self.address),
            Mode::Preview => format!("http://{}/preview", self.address),
        }
    }

    /// Serves until Ctrl-C or SIGTERM, then commits what the indexer has queued and writes the
    /// last events.
    pub async fn run(self) -> Result<(), StartError> {
        let limits = ConnectionLimits::from_config(&self.state.config.limits);
        let app = match self.mode {
            Mode::Serve => router(self.state),
            Mode::Preview => preview_router(self.state),
        };
        let stop = self.stop;
        serve(self.listener, app, limits, async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await;
        // Commits what is queued and waits for merges, off the async runtime.
        let live = self.live;
        let embedder = self.embedder;
        tokio::task::spawn_blocking(move || {
            live.shutdown();
            if let Some(embedder) = embedder {
                embedder.shutdown();
            }
        })
        .await
        .map_err(StartError::Stop)?;
        if let Err(err) = self.events.flush().await {
            warn!("writing the last search events: {err}");
        }
        Ok(())
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down");
}
