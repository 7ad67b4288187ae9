#' cometr: the R client for Comet
#'
#' Track machine-learning experiments from R: metrics, parameters, tags, output,
#' code, assets and artifacts, sent to Comet's service or to the embedded
#' [local_server()]. Logging calls return at once; a Rust core sends the data in
#' batches in the background, retries what fails, and flushes at [Experiment]
#' `$stop()` or when R exits.
#'
#' Configuration comes from function arguments, then environment variables, then
#' `.comet.yml` in the working directory, then `~/.comet.yml`: `COMET_API_KEY`,
#' `COMET_WORKSPACE`, `COMET_PROJECT_NAME`, `COMET_URL_OVERRIDE`,
#' `COMET_LOGGING_FILE` and `COMET_LOGGING_FILE_LEVEL`.
#'
#' Errors are conditions of class `cometr_error`, with the subclasses
#' `cometr_http_error` (fields `status`, `sdk_error_code`, `endpoint`),
#' `cometr_connection_error`, `cometr_config_error`, `cometr_input_error` and
#' `cometr_transfer_error`.
#'
#' @keywords internal
#' @useDynLib cometr, .registration = TRUE
#' @importFrom R6 R6Class
"_PACKAGE"
