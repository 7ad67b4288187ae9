# Argument checks, all in one place. Each raises a `cometr_input_error` naming the
# argument (see utils-conditions.R), worded as cometr 0.4.0 words it where it had a check.

# TRUE/FALSE flags.
check_flag <- function(x, name) {
  if (!is.logical(x) || length(x) != 1L || is.na(x) || is.object(x)) {
    cometr_abort(sprintf("%s must be either TRUE or FALSE.", name),
                 "cometr_input_error", argument = name)
  }
  invisible(x)
}

check_optional_flag <- function(x, name) {
  if (is.null(x)) return(invisible(NULL))
  check_flag(x, name)
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

# A name that must not be empty (a parameter, an asset, a host): as check_string(),
# and "" is refused too.
check_name <- function(x, name, null_ok = FALSE) {
  check_string(x, name, null_ok = null_ok)
  if (identical(x, "")) abort_input(name, "must not be empty")
  invisible(x)
}

# An API key given as an argument: NULL (the configured one is used), "" (none, as an
# offline experiment has), or a single string of visible ASCII characters. Anything
# else could not be sent in an HTTP header: it would be dropped, and the server would
# answer 401 for no reason given.
check_api_key <- function(x, name = "api_key") {
  if (is.null(x)) return(invisible(NULL))
  check_string(x, name)
  if (nzchar(x) && !grepl("^[!-~]+$", x)) {
    abort_input(name, "must be an API key: visible ASCII characters, without spaces")
  }
  invisible(x)
}

# A server address given as an argument: NULL, or an http:// or https:// URL.
check_url <- function(x, name) {
  check_string(x, name)
  if (!is.null(x) && !grepl("^https?://[^/?#[:space:]]+", x, ignore.case = TRUE)) {
    abort_input(name, "must be an http:// or https:// URL")
  }
  invisible(x)
}

# The same test without raising, for callers that word their own error.
is_single_string <- function(x) {
  is.character(x) && length(x) == 1L && !is.na(x) && !is.object(x) && validUTF8(x) &&
    nchar(x, "bytes") <= 10000L
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

# An optional single whole number (a step, an epoch, a count), exact as a double.
# A step, an epoch, a count: a single whole number, exact as a double. A fraction is
# refused, never rounded (step 0.5 is not step 1).
is_count <- function(x) {
  is_number_value(x) && x == trunc(x)
}

is_number_value <- function(x) {
  is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && !is.object(x) &&
    abs(x) <= 2^53
}

check_count <- function(x, name, null_ok = TRUE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is_count(x)) {
    abort_input(name, if (is_number_value(x)) "must be a whole number" else "must be a single finite number")
  }
  invisible(x)
}

# A single number between `min` and `max` (a whole one with `whole = TRUE`); the
# refusal says what is wanted (`problem`), as each caller words it.
check_number <- function(x, name, problem, min = -Inf, max = Inf, whole = FALSE) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || is.object(x) || x < min || x > max ||
      (whole && x != trunc(x))) {
    abort_input(name, problem)
  }
  invisible(x)
}

# A size in bytes: NULL, or a single non-negative whole number (a double, so sizes above
# 2 GiB are exact; Inf and fractions of a byte are refused).
check_size <- function(x, name = "size") {
  if (!is.null(x)) {
    check_number(x, name, "must be a single non-negative number", min = 0)
    if (!is.finite(x) || x > 2^53 || x != trunc(x)) abort_input(name, "must be a whole number of bytes")
  }
  invisible(x)
}

# ---- experiments -----------------------------------------------------------------

check_experiment_flags <- function(keep_active, log_output, log_error, log_code,
                                   log_system_details, log_git_info) {
  check_flag(keep_active, "keep_active")
  check_flag(log_output, "log_output")
  check_flag(log_error, "log_error")
  check_flag(log_code, "log_code")
  check_flag(log_system_details, "log_system_details")
  check_flag(log_git_info, "log_git_info")
}

# A single logged value (an "other").
check_scalar <- function(x, name) {
  if (!(is.numeric(x) || is.character(x) || is.logical(x)) || length(x) != 1L ||
      is.object(x)) {
    abort_input(name, "must be a single number, string or logical value")
  }
  if (is.character(x)) check_text(x, name)
}

# A logged value: numbers, strings or logicals (a vector becomes a JSON array).
check_value <- function(x, name = "value") {
  if (!(is.numeric(x) || is.character(x) || is.logical(x)) || is.object(x) || length(x) == 0L) {
    abort_input(name, "must be a number, string or logical vector")
  }
  if (is.character(x)) check_text(x, name)
  invisible(x)
}

# A list of records (each a named list), such as GPU descriptions. The list itself is
# unnamed: a named one would be sent as a JSON object, not the array Comet reads.
check_records <- function(x, name) {
  if (is.null(x)) return(invisible(NULL))
  ok <- is.list(x) && !is.object(x) && is.null(names(x)) &&
    all(vapply(x, function(r) is.list(r) && !is.null(names(r)), logical(1)))
  if (!ok) abort_input(name, "must be a list of named lists")
  to_json(x, name)
  invisible(x)
}

