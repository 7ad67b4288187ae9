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
  if (length(api_key) > 0L) check_api_key(api_key)
  resolve(api_key, "COMET_API_KEY")
}

# The server root, without `/clientlib` and without trailing slashes.
url_root <- function() {
  warn_url_from_working_dir()
  rust_result(rust_url_root(config_value("COMET_URL_OVERRIDE") %||% default_url))
}

rest_url <- function(endpoint) {
  paste0(url_root(), "/api/rest/v2/", sub("^/+", "", endpoint))
}

clientlib_url <- function(endpoint) {
  paste0(url_root(), "/clientlib/", sub("^/+", "", endpoint))
}

# Once per session: a `.comet.yml` in the working directory (say, of a cloned
# repository) that points COMET_URL_OVERRIDE elsewhere while the API key comes from the
# environment or the home file, so the user's key would go to a host the file chose.
# Comet's SDK reads the file alike, so it is followed, but never in silence.
config_state <- new.env(parent = emptyenv())

warn_url_from_working_dir <- function() {
  if (isTRUE(config_state$url_warned) || nzchar(Sys.getenv("COMET_URL_OVERRIDE"))) return()
  cwd <- getwd()
  home <- path.expand("~")
  here <- file.path(cwd, ".comet.yml")
  if (!file.exists(here) || identical(normalizePath(cwd), normalizePath(home, mustWork = FALSE))) return()
  lookup <- function(key, dir, home) rust_result(rust_config_lookup(key, dir, home))$value
  url <- lookup("COMET_URL_OVERRIDE", cwd, "")
  if (is.null(url)) return()
  key_from <- if (nzchar(Sys.getenv("COMET_API_KEY"))) {
    "the environment variable COMET_API_KEY"
  } else if (is.null(lookup("COMET_API_KEY", cwd, "")) && !is.null(lookup("COMET_API_KEY", "", home))) {
    file.path(home, ".comet.yml")
  }
  if (is.null(key_from)) return()
  config_state$url_warned <- TRUE
  cometr_warn(sprintf(paste0(
    "COMET_URL_OVERRIDE (%s) comes from %s in the working directory, while the API key ",
    "comes from %s: the key is sent to that server. Remove COMET_URL_OVERRIDE from %s ",
    "unless you trust it."), url, here, key_from, here), "cometr_config_warning")
}
