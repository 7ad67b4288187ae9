# Conditions: every error the package raises is a classed `cometr_error`, so users can
# catch a family (`cometr_http_error`) or everything from the package at once.

cometr_condition <- function(message, class, ..., call = NULL, type = "error") {
  structure(
    class = c(class, paste0("cometr_", type), type, "condition"),
    list(message = message, call = call, ...)
  )
}

cometr_abort <- function(message, class = NULL, ..., call = NULL) {
  log_message("ERROR", message)
  stop(cometr_condition(message, class, ..., call = call))
}

cometr_warn <- function(message, class = NULL, ...) {
  log_message("WARNING", message)
  warning(cometr_condition(message, class, ..., type = "warning"))
}

abort_input <- function(arg, problem) {
  cometr_abort(sprintf("`%s` %s", arg, problem), "cometr_input_error", argument = arg)
}

# TRUE/FALSE flags, checked the way cometr 0.4.0 words it.
check_flag <- function(x, name) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    cometr_abort(sprintf("%s must be either TRUE or FALSE.", name),
                 "cometr_input_error", argument = name)
  }
  invisible(x)
}

check_string <- function(x, name, null_ok = TRUE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is.character(x) || length(x) != 1L || is.na(x)) {
    abort_input(name, "must be a single string")
  }
  invisible(x)
}

`%||%` <- function(x, y) if (length(x) == 0L) y else x

drop_nulls <- function(x) x[!vapply(x, is.null, logical(1))]

# Secrets are redacted by construction: an API key held by an object is wrapped in a
# closure, so printing, formatting or str() of the object never shows it.
secret <- function(value) {
  force(value)
  structure(function() value, class = "cometr_secret")
}

reveal <- function(x) if (inherits(x, "cometr_secret")) x() else x

#' @export
format.cometr_secret <- function(x, ...) "<secret>"

#' @export
print.cometr_secret <- function(x, ...) {
  cat("<secret>\n")
  invisible(x)
}
