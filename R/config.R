# Configuration is resolved on every lookup (environment, then ./.comet.yml, then
# ~/.comet.yml), so a change of environment variable or working directory takes effect
# at once. The files are read by the Rust core as plain data: nothing in them is run.

default_url <- "https://www.comet.com/clientlib/"

config_value <- function(key, quiet = FALSE) {
  res <- rust_result(rust_config_lookup(key, getwd(), path.expand("~")))
  if (!quiet) for (w in res$warnings) cometr_warn(w, "cometr_config_warning")
  res$value
}

# An argument wins when it has a value; otherwise the configuration; otherwise an
# error for required values, worded as cometr 0.4.0 words it.
resolve <- function(arg, key, required = TRUE, name = deparse(substitute(arg))) {
  # As in cometr 0.4.0, a zero-length argument counts as not given.
  if (length(arg) > 0L) {
    check_string(arg, name)
    return(arg)
  }
  value <- config_value(key)
  if (is.null(value) && required) {
    cometr_abort(
      sprintf("%s must be provided. Pass it as an argument, set the environment variable, or add it to .comet.yml.", key),
      "cometr_config_error", key = key
    )
  }
  value
}

# Several required values at once: every one missing is named in one error, so a user
# fixing their setup learns all that is missing at the first try. `args` is named by
# argument (for checks), `keys` gives each one's configuration key.
resolve_all <- function(args, keys) {
  values <- Map(function(arg, key, name) resolve(arg, key, required = FALSE, name = name),
                args, keys, names(args))
  missing <- unname(keys[vapply(values, is.null, logical(1))])
  if (length(missing) == 1L) {
    resolve(NULL, missing)
  } else if (length(missing) > 1L) {
    cometr_abort(
      sprintf("%s and %s must be provided. Pass them as arguments, set the environment variables, or add them to .comet.yml.",
              paste(missing[-length(missing)], collapse = ", "), missing[length(missing)]),
      "cometr_config_error", key = missing
    )
  }
  values
}

api_key_value <- function(api_key = NULL) {
  if (length(api_key) > 0L) check_string(api_key, "api_key")
  resolve(api_key, "COMET_API_KEY")
}

# The server root, without `/clientlib` and without trailing slashes.
url_root <- function() {
  rust_result(rust_url_root(config_value("COMET_URL_OVERRIDE") %||% default_url))
}

rest_url <- function(endpoint) {
  paste0(url_root(), "/api/rest/v2/", sub("^/+", "", endpoint))
}

clientlib_url <- function(endpoint) {
  paste0(url_root(), "/clientlib/", sub("^/+", "", endpoint))
}
