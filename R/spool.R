# The spool: every logged item is written to a file under the user's cache folder
# within a fraction of a second, and removed once the server has it. What is left
# after an outage or a crash is sent later with send_spool().

spool_dir <- function() {
  getOption("cometr.spool_dir", file.path(tools::R_user_dir("cometr", "cache"), "spool"))
}

# Spool files no running experiment is writing: those of ended processes, and this
# session's own once their experiment has stopped (a live process, or an open
# experiment here, may still deliver its file).
leftover_spools <- function(dir = spool_dir()) {
  files <- rust_result(rust_spool_list(dir))
  in_use <- normalizePath(rust_result(rust_spool_in_use()), mustWork = FALSE)
  pid <- suppressWarnings(as.integer(sub("^.*-([0-9]+)-[0-9a-f]+\\.spool$", "\\1", basename(files))))
  ours <- !is.na(pid) & pid == Sys.getpid()
  running <- vapply(seq_along(files), function(i) {
    if (ours[[i]]) normalizePath(files[[i]], mustWork = FALSE) %in% in_use
    else !is.na(pid[[i]]) && pid_alive(pid[[i]])
  }, logical(1))
  files[!running]
}

# A killed process can linger as a zombie, which still answers signals: on Linux,
# look at its state instead.
pid_alive <- function(pid) {
  status <- file.path("/proc", pid, "status")
  if (dir.exists("/proc/self")) {
    if (!file.exists(status)) return(FALSE)
    state <- tryCatch(grep("^State:", readLines(status, warn = FALSE), value = TRUE),
                      error = function(e) character())
    return(length(state) == 1L && !grepl("^State:\\s*[ZX]", state))
  }
  isTRUE(tools::pskill(pid, 0L))
}

#' Send logged data that could not be delivered earlier
#'
#' Every value an experiment logs is first written to a spool file, and removed
#' from it once the server has acknowledged it. When the server could not be
#' reached before `$stop()` gave up, or when R was killed, the undelivered data
#' stays there (under `tools::R_user_dir("cometr", "cache")`, or
#' `getOption("cometr.spool_dir")`). `send_spool()` delivers it, in the order it
#' was logged, and deletes each spool file once all of it has arrived. The
#' package says at start-up when such files exist.
#'
#' Files logged with `upload_asset()` are in the spool too: a copy of a small
#' file waits in its `files` folder, a large file is read from where it was
#' (and not sent if it changed since it was logged).
#'
#' Spool files never contain the API key: the key comes from `api_key` or the
#' configuration when the data is sent.
#'
#' @param path A spool file, or a folder of them. Defaults to the spool folder.
#' @param api_key Comet API key (defaults to the `COMET_API_KEY` configuration).
#' @param url Server to send to, as for `COMET_URL_OVERRIDE`. Defaults to the
#'   server each file's data was meant for.
#' @param timeout Seconds to keep trying for each file.
#' @return A data frame, invisibly: one row per file, with the experiment key,
#'   the number of items found and still pending, and whether all were delivered.
#' @examples
#' empty <- tempfile()
#' dir.create(empty)
#' send_spool(empty) # nothing to send
#' @export
send_spool <- function(path = NULL, api_key = NULL, url = NULL, timeout = 60) {
  check_string(path, "path")
  if (!is.null(path) && !file.exists(path)) abort_input("path", sprintf("does not exist: %s", path))
  check_url(url, "url")
  check_api_key(api_key)
  check_number(timeout, "timeout", "must be a non-negative number of seconds", min = 0)
  path <- path %||% spool_dir()
  files <- if (dir.exists(path)) leftover_spools(path) else if (file.exists(path)) path else character()
  out <- data.frame(file = character(), experiment_key = character(), items = numeric(),
                    pending = numeric(), delivered = logical())
  if (length(files) == 0L) {
    cometr_inform(c(i = "No undelivered data in {.path {path}}"))
    return(invisible(out))
  }
  key <- api_key_value(api_key)
  root <- if (is.null(url)) "" else rust_result(rust_url_root(url))
  bar <- progress_start("Sending spooled data", length(files), bytes = FALSE)
  on.exit(progress_end(bar), add = TRUE)
  for (f in files) {
    progress_set(bar, match(f, files) - 1L)
    # A file that cannot be read warns (`cometr_spool_warning`) and the others go on.
    res <- rust_result(rust_spool_replay(f, key, root, timeout), warn = TRUE)
    if (is.null(res)) next
    warn_problems(res)
    what <- sprintf("%s: %s for experiment %s %s", basename(f), n_of(res$items, "item"),
                    res$experiment_key,
                    if (res$delivered) "delivered" else sprintf("(%d still pending)", as.integer(res$pending)))
    cometr_inform(if (res$delivered) c(v = "{what}") else c("!" = "{what}"))
    out[nrow(out) + 1L, ] <- list(f, res$experiment_key, res$items, res$pending, res$delivered)
  }
  invisible(out)
}
