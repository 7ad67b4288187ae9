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
#' Errors are conditions of class `cometr_error` that show the call you made
#' (for example ``Error in `exp$log_metric()` ``), with the subclasses
#' `cometr_http_error` (fields `status`, `sdk_error_code`, `endpoint`, and a class
#' `cometr_http_<status>` such as `cometr_http_404`), `cometr_parse_error`,
#' `cometr_connection_error`, `cometr_config_error`, `cometr_input_error` (field
#' `argument`), `cometr_transfer_error`, `cometr_offline_error`,
#' `cometr_server_error` and `cometr_experiment_ended_error`. Warnings are of class
#' `cometr_warning` (`cometr_delivery_warning`, with the subclasses
#' `cometr_file_changed_warning` for a logged file changed before it was sent and
#' `cometr_pending_warning` when a read goes ahead while logged data is still queued;
#' `cometr_config_warning`, ...).
#'
#' Informative messages (an experiment created, an artifact uploaded, an offline
#' archive saved, ...) are R messages built with the cli package, of class
#' `cometr_message`: `suppressMessages()` silences them. Transfers that take more
#' than about 2 seconds (artifact uploads and downloads, [upload_offline()],
#' [send_spool()]) show a cli progress bar in interactive sessions;
#' `options(cometr.progress = TRUE)` shows it in non-interactive ones too, `FALSE`
#' never.
#'
#' @keywords internal
#' @useDynLib cometr, .registration = TRUE
#' @importFrom R6 R6Class
"_PACKAGE"
