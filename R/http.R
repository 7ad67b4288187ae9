# The R side of every request: build the URL, encode parameters, call the Rust client
# and turn its answer into parsed JSON or a classed condition.

# Query-string values: numbers never in scientific notation (step = 100000 goes out as
# 100000, not 1e+05), logicals as true/false.
query_value <- function(x, name) {
  if (length(x) != 1L || !is.atomic(x) || is.object(x) || is.complex(x) || is.raw(x)) {
    abort_input(name, "must be a single value in a query string")
  }
  if (is.na(x)) abort_input(name, "must not be NA in a query string")
  if (is.character(x)) check_text(x, name, 1e6)
  if (is.logical(x)) return(if (isTRUE(x)) "true" else "false")
  if (is.numeric(x)) {
    if (!is.finite(x)) abort_input(name, "must be a finite number")
    if (x == trunc(x) && abs(x) < 2^53) return(sprintf("%.0f", x))
    return(format(x, digits = 15, scientific = FALSE, trim = TRUE))
  }
  as.character(x)
}

encode_query <- function(params, arg = NULL) {
  params <- drop_nulls(params)
  nms <- names(params) %||% character()
  if (length(params) > 0L && (length(nms) != length(params) || any(!nzchar(nms)))) {
    abort_input(arg %||% "params", "must be a named list")
  }
  label <- function(n) if (is.null(arg)) n else sprintf("%s$%s", arg, n)
  vals <- vapply(seq_along(params), function(i) query_value(params[[i]], label(nms[[i]])),
                 character(1))
  list(names = as.character(nms), values = unname(vals))
}

# JSON bodies: NULL and empty entries dropped at the top level (as cometr 0.4.0 does),
# scalars unboxed, full numeric precision.
to_json <- function(x, arg = "params") {
  tryCatch(
    as.character(jsonlite::toJSON(x, auto_unbox = TRUE, digits = NA, null = "null",
                                  na = "null", force = TRUE)),
    error = function(e) abort_input(arg, paste("cannot be sent as JSON:", conditionMessage(e)))
  )
}

encode_body <- function(params) {
  keep <- vapply(params, function(p) length(p) > 0L, logical(1))
  params <- params[keep]
  if (length(params) == 0L) return("{}")
  to_json(params)
}

# How long a request keeps retrying transient failures (no answer, 429, 5xx), in
# seconds: option `cometr.retry_timeout`, else the COMET_RETRY_TIMEOUT configuration,
# else 60. 0 turns retries off.
retry_budget <- function() {
  value <- getOption("cometr.retry_timeout") %||% config_value("COMET_RETRY_TIMEOUT", quiet = TRUE)
  value <- suppressWarnings(as.numeric(value %||% 60))
  if (length(value) != 1L || is.na(value) || value < 0) 60 else value
}

# The longest one API request may take in all, retries included, in seconds: option
# `cometr.request_timeout`, else the retry budget or 120, whichever is longer. A server
# that trickles its answer a byte at a time must not hold the caller past every timeout.
# Uploads of files and asset downloads have none (a large file on a slow link takes long).
request_deadline <- function(retry = retry_budget()) {
  value <- suppressWarnings(as.numeric(getOption("cometr.request_timeout") %||% max(120, retry)))
  if (length(value) != 1L || is.na(value) || value <= 0) max(120, retry) else value
}

# The largest API answer read, in bytes: option `cometr.max_answer_size`, else 64 MiB.
# An answer is held whole in memory; a larger one is a `cometr_transfer_error`.
answer_cap <- function() {
  value <- suppressWarnings(as.numeric(getOption("cometr.max_answer_size") %||% (64 * 2^20)))
  if (length(value) != 1L || is.na(value) || value <= 0) 64 * 2^20 else value
}

# Reads see writes: before a read, send what this process has queued for the experiment
# `key` (all experiments when `key` is NULL: the reader cannot tell which it reads),
# whichever handle logged it. It waits at most the retry budget (or
# `cometr.flush_timeout`, if shorter); what is still pending then is said in a warning
# and the read goes ahead with what the server has.
send_queued <- function(key = NULL) {
  single <- is.character(key) && length(key) == 1L && !is.na(key)
  wait <- min(retry_budget(), getOption("cometr.flush_timeout", Inf))
  res <- rust_result(rust_experiment_send_queued(if (single) key else "", wait))
  if (!isTRUE(res$delivered)) {
    cometr_warn(sprintf(
      "%s%s could not be sent within %s seconds; this answer may not include them (they stay queued).",
      n_of(res$pending, "logged item"), if (single) paste(" of experiment", key) else "", format(wait)
    ), c("cometr_pending_warning", "cometr_delivery_warning"), pending = res$pending)
  }
  invisible(res)
}

# TLS certificate checks are on unless turned off explicitly, with the option
# `cometr.tls_verify = FALSE` or `COMET_INTERNAL_CHECK_TLS_CERTIFICATE: false`; turning
# them off warns (once per session).
apply_tls_setting <- function() {
  value <- getOption("cometr.tls_verify") %||%
    config_value("COMET_INTERNAL_CHECK_TLS_CERTIFICATE", quiet = TRUE)
  verify <- !(length(value) == 1L && toupper(as.character(value)) %in% c("FALSE", "0", "NO"))
  rust_result(rust_set_tls_verify(verify))
  if (!verify && !isTRUE(log_state$tls_warned)) {
    log_state$tls_warned <- TRUE
    cometr_warn("TLS certificate checks are turned off: connections to Comet are not protected against impersonation.",
                "cometr_tls_warning")
  }
  invisible(verify)
}

