//! `trainer serve`: AutoML Vision's v1beta1 `predict` API on a local address, so code written
//! for AutoML (Google's client libraries included) can call a local model instead.
//!
//! - `POST /v1beta1/projects/{project}/locations/{location}/models/{model}:predict` takes
//!   AutoML's request body and returns AutoML's response body.
//! - `POST .../models/{model}:batchPredictImages` is the batch form (this server's own, in
//!   the same style): `{"payloads": [{"image": {...}}, ...], "params": {...}}` gives
//!   `{"responses": [<one PredictResponse per image>]}`.
//! - `GET /healthz` says the server is up and which models it serves.
//!
//! Errors are JSON in Google's API error shape (`{"error": {"code", "message", "status"}}`)
//! with a 4xx status, never a dropped connection. Inference runs on blocking threads, at most
//! `max_concurrent_inferences` at once; other requests wait their turn.

pub mod automl;

use automl::{BatchPredictRequest, ExamplePayload, PredictRequest, PredictResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A model the server can run: 28x28 Fashion-MNIST-style images in, class probabilities out.
pub trait ImageClassifier: Send + Sync + 'static {
    fn class_names(&self) -> &[String];
    /// One probability row per image, in order.
    fn classify(&self, images: &[images::Pixels]) -> Result<Vec<Vec<f32>>, String>;
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Most images in one batch request.
    pub max_batch: usize,
    /// Inferences running at once; the rest queue.
    pub max_concurrent_inferences: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            // AutoML's own limit for an online prediction request is 1.5 MB of image; base64
            // and a batch need more room.
            body_limit: 32 * 1024 * 1024,
            max_batch: 256,
            max_concurrent_inferences: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot listen on {addr}: {source} (is another server using the port? pick another with --addr)"
    )]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

struct AppState {
    models: HashMap<String, Arc<dyn ImageClassifier>>,
    permits: Arc<Semaphore>,
    options: ServeOptions,
}

/// The routes, for a server or a test.
pub fn router(models: HashMap<String, Arc<dyn ImageClassifier>>, options: ServeOptions) -> Router {
    let state = Arc::new(AppState {
        models,
        permits: Arc::new(Semaphore::new(options.max_concurrent_inferences.max(1))),
        options: options.clone(),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/v1beta1/projects/{project}/locations/{location}/models/{call}",
            post(model_call),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(options.body_limit))
        .with_state(state)
}

/// Binds `addr`, calls `on_listening` with the bound address (port 0 picks a free port) and
/// serves until Ctrl-C.
pub fn run(
    addr: &str,
    models: HashMap<String, Arc<dyn ImageClassifier>>,
    options: ServeOptions,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        on_listening(listener.local_addr()?);
        axum::serve(listener, router(models, options))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}

/// An error response in Google's API shape.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status_name = match self.status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "INVALID_ARGUMENT",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "INVALID_ARGUMENT",
            _ => "INTERNAL",
        };
        let body = serde_json::json!({
            "error": {
                "code": self.status.as_u16(),
                "message": self.message,
                "status": status_name,
            }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let mut models: Vec<&String> = state.models.keys().collect();
    models.sort();
    axum::Json(serde_json::json!({"status": "ok", "models": models})).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route: POST /v1beta1/projects/local/locations/local/models/NAME:predict, \
         POST .../models/NAME:batchPredictImages and GET /healthz are served",
    )
}

async fn model_call(
    State(state): State<Arc<AppState>>,
    Path((_project, _location, call)): Path<(String, String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (name, method) = call.rsplit_once(':').ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no method in {call:?}: call models/NAME:predict"),
        )
    })?;
    let model = state.models.get(name).cloned().ok_or_else(|| {
        let mut served: Vec<&String> = state.models.keys().collect();
        served.sort();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("model {name:?} is not served here (serving: {served:?})"),
        )
    })?;
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!("could not read the request body: {}", rejection.body_text()),
        )
    })?;
    match method {
        "predict" => {
            let request: PredictRequest = parse_json(&body)?;
            let threshold =
                automl::score_threshold(&request.params).map_err(ApiError::bad_request)?;
            let payload = request
                .payload
                .ok_or_else(|| ApiError::bad_request("the request has no payload: send {\"payload\": {\"image\": {\"imageBytes\": \"<base64>\"}}}"))?;
            let image = decode_payload(&payload, "payload")?;
            let mut responses = classify(&state, model, vec![image], threshold).await?;
            Ok(axum::Json(responses.remove(0)).into_response())
        }
        "batchPredictImages" => {
            let request: BatchPredictRequest = parse_json(&body)?;
            let threshold =
                automl::score_threshold(&request.params).map_err(ApiError::bad_request)?;
            if request.payloads.is_empty() {
                return Err(ApiError::bad_request(
                    "the request has no payloads: send {\"payloads\": [{\"image\": {\"imageBytes\": \"<base64>\"}}, ...]}",
                ));
            }
            if request.payloads.len() > state.options.max_batch {
                return Err(ApiError::bad_request(format!(
                    "{} images in one batch; the limit is {}",
                    request.payloads.len(),
                    state.options.max_batch
                )));
            }
            let images = request
                .payloads
                .iter()
                .enumerate()
                .map(|(i, p)| decode_payload(p, &format!("payloads[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let responses = classify(&state, model, images, threshold).await?;
            Ok(axum::Json(automl::BatchPredictResponse { responses }).into_response())
        }
        other => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown method {other:?}: use :predict or :batchPredictImages"),
        )),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request body is not the expected JSON: {e}"))
    })
}

fn decode_payload(payload: &ExamplePayload, what: &str) -> Result<images::Pixels, ApiError> {
    let encoded = payload
        .image
        .as_ref()
        .and_then(|i| i.image_bytes.as_deref())
        .ok_or_else(|| ApiError::bad_request(format!("{what} has no image.imageBytes")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
        .map_err(|e| {
            ApiError::bad_request(format!("{what}.image.imageBytes is not base64: {e}"))
        })?;
    images::prepare(&bytes)
        .map(|p| p.pixels)
        .map_err(|e| ApiError::bad_request(format!("{what}.image.imageBytes: {e}")))
}

/// Runs the model off the async threads, within the concurrency bound.
async fn classify(
    state: &AppState,
    model: Arc<dyn ImageClassifier>,
    images: Vec<images::Pixels>,
    threshold: f64,
) -> Result<Vec<PredictResponse>, ApiError> {
    let permit = state.permits.clone().acquire_owned().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
    })?;
    let rows = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let rows = model.classify(&images);
        (model, rows)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {e}"),
        )
    })?;
    let (model, rows) = rows;
    let rows = rows.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {e}"),
        )
    })?;
    Ok(rows
        .iter()
        .map(|p| automl::response(model.class_names(), p, threshold, BTreeMap::new()))
        .collect())
}
