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
  if (!is.logical(x) || length(x) != 1L || is.na(x) || is.object(x)) {
    cometr_abort(sprintf("%s must be either TRUE or FALSE.", name),
                 "cometr_input_error", argument = name)
  }
  invisible(x)
}

# A single string of valid UTF-8 text. Names, keys, paths and the like are limited to
# `max_chars` characters; content (HTML, code, values) passes `max_chars = Inf`.
check_string <- function(x, name, null_ok = TRUE, max_chars = 10000) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is.character(x) || length(x) != 1L || is.na(x) || is.object(x)) {
    abort_input(name, "must be a single string")
  }
  check_text(x, name, max_chars)
  invisible(x)
}

# Strings reach the Rust core, which needs valid UTF-8; very long identifiers are
# refused before they reach a regular expression or a file system call.
check_text <- function(x, name, max_chars = Inf) {
  # Strings marked latin1 convert cleanly; anything else must already be UTF-8
  # (converting invalid bytes would only hide them behind <xx> escapes).
  enc <- Encoding(x)
  if (!all(enc == "latin1" | (enc != "bytes" & validUTF8(x)))) {
    abort_input(name, "must be valid UTF-8 text")
  }
  x <- enc2utf8(x)
  if (is.finite(max_chars) && any(nchar(x, type = "bytes") > max_chars)) {
    abort_input(name, sprintf("is too long (more than %s characters)", format(max_chars)))
  }
  invisible(x)
}

# An optional single whole number (a step, an epoch, a count), exact as a double.
is_count <- function(x) {
  is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && !is.object(x) &&
    abs(x) <= 2^53
}

check_count <- function(x, name, null_ok = TRUE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is_count(x)) abort_input(name, "must be a single finite number")
  invisible(x)
}

# An optional character vector of strings (or a list of them).
check_strings <- function(x, name, null_ok = TRUE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (is.list(x) && !is.object(x) &&
      all(vapply(x, function(e) is.character(e) && length(e) == 1L, logical(1)))) {
    x <- unlist(x, use.names = FALSE)
  }
  if (!is.character(x) || anyNA(x) || is.object(x)) {
    abort_input(name, "must be a character vector")
  }
  check_text(x, name, 10000)
  invisible(x)
}

# An optional flag.
check_optional_flag <- function(x, name) {
  if (is.null(x)) return(invisible(NULL))
  check_flag(x, name)
}

# An optional list (of metadata or records).
check_list <- function(x, name) {
  if (is.null(x)) return(invisible(NULL))
  if (!is.list(x) || is.object(x)) abort_input(name, "must be a list")
  invisible(x)
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
