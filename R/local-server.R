#' Run a Comet-compatible server on this machine
#'
#' Starts the embedded server: it speaks Comet's REST and clientlib protocol, so
#' this package, and any other Comet client pointed at it with
#' `COMET_URL_OVERRIDE`, can log and read experiments with no Comet account and
#' no network. Records are kept in SQLite and asset files on disk under `dir`.
#' Workspaces and projects are created the first time a client names them.
#'
#' The server answers only requests addressed to its own host and port, refuses
#' browsers' cross-origin requests, takes writes only by POST with a JSON or
#' multipart body, and bounds what one client may send: JSON bodies of 256 MiB
#' (also once gunzipped), uploads of 4 GiB, 30 s to send a request or to stay
#' idle, and 512 connections at once.
#'
#' @param dir Folder for the server's data. `NULL` keeps it in a temporary folder
#'   that lasts as long as the R session; a given folder persists across
#'   restarts.
#' @param port TCP port; `0L` picks a free one.
#' @param host Address to listen on. The default serves this machine only.
#' @param api_key If given, the only API key the server accepts; requests with
#'   another key get HTTP 401, as from Comet. If `NULL`, any key is accepted.
#' @param activate If `TRUE`, point this R session at the server: set
#'   `COMET_URL_OVERRIDE`, and `COMET_API_KEY`, `COMET_WORKSPACE` and
#'   `COMET_PROJECT_NAME` where none is configured, so that
#'   [create_experiment()] works straight away. `$stop()` undoes this.
#' @param block If `TRUE`, serve until interrupted (Ctrl+C), then stop. This runs
#'   the server as a service:
#'   `Rscript -e 'cometr::local_server(port = 8080, dir = "runs", block = TRUE)'`.
#' @param faults `NULL`, or a named list of failures to inject at random, to
#'   test how a client copes with an unreliable network and service:
#'   `error_rate` (fraction of requests answered with `error_status`, default
#'   503), `throttle_rate` (fraction answered 429 with a `Retry-After-Custom`
#'   header of `retry_after` seconds), `drop_before_rate` (fraction whose
#'   connection drops before the request is served), `drop_after_rate`
#'   (fraction served whose answer is then lost), `latency_ms` (added to every
#'   answer), `down_after` and `down_for` (seconds: the server drops every
#'   connection for `down_for` seconds, starting `down_after` seconds from now),
#'   and `paths` (only endpoints whose path contains this text are affected).
#'   Change them later with `$set_faults()`.
#' @return An object with fields `$url` (the value for `COMET_URL_OVERRIDE`),
#'   `$dashboard` (the address of its dashboard), `$dir` and `$port`, and a method
#'   `$stop()`. Invisibly when `block = TRUE`.
#' @section Dashboard:
#' The server's root address (`$dashboard`, printed when the server starts in an
#' interactive session) is a dashboard: projects, experiments (sortable and
#' filterable, with their last metric values and parameters), and each
#' experiment's charts, with other runs overlaid, parameters, images, tables,
#' curves, confusion matrices, artifacts, output, code and system details. The
#' link [create_experiment()] prints opens the experiment's page. The page loads
#' nothing from the network. When the server has an `api_key`, the page asks for
#' it once; it can also be given after `#key=` in the address, which browsers
#' never send to the server.
#' @examples
#' srv <- local_server()
#' srv$url
#' exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
#'                          log_output = FALSE, keep_active = FALSE)
#' exp$log_metric("accuracy", 0.9)
#' exp$stop()
#' srv$stop()
#' @export
local_server <- function(dir = NULL, port = 0L, host = "127.0.0.1", api_key = NULL,
                         activate = TRUE, block = FALSE, faults = NULL) {
  if (!is.null(dir)) check_string(dir, "dir")
  check_number(port, "port", "must be a whole number between 0 and 65535", min = 0,
               max = 65535, whole = TRUE)
  check_name(host, "host")
  check_api_key(api_key)
  check_flag(activate, "activate")
  check_flag(block, "block")
  if (is.null(dir)) dir <- tempfile("cometr-server-")
  if (!nzchar(dir)) abort_input("dir", "must name a folder")
  dir.create(dir, recursive = TRUE, showWarnings = FALSE, mode = "0700")
  if (!dir.exists(dir)) abort_input("dir", sprintf("cannot be created: %s", show_value(dir, 200)))
  dir <- normalizePath(dir, mustWork = TRUE)
  res <- rust_result(rust_server_start(dir, host, as.integer(port), api_key))
  srv <- LocalServer$new(res$id, res$port, host, dir, api_key)
  server_registry[[as.character(res$id)]] <- srv
  if (!is.null(faults)) {
    tryCatch(srv$set_faults(faults), error = function(e) {
      srv$stop()
      stop(e)
    })
  }
  if (activate) srv$activate()
  if (interactive() && !block) message("Dashboard: ", srv$dashboard)
  if (block) {
    on.exit(srv$stop(), add = TRUE)
    url <- srv$url
    cometr_inform(c(i = "Comet-compatible server at {url} (data in {.path {dir}}). Press Ctrl+C to stop."))
    message("Dashboard: ", srv$dashboard)
    repeat Sys.sleep(0.25)
  }
  srv
}

