//! `facecore serve`: face recognition as an HTTP/JSON service.
//!
//! A [`Server`] puts a [`facecore::FacePipeline`] and a [`GalleryStore`] (a gallery file, or
//! PostgreSQL with the `postgres` feature) behind an axum router: detect, identify, verify,
//! enrol and manage people, health, Prometheus metrics and the OpenAPI document. Inference
//! runs on a fixed pool of threads behind a bounded queue ([`pool`]); every error is a JSON
//! body with a stable code ([`error`]). The contract is in `docs/openapi.json` and
//! `docs/service.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use facecore::{FacePipeline, Preset, store::FileStore};
//! use facecore_server::{Options, Server};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pipeline = FacePipeline::from_preset(Preset::Fast)?;
//! let store = Arc::new(FileStore::open("people.fcg", None)?);
//! let server = Server::new(pipeline, store, None, Options::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod api;
pub mod auth;
pub mod bench;
mod cli;
pub mod error;
mod metrics;
mod openapi;
pub mod pool;

use std::future::Future;
use std::sync::Arc;

use facecore::FacePipeline;
use facecore::store::GalleryStore;

pub use crate::api::{MAX_ITEMS, MAX_PAGE, Options, ROUTES};
pub use crate::auth::ApiKeys;
pub use crate::cli::{ServeArgs, open_store, run};
pub use crate::error::ApiError;
pub use crate::openapi::document as openapi_document;

/// A configured service: pipeline, store, keys, inference pool.
pub struct Server {
    state: Arc<api::AppState>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("pool", &self.state.pool).finish_non_exhaustive()
    }
}

impl Server {
    /// A server over `pipeline` and `store`; `keys` (none = no authentication) and `options`.
    /// Starts the inference threads and embeds one synthetic face (building the networks'
    /// plans before the first request).
    ///
    /// # Errors
    /// A store holding another embedding space than the pipeline's, an operating point
    /// without a threshold for that space, a store failure, or threads that cannot start.
    pub fn new(pipeline: FacePipeline, store: Arc<dyn GalleryStore>, keys: Option<ApiKeys>, options: Options) -> Result<Server, String> {
        Ok(Server { state: Arc::new(api::AppState::new(pipeline, store, keys, options)?) })
    }

    /// The router (to nest in an application, or to serve with other settings).
    pub fn router(&self) -> axum::Router {
        api::router(Arc::clone(&self.state))
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting connections and
    /// finishes the requests in flight before returning.
    ///
    /// # Errors
    /// I/O errors of the listener.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let out = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await;
        self.state.pool.close();
        out
    }

    /// Jobs queued or running on the inference pool.
    pub fn queue_depth(&self) -> usize {
        self.state.pool.depth()
    }
}