multipart_endpoints <- c("/write/experiment/upload-asset", "/write/experiment/git/patch")

# Send a request to the REST API (or, with `url`, anywhere) and return the answer
# (status, content type, body, headers); an answer outside 200-299 is an error. A read
# (`read = TRUE`) first sends what is queued for the experiment it names. `headers`: a
# named character vector of extra headers.
comet_http <- function(endpoint, method = "GET", params = list(), api_key = NULL,
                       url = NULL, body = NULL, gzip = FALSE, file = NULL, form = list(),
                       arg = NULL, read = method == "GET", headers = character(),
                       retry = retry_budget(), limit = NULL, max_answer = answer_cap()) {
  key <- api_key_value(api_key)
  if (read) send_queued(read_key(params))
  url <- url %||% rest_url(endpoint)
  multipart <- !is.null(file) || length(form) > 0L
  limit <- limit %||% if (is.null(file)) request_deadline(retry) else 0
  if (method == "GET" || multipart) {
    q <- encode_query(params, arg)
  } else {
    q <- list(names = character(), values = character())
    body <- body %||% encode_body(params)
  }
  form <- drop_nulls(form)
  apply_tls_setting()
  log_message("DEBUG", "Call to API endpoint ", endpoint)
  rust_result(rust_http(method, url, endpoint, key, q$names, q$values, body, gzip, multipart,
                        file, as.character(names(form)),
                        as.character(unlist(form, use.names = FALSE)),
                        as.character(names(headers)), unname(as.character(headers)),
                        retry, limit, max_answer))
}

is_json_type <- function(type) grepl("^application/([a-z.+-]*\\+)?json", tolower(type))

parse_json_body <- function(res, endpoint) {
  if (!is_json_type(res$content_type)) {
    cometr_abort(
      sprintf("Error parsing Comet API response: Comet API did not return json (%s) from %s",
              res$content_type, endpoint),
      c("cometr_parse_error", "cometr_http_error"),
      status = res$status, sdk_error_code = NULL, endpoint = endpoint
    )
  }
  # Inside the handler: a NUL byte makes rawToChar() fail, and that too is a bad answer.
  tryCatch(
    jsonlite::parse_json(answer_text(res$body), simplifyVector = FALSE),
    error = function(e) {
      cometr_abort(
        sprintf("Error parsing Comet API response from %s: %s", endpoint, conditionMessage(e)),
        c("cometr_parse_error", "cometr_http_error"),
        status = res$status, sdk_error_code = NULL, endpoint = endpoint
      )
    }
  )
}

# Parse an answer by its content type, as cometr 0.4.0's untyped replies were: JSON to
# a list, text to one string, anything else to a raw vector.
parse_by_type <- function(res, endpoint) {
  type <- tolower(res$content_type)
  if (is_json_type(type)) return(parse_json_body(res, endpoint))
  if (grepl("^text/", type)) {
    return(answer_string(res$body, endpoint, res$status))
  }
  res$body
}

answer_text <- function(body) {
  text <- rawToChar(body)
  Encoding(text) <- "UTF-8"
  text
}

# An answer's body as one string; one that cannot be (a NUL byte) is a parse error.
answer_string <- function(body, endpoint, status = 200L) {
  tryCatch(answer_text(body), error = function(e) {
    cometr_abort(
      sprintf("Error parsing Comet API response from %s: %s", endpoint, conditionMessage(e)),
      c("cometr_parse_error", "cometr_http_error"),
      status = status, sdk_error_code = NULL, endpoint = endpoint
    )
  })
}

# The one experiment a request concerns, or NULL when it names none or several.
read_key <- function(params) {
  key <- params[["experimentKey"]] %||% params[["targetedExperiments"]]
  if (is.list(key)) key <- unlist(key)
  if (is.character(key) && length(key) == 1L) key
}

comet_get <- function(endpoint, params = list(), api_key = NULL, read = TRUE) {
  parse_json_body(comet_http(endpoint, "GET", params, api_key, read = read), endpoint)
}

comet_post <- function(endpoint, params = list(), api_key = NULL, read = FALSE, ...) {
  parse_json_body(comet_http(endpoint, "POST", params, api_key, read = read, ...), endpoint)
}

# The response object call_api(parse_response = FALSE) returns: the fields of an HTTP
# answer, without the request (so no header can carry the key).
as_comet_response <- function(res, url) {
  headers <- as.list(res$header_values)
  names(headers) <- res$header_names
  structure(
    list(url = url, status_code = res$status, headers = headers,
         content_type = res$content_type, content = res$body),
    class = "cometr_response"
  )
}

#' @export
print.cometr_response <- function(x, ...) {
  # A download's content is the path of the file it was written to.
  saved <- is.character(x$content)
  size <- if (saved) file.size(x$content) else length(x$content)
  cat(sprintf("<cometr response> %s\n  Status: %d\n  Content-Type: %s\n  Size: %.0f B\n",
              x$url, x$status_code, x$content_type, size))
  if (saved) cat(sprintf("  Saved to: %s\n", x$content))
  invisible(x)
}
