//! The one error a handler returns: an HTTP status, a message and, where Comet's
//! service has one, its `sdk_error_code`. `reply.rs` writes it in Comet's error shape.

/// Comet's `sdk_error_code`s the server answers with.
pub mod code {
    /// Unknown experiment key.
    pub const NO_EXPERIMENT: i64 = 90210;
    /// Missing or wrong API key.
    pub const BAD_API_KEY: i64 = 90212;
    /// A required workspace or project name is missing.
    pub const NO_PROJECT_NAME: i64 = 98219;
    /// An experiment with this key already exists.
    pub const EXPERIMENT_EXISTS: i64 = 90999;
    pub const ARTIFACT_NOT_FOUND: i64 = 624523;
    pub const ARTIFACT_NOT_FINAL: i64 = 90403;
    pub const VERSION_EXISTS: i64 = 90399;
    pub const BAD_VERSION: i64 = 42001;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub sdk_error_code: Option<i64>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>, sdk_error_code: Option<i64>) -> Self {
        ApiError {
            status,
            message: message.into(),
            sdk_error_code,
        }
    }

    /// Comet answers most client mistakes with 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, message, None)
    }

    pub fn bad_request_code(message: impl Into<String>, code: i64) -> Self {
        ApiError::new(400, message, Some(code))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, message, None)
    }

    pub fn unknown_experiment(key: &str) -> Self {
        ApiError::bad_request_code(format!("Experiment {key} not found"), code::NO_EXPERIMENT)
    }

    /// The store's lock was poisoned by a panicking handler.
    pub fn storage_unavailable() -> Self {
        ApiError::internal("local server storage is unavailable")
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(format!("local server storage error: {e}"))
    }
}
