//! The one error shape of the API, `{"error": {"code": "...", "message": "..."}}`, and the one
//! place where [`facecore::Error`] variants become HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: status, a stable machine-readable code and a message for humans.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code (`bad_request`, `unsupported_media_type`, `no_face`, ...): see
    /// docs/service.md, "API".
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// Seconds a client should wait before retrying (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with no `Retry-After`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such person (or route).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request collided with a concurrent change.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413: the body or the image is over a limit.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }

    /// 415: a content type this endpoint does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
    }

    /// 422: the image holds no face.
    pub fn no_face(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no_face", message)
    }

    /// 422: embeddings of another space than the server's.
    pub fn foreign_space(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "foreign_embedding_space", message)
    }

    /// 401: no or an unknown API key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 429: the work queue is full.
    pub fn queue_full(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", "the work queue is full; retry later")
        }
    }

    /// 503: the server cannot take work (timed out, shutting down).
    pub fn unavailable(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        ApiError { retry_after: Some(retry_after), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

/// The full message of an error with its causes.
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

impl From<facecore::Error> for ApiError {
    /// The mapping of every facecore error to a status (docs/service.md, "API").
    fn from(e: facecore::Error) -> Self {
        use facecore::Error as E;
        let message = chain(&e);
        let (status, code) = match &e {
            E::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            E::ImageDecode { .. } => (StatusCode::BAD_REQUEST, "bad_image"),
            E::LimitExceeded { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            E::ModelMismatch { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "foreign_embedding_space"),
            E::LowQuality { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "low_quality"),
            E::DegenerateFace { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "degenerate_face"),
            // The store (a gallery file, its key, the disk, the database): the server's side.
            E::Gallery { .. } | E::Key { .. } | E::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "store"),
            E::ModelLoad { .. } | E::Inference { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "inference"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // Metrics read the code back from the response.
        r.extensions_mut().insert(ErrorCode(self.code));
        r
    }
}

/// The error code of a response, for the metrics layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub &'static str);