# Running servers stay referenced here, so that a server started without keeping the
# returned object is not stopped by the garbage collector.
server_registry <- new.env(parent = emptyenv())

# Activated servers, oldest first (see `$activate()` and `$stop()`).
activations <- new.env(parent = emptyenv())
activations$stack <- list()

LocalServer <- R6::R6Class("cometr_local_server",
  cloneable = FALSE,
  public = list(
    url = NULL,
    dashboard = NULL,
    dir = NULL,
    port = NULL,
    initialize = function(id, port, host, dir, api_key) {
      private$id <- id
      private$api_key <- if (!is.null(api_key)) secret(api_key)
      shown <- if (host %in% c("0.0.0.0", "::", "")) "127.0.0.1" else host
      if (grepl(":", shown, fixed = TRUE)) shown <- paste0("[", shown, "]")
      self$port <- port
      self$url <- sprintf("http://%s:%d/clientlib/", shown, port)
      self$dashboard <- sprintf("http://%s:%d/", shown, port)
      self$dir <- dir
    },
    activate = function() {
      defaults <- c(
        COMET_URL_OVERRIDE = self$url,
        COMET_API_KEY = reveal(private$api_key) %||% "local-api-key",
        COMET_WORKSPACE = "local",
        COMET_PROJECT_NAME = "general"
      )
      for (key in names(defaults)) {
        if (key != "COMET_URL_OVERRIDE" && !is.null(config_value(key))) next
        # Kept as secrets: the key set or replaced must not be serialized with the object.
        private$saved[[key]] <- secret(Sys.getenv(key, NA_character_))
        private$set[[key]] <- secret(defaults[[key]])
        do.call(Sys.setenv, as.list(defaults[key]))
      }
      if (!any(vapply(activations$stack, identical, logical(1), self))) {
        activations$stack <- c(activations$stack, list(self))
      }
      invisible(self)
    },
    # Take over the activation of a server stopped below this one on the stack: what
    # that server found set is what this one restores when it stops.
    inherit_activation = function(saved, set) {
      for (key in names(saved)) {
        if (key %in% names(private$saved)) {
          if (identical(reveal(private$saved[[key]]), reveal(set[[key]]))) {
            private$saved[[key]] <- saved[[key]]
          }
        } else {
          private$saved[[key]] <- saved[[key]]
          private$set[[key]] <- set[[key]]
        }
      }
      invisible(self)
    },
    stop = function() {
      if (private$stopped) return(invisible(self))
      private$stopped <- TRUE
      stop_experiments_on(self$url)
      # The wait for the server to let go of its port gives way to Ctrl-C; the server
      # stops anyway, so what it set in the session is undone all the same.
      on.exit(private$release(), add = TRUE)
      rust_result(rust_server_stop(private$id))
      invisible(self)
    },
    # Make the server answer the next `times` requests whose endpoint contains
    # `path` with a given status and body (to test how clients cope).
    inject_fault = function(path, status = 500L, body = NULL, content_type = "application/json",
                            times = 1L) {
      check_string(path, "path", null_ok = FALSE)
      check_count(status, "status", null_ok = FALSE)
      if (status < 100 || status > 599) abort_input("status", "must be an HTTP status (100 to 599)")
      check_string(body, "body", max_chars = Inf)
      check_string(content_type, "content_type", null_ok = FALSE)
      check_count(times, "times", null_ok = FALSE)
      if (abs(times) > .Machine$integer.max) abort_input("times", "is too large")
      body <- body %||% to_json(list(msg = sprintf("injected failure %d", as.integer(status)),
                                     code = as.integer(status)))
      rust_result(rust_server_fault(private$id, path, as.integer(status), body, content_type,
                                    as.integer(times)))
      invisible(self)
    },
    # The heartbeat interval (seconds) the server asks clients to keep; Comet's is 10.
    set_heartbeat_interval = function(seconds) {
      check_number(seconds, "seconds", "must be a number of seconds between 0.1 and 3600",
                   min = 0.1, max = 3600)
      rust_result(rust_server_heartbeat(private$id, seconds * 1000))
      invisible(self)
    },
    # The request lines (method, path and query) the server saw most recently.
    requests = function() rust_result(rust_server_requests(private$id)),
    # The same, once answered, each after the answer's status ("200 GET /api/...").
    answers = function() rust_result(rust_server_answers(private$id)),
    # Replace the random failures (a named list, see local_server()); NULL clears them.
    set_faults = function(faults = NULL) {
      if (!is.null(faults) && (!is.list(faults) || is.null(names(faults)) || any(!nzchar(names(faults))))) {
        abort_input("faults", "must be a named list")
      }
      rust_result(rust_server_chaos(private$id, if (is.null(faults)) "" else to_json(faults)))
      invisible(self)
    },
    print = function(...) {
      cat(sprintf("<cometr local server> %s\n  dashboard: %s\n  data: %s\n  state: %s\n",
                  self$url, self$dashboard, self$dir,
                  if (private$stopped) "stopped" else "running"))
      invisible(self)
    }
  ),
  private = list(id = NULL, api_key = NULL, saved = list(), set = list(), stopped = FALSE,
    # Forget a stopped server and undo its activation.
    release = function() {
      rm(list = as.character(private$id), envir = server_registry)
      # Activations nest like a stack: a server stopped under a later one hands what it
      # found set to the next one up, which restores it in turn.
      at <- which(vapply(activations$stack, identical, logical(1), self))
      if (length(at) == 1L) {
        above <- activations$stack[at + 1L]
        activations$stack <- activations$stack[-at]
        if (length(above) == 1L && !is.null(above[[1]])) {
          above[[1]]$inherit_activation(private$saved, private$set)
          return(invisible(self))
        }
      }
      # Undo the activation, unless something else has since repointed the session.
      if (identical(Sys.getenv("COMET_URL_OVERRIDE"), self$url)) {
        for (key in names(private$saved)) {
          if (!identical(Sys.getenv(key), reveal(private$set[[key]]))) next
          old <- reveal(private$saved[[key]])
          if (is.na(old)) Sys.unsetenv(key) else do.call(Sys.setenv, structure(list(old), names = key))
        }
      }
      invisible(self)
    }
  )
)

# Experiments still logging to a server that is about to stop are stopped first, so
# their queues are flushed while the server can still take them.
stop_experiments_on <- function(url) {
  current <- session$current
  if (!is.null(current) && startsWith(current$get_url() %||% "", sub("/clientlib/$", "", url))) {
    current$stop()
  }
  invisible(NULL)
}
