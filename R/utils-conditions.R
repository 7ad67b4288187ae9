# Conditions: every error the package raises is a classed `cometr_error`, so users can
# catch a family (`cometr_http_error`) or everything from the package at once, and
# every condition shows the call the user made (`exp$log_metric()`,
# `create_experiment()`), not the internal function that noticed the problem.
#
# Errors from the Rust side arrive in one shape (src/rust/src/result.rs):
# `list(ok = value)` or `list(err = list(kind, message, ...))`. rust_result() is the one
# place that unwraps it; the kind chooses the class.

# The classes below `cometr_error` of each kind of failure the Rust side reports.
# ("http" failures are worded here from the answer's body, see abort_http().)
# "1 file", "2 files": a count with its noun in the right number.
n_of <- function(n, singular, plural = paste0(singular, "s")) {
  n <- as.integer(n)
  sprintf("%d %s", n, if (identical(n, 1L)) singular else plural)
}

rust_error_classes <- list(
  input = "cometr_input_error",
  connection = c("cometr_connection_error", "cometr_transfer_error"),
  transfer = "cometr_transfer_error",
  offline = "cometr_offline_error",
  server = "cometr_server_error",
  spool = "cometr_spool_error",
  capture = "cometr_capture_error",
  ended = "cometr_experiment_ended_error"
)

# The value of a Rust call, or its failure raised as a classed condition. With
# `warn = TRUE` a failure is raised as a warning of class `cometr_<kind>_warning`
# instead (for what must not stop the caller), and the value is NULL.
rust_result <- function(x, warn = FALSE) {
  err <- .subset2(x, "err")
  if (is.null(err)) return(.subset2(x, "ok"))
  # Ctrl-C during a wait: the wait was dropped on the Rust side; R's own interrupt
  # condition follows, as for any interrupted R code.
  if (identical(err$kind, "interrupt")) rlang::interrupt()
  # A handler left a wait's "Waiting for ..." message by a jump (tryCatch(message = ));
  # the Rust side has let go of the wait, and the jump goes on from here.
  if (identical(err$kind, "jump")) .External(cometr_resume_jump)
  if (identical(err$kind, "http")) abort_http(err)
  fields <- err[setdiff(names(err), c("kind", "message"))]
  if (warn) {
    do.call(cometr_warn, c(list(err$message, paste0("cometr_", err$kind, "_warning")), fields))
    return(invisible(NULL))
  }
  do.call(cometr_abort, c(list(err$message, rust_error_classes[[err$kind]]), fields))
}

# An answer outside 200-299, worded as cometr 0.4.0 words it, with the server's own
# message or Comet's SDK error code where the body has one.
abort_http <- function(err) {
  parsed <- tryCatch(
    jsonlite::parse_json(rawToChar(err$body), simplifyVector = FALSE),
    error = function(e) NULL
  )
  code <- if (is.list(parsed)) parsed$sdk_error_code else NULL
  msg <- if (is.list(parsed)) parsed$msg else NULL
  inner <- if (identical(as.numeric(code), 624523)) {
    "Artifact not found"
  } else if (length(code) == 1L && as.numeric(code) %in% c(90402, 90403)) {
    "Artifact is not in a finalized state and cannot be accessed"
  } else if (is.character(msg) && length(msg) == 1L) {
    msg
  } else {
    sprintf("Comet API response status was not OK (%d)", err$status)
  }
  cometr_abort(
    sprintf("Error with Comet API response status: %s [HTTP %d from %s %s]",
            inner, err$status, err$method, err$endpoint),
    c(paste0("cometr_http_", err$status), "cometr_http_error"),
    status = err$status, sdk_error_code = code, endpoint = err$endpoint, response = parsed
  )
}

# The frame of the call the user made into the package: the outermost frame running a
# function of this namespace (an R6 method's environment has the namespace above it),
# or, when that is an R6 `initialize()`, the `$new()` call around it. NULL when no
# user call is on the stack (a finalizer).
user_frame <- function() {
  ns <- environment(user_frame)
  n <- sys.nframe() - 1L
  for (i in seq_len(n)) {
    env <- environment(sys.function(i))
    if (is.null(env) || !identical(topenv(env), ns)) next
    if (i > 1L) {
      outer <- environment(sys.function(i - 1L))
      if (!is.null(outer) && identical(environmentName(topenv(outer)), "R6")) {
        return(sys.frame(i - 1L))
      }
    }
    return(sys.frame(i))
  }
  NULL
}

# Errors are rlang errors (they print as `Error in `exp$log_metric()`: ! ...`), built
# with error_cnd() and raised with stop(): rlang::abort() would also record a backtrace,
# which costs milliseconds per error in deep stacks and which users rarely need here.
cometr_abort <- function(message, class = NULL, ..., call = user_frame()) {
  log_message("ERROR", message)
  if (is.environment(call)) call <- rlang::frame_call(call)
  stop(rlang::error_cnd(c(class, "cometr_error"), ..., message = message, call = call))
}

cometr_warn <- function(message, class = NULL, ..., call = user_frame()) {
  log_message("WARNING", message)
  if (is.environment(call)) call <- rlang::frame_call(call)
  warning(rlang::warning_cnd(c(class, "cometr_warning"), ..., message = message, call = call))
}

abort_input <- function(arg, problem) {
  cometr_abort(sprintf("`%s` %s", arg, problem), "cometr_input_error", argument = arg)
}

# Values shown in messages are shortened, so a huge input makes a short message.
show_value <- function(x, width = 60) {
  text <- tryCatch(paste(format(x), collapse = " "), error = function(e) class(x)[1])
  text <- enc2utf8(text)
  if (!validUTF8(text)) text <- iconv(text, "UTF-8", "UTF-8", sub = "?")
  if (nchar(text) > width) paste0(substr(text, 1, width), "...") else text
}

`%||%` <- function(x, y) if (length(x) == 0L) y else x

drop_nulls <- function(x) x[!vapply(x, is.null, logical(1))]