# Metadata of an asset, an artifact or an artifact version: NULL or a list that can be
# sent as a JSON object. Where the API takes it as text (`json_ok`), a string holding a
# JSON object passes too. Returns the metadata.
check_metadata <- function(x, arg = "metadata", json_ok = FALSE) {
  if (is.null(x)) return(NULL)
  if (json_ok && is.character(x) && length(x) == 1L && !is.na(x)) {
    check_text(x, arg, 1e6)
    ok <- tryCatch(is.list(jsonlite::parse_json(x)), error = function(e) FALSE)
    if (!ok) abort_input(arg, "must be a named list or a JSON object")
    return(x)
  }
  if (!is.list(x) || is.object(x)) {
    cometr_abort(sprintf("Invalid %s, expecting list: %s", arg, show_value(x)),
                 "cometr_input_error", argument = arg)
  }
  if (length(x) > 0L && (is.null(names(x)) || any(!nzchar(names(x))))) {
    abort_input(arg, "must be a named list")
  }
  to_json(x, arg)
  x
}

# ---- artifacts -------------------------------------------------------------------

# Versions stay strings; they must look like semantic versions (MAJOR[.MINOR[.PATCH]]
# with an optional -pre-release and +build part).
semver_pattern <- paste0(
  "^[0-9]+(\\.[0-9]+){0,2}",
  "(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?",
  "(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$"
)

check_version <- function(version, arg = "artifact_version") {
  if (is.null(version)) return(NULL)
  if (inherits(version, "numeric_version")) version <- as.character(version)
  if (is.numeric(version) && length(version) == 1L && !is.na(version)) {
    version <- format(version, scientific = FALSE, trim = TRUE)
  }
  if (!is_single_string(version) || nchar(version, "bytes") > 256L ||
      !grepl(semver_pattern, version)) {
    cometr_abort(
      sprintf("Invalid %s '%s': expected a semantic version such as \"1.2.0\" or \"1.2.0-beta\"",
              arg, show_value(version)),
      "cometr_input_error", argument = arg
    )
  }
  version
}

# Aliases and tags: NULL, a character vector or a list of strings; kept as a list of
# unique strings, in order.
check_labels <- function(x, arg) {
  if (is.null(x)) return(NULL)
  ok <- (is.character(x) && !anyNA(x) && !is.object(x)) ||
    (is.list(x) && all(vapply(x, is_single_string, logical(1))))
  if (!ok) {
    # Neither a list nor a character vector: cometr 0.4.0's words, which scripts may match.
    what <- if (is.list(x) || is.character(x)) "a list of strings" else "a list"
    cometr_abort(sprintf("%s is not %s: %s", arg, what, show_value(x)),
                 "cometr_input_error", argument = arg)
  }
  if (length(x) > 0L) check_text(unlist(x, use.names = FALSE), arg, 10000)
  as.list(unique(as.character(unlist(x, use.names = FALSE))))
}

# Logical paths name files below a download folder, so they must be plain relative
# paths: no `..`, no absolute paths, drive letters, backslashes or empty segments.
check_logical_path <- function(path, arg = "logical_path") {
  problem <- if (!is_single_string(path)) {
    "is not a single string"
  } else {
    rust_result(rust_logical_path_problem(path))
  }
  if (!is.null(problem)) {
    cometr_abort(sprintf("Unsafe logical path '%s': it %s", show_value(path), problem),
                 "cometr_input_error", argument = arg, logical_path = path)
  }
  path
}

overwrite_strategy_value <- function(x) {
  if (isTRUE(x)) return("OVERWRITE")
  if (isFALSE(x)) return("FAIL")
  if (is.character(x) && length(x) == 1L && !is.na(x) && validUTF8(x) && nchar(x) < 20 &&
      toupper(x) %in% c("FAIL", "PRESERVE", "OVERWRITE")) {
    return(toupper(x))
  }
  cometr_abort(sprintf("Unsupported overwrite_strategy value: %s", show_value(x)),
               "cometr_input_error", argument = "overwrite_strategy")
}

# Experiment keys are Comet's: 1 to 64 letters, digits, `_` or `-`. A key names spool
# files and offline folders, so one from an argument or from a server's answer is
# checked where it enters: a key such as "../../x" would name a path outside them.
is_experiment_key <- function(x) {
  is_single_string(x) && grepl("^[A-Za-z0-9_-]{1,64}$", x)
}

# One experiment key or more (a character vector or a list of strings).
check_experiment_keys <- function(x, name) {
  check_strings(x, name, null_ok = FALSE)
  keys <- unlist(x, use.names = FALSE)
  if (length(keys) == 0L || !all(vapply(keys, is_experiment_key, logical(1)))) {
    abort_input(name, "must be experiment keys: each 1 to 64 letters, digits, `_` or `-`")
  }
  invisible(x)
}

check_experiment_key <- function(x, name) {
  check_string(x, name, null_ok = FALSE)
  if (!is_experiment_key(x)) {
    abort_input(name, "must be an experiment key: 1 to 64 letters, digits, `_` or `-`")
  }
  invisible(x)
}

# An experiment key in a server's answer; NULL passes when the field is optional.
check_answered_key <- function(x, endpoint, null_ok = FALSE) {
  if (is.null(x) && null_ok) return(invisible(NULL))
  if (!is_experiment_key(x)) {
    cometr_abort(
      sprintf("The server's answer from %s holds an experiment key that is not one (%s): 1 to 64 letters, digits, `_` or `-` expected",
              endpoint, show_value(x)),
      c("cometr_parse_error", "cometr_http_error"),
      status = 200L, sdk_error_code = NULL, endpoint = endpoint
    )
  }
  invisible(x)
}
