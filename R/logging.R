# The internal log file. Whether logging is on is decided once per session (as in
# cometr 0.4.0); the Rust core writes the lines, redacting every API key it has seen.

log_state <- new.env(parent = emptyenv())

logging_enabled <- function() {
  if (is.null(log_state$enabled)) {
    # Reading the configuration can itself warn (and so log): decide "off" first.
    log_state$enabled <- FALSE
    log_state$enabled <- setup_logging()
  }
  log_state$enabled
}

setup_logging <- function() {
  # Quiet: a broken .comet.yml is reported by the lookup the user asked for.
  file <- config_value("COMET_LOGGING_FILE", quiet = TRUE)
  level <- config_value("COMET_LOGGING_FILE_LEVEL", quiet = TRUE)
  if (is.null(file) && is.null(level)) return(FALSE)
  if (is.null(file) || is.null(level)) {
    warning("You must set both `COMET_LOGGING_FILE` and `COMET_LOGGING_FILE_LEVEL` in order to log cometr activity.", call. = FALSE)
    return(FALSE)
  }
  if (!toupper(level) %in% c("DEBUG", "INFO", "WARNING", "ERROR")) {
    warning("`COMET_LOGGING_FILE_LEVEL` must be one of \"DEBUG\", \"INFO\", \"WARNING\", \"ERROR\".", call. = FALSE)
    return(FALSE)
  }
  file <- normalizePath(path.expand(file), mustWork = FALSE)
  if (!file.exists(file)) {
    # Created private (0600): the log names experiments, endpoints and errors.
    old_umask <- Sys.umask("077")
    created <- suppressWarnings(file.create(file))
    Sys.umask(old_umask)
    if (!created) {
      warning("Couldn't create log file ", file, call. = FALSE)
      return(FALSE)
    }
  }
  if (file.access(file, 2) != 0) {
    warning("Cannot write to log file ", file, call. = FALSE)
    return(FALSE)
  }
  rust_result(rust_log_configure(file, toupper(level)))
}

# Forget the session's logging decision, so the next message looks at the
# configuration again.
reset_logging <- function() {
  log_state$enabled <- NULL
  rust_result(rust_log_configure(NULL, "ERROR"))
  invisible()
}

log_message <- function(level, ...) {
  if (!isTRUE(logging_enabled())) return(invisible())
  # A line that cannot be written comes back as a value, not an error: raising it
  # would log it again.
  problem <- rust_result(rust_log_write(level, paste0(..., collapse = "")))
  if (!is.null(problem)) warning("Failed to write cometr to log: ", problem, call. = FALSE)
  invisible()
}

#' Disable cometr's internal logging
#'
#' Stops writing to the log file set by `COMET_LOGGING_FILE` for the rest of the R
#' session. Logging is otherwise on when both `COMET_LOGGING_FILE` and
#' `COMET_LOGGING_FILE_LEVEL` (one of `DEBUG`, `INFO`, `WARNING`, `ERROR`) are set.
#' API keys never appear in the log.
#'
#' @return `NULL`, invisibly.
#' @examples
#' disable_logging()
#' @export
disable_logging <- function() {
  log_state$enabled <- FALSE
  rust_result(rust_log_configure(NULL, "ERROR"))
  invisible(NULL)
}
