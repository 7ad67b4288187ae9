# A run that ends in an error is recorded the way Comet's SDK records an uncaught
# exception: before the experiment ends, it reports `write/experiment/update-status`
# with `hasCrashed` and the error's message (the experiment's metadata then shows
# `hasCrashed`, the state "crashed"). The report goes through the experiment's queue
# like any other write, so it is spooled, sent by send_spool() when the service cannot
# be reached, and kept in an offline archive's experiment.json (`customer_error_*`).
#
# Only a non-interactive R (Rscript, R -f, R CMD BATCH) ends on an error; an
# interactive session survives its errors, and so do its runs. There, R runs its
# `error` option for an error no handler caught (and for an interrupt), and halts
# unless that option is set. cometr's option, set when an experiment starts, notes
# the error, then does what R would have done without it: it runs the option it
# replaced (the user's own handler, evaluated as R does), and halts as R does
# ("Execution halted", status 1, no .Last) unless there was one. When the user's
# handler returns, R goes on with the script, and the run is not marked crashed.
# R then runs the exit finalizers, which end every open experiment: crashed.

crash <- new.env(parent = emptyenv())
# The error the session is ending with (a string), or NULL.
crash$message <- NULL
# What the global calling handler saw last: the text of an error or interrupt that no
# handler caught (NULL when consumed by the `error` option).
crash$signalled <- NULL
crash$handler <- FALSE

# Called when an experiment starts: watch for an error that ends the session.
watch_for_crash <- function() {
  if (interactive()) return(invisible())
  current <- getOption("error")
  if (!isTRUE(attr(current, "cometr_crash"))) options(error = crash_option(current))
  # The message of an interrupt (and the exact text of a condition) is known only to a
  # calling handler; R allows registering one only with no handler on the stack (not,
  # say, inside suppressMessages()), so it is tried again at the next experiment.
  if (!crash$handler) {
    crash$handler <- tryCatch({
      globalCallingHandlers(error = crash_signalled, interrupt = crash_signalled)
      TRUE
    }, error = function(e) FALSE)
  }
  invisible()
}

crash_signalled <- function(cnd) {
  crash$signalled <- if (inherits(cnd, "interrupt")) {
    "Interrupted (Ctrl-C or SIGINT)"
  } else {
    call <- conditionCall(cnd)
    msg <- conditionMessage(cnd)
    if (is.null(call)) paste0("Error: ", msg) else paste0("Error in ", deparse(call)[[1]], ": ", msg)
  }
}

# The `error` option that replaces `previous` (NULL, a call, or an expression).
crash_option <- function(previous) {
  run <- function() {
    crash$message <- substr(crash$signalled %||% sub("\n$", "", geterrmessage()), 1L, 10000L)
    crash$signalled <- NULL
    if (is.null(previous)) {
      cat("Execution halted\n", file = stderr())
      q("no", status = 1L, runLast = FALSE)
    }
    if (is.expression(previous)) {
      for (e in previous) eval(e, globalenv())
    } else {
      eval(previous, globalenv())
    }
    # The user's handler returned: R goes on with the script.
    crash$message <- NULL
  }
  structure(as.call(list(run)), cometr_crash = TRUE)
}

# Queue the crash report on the outbox `stream` of experiment `key`, when the session
# is ending in an error.
report_crash <- function(stream, key) {
  if (is.null(crash$message)) return(invisible())
  try(rust_experiment_rest(stream, "write/experiment/update-status", encode_body(list(
    experimentKey = key, isAlive = FALSE, error = crash$message, hasCrashed = TRUE
  ))), silent = TRUE)
  invisible()
}
