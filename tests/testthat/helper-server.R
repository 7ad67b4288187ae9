# Every test runs against its own embedded server, in a session with no Comet
# configuration of its own: no COMET_* variables, a working directory and a home
# directory without .comet.yml.
local_isolated_config <- function(env = parent.frame()) {
  vars <- c("COMET_API_KEY", "COMET_WORKSPACE", "COMET_PROJECT_NAME", "COMET_URL_OVERRIDE",
            "COMET_LOGGING_FILE", "COMET_LOGGING_FILE_LEVEL")
  withr::local_envvar(structure(rep(NA_character_, length(vars)), names = vars),
                      .local_envir = env)
  home <- withr::local_tempdir(.local_envir = env)
  withr::local_envvar(HOME = home, R_USER_CACHE_DIR = file.path(home, "cache"),
                      .local_envir = env)
  withr::local_dir(withr::local_tempdir(.local_envir = env), .local_envir = env)
  invisible(home)
}

local_test_server <- function(..., env = parent.frame()) {
  local_isolated_config(env)
  srv <- local_server(...)
  withr::defer(srv$stop(), envir = env)
  srv
}

# Absolute, because tests change the working directory.
fixture_dir <- normalizePath(test_path("fixtures"))
fixture <- function(...) file.path(fixture_dir, ...)

read_recorded <- function(name) {
  jsonlite::read_json(fixture("recorded", name), simplifyVector = FALSE)
}

json_type <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) return(if (is.null(names(x)) && length(x) > 0) "array" else "object")
  if (is.logical(x)) return("boolean")
  if (is.numeric(x)) return("number")
  if (is.character(x)) return("string")
  class(x)[1]
}

# Every key recorded from Comet's service is in `actual`, with the same JSON type,
# recursively (array items are compared with the first recorded item). A recorded
# null accepts any type, since Comet sends null for unset values.
expect_same_shape <- function(actual, recorded, path = "$") {
  rt <- json_type(recorded)
  if (rt == "null") return(invisible(TRUE))
  at <- json_type(actual)
  # An empty object and an empty array are the same thing once parsed.
  if (rt %in% c("object", "array") && length(recorded) == 0) {
    expect_true(at %in% c("object", "array"), label = paste(path, "is a container"))
    return(invisible(TRUE))
  }
  expect_identical(at, rt, label = paste("JSON type at", path))
  if (rt == "object") {
    for (k in names(recorded)) {
      expect_true(k %in% names(actual), label = sprintf("%s has key '%s'", path, k))
      if (k %in% names(actual)) expect_same_shape(actual[[k]], recorded[[k]], paste0(path, "$", k))
    }
  } else if (rt == "array") {
    expect_true(length(actual) > 0, label = paste(path, "is not empty"))
    if (length(actual) > 0) expect_same_shape(actual[[1]], recorded[[1]], paste0(path, "[[1]]"))
  }
  invisible(TRUE)
}

# A quiet experiment with no automatic logging.
new_test_experiment <- function(..., env = parent.frame()) {
  exp <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                            log_output = FALSE, keep_active = FALSE, ...))
  withr::defer(exp$stop(), envir = env)
  exp
}

# Run R code in a fresh Rscript process that sees this package; returns its exit
# status and console output.
run_rscript <- function(code, env = character(), file = tempfile(fileext = ".R")) {
  writeLines(code, file)
  out <- tempfile()
  err <- tempfile()
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  status <- system2(file.path(R.home("bin"), "Rscript"), shQuote(file), stdout = out,
                    stderr = err, env = c(paste0("R_LIBS=", libs), env))
  list(status = status, stdout = readLines(out, warn = FALSE),
       stderr = readLines(err, warn = FALSE), file = file)
}

# Start `script` in a background Rscript process with environment `env` (a character
# vector of NAME=value), its output discarded; returns its process id, for tests that
# kill it.
start_rscript <- function(script, env = character()) {
  pidfile <- tempfile()
  cmd <- sprintf("env %s %s %s >/dev/null 2>&1 & echo $! > %s",
                 paste(shQuote(env), collapse = " "),
                 shQuote(file.path(R.home("bin"), "Rscript")), shQuote(script), shQuote(pidfile))
  system2("bash", c("-c", shQuote(cmd)))
  as.integer(readLines(pidfile))
}

values_of <- function(res, field) vapply(res, function(x) as.character(x[[field]] %||% NA), "")
`%||%` <- function(x, y) if (is.null(x)) y else x

# The `cometr-server` binary: $COMETR_SERVER_BIN, else the release build in cargo's
# target folder (as .ci/run makes it), else built here with cargo.
cometr_server_bin <- function() {
  given <- Sys.getenv("COMETR_SERVER_BIN")
  if (nzchar(given)) return(normalizePath(given, mustWork = TRUE))
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  target <- Sys.getenv("CARGO_TARGET_DIR", file.path(cache, "cometr-cargo-target"))
  exe <- if (.Platform$OS.type == "windows") "cometr-server.exe" else "cometr-server"
  bin <- file.path(target, "release", exe)
  if (file.exists(bin)) return(bin)
  # The package's sources hold the workspace; installed tests have none to build from.
  root <- normalizePath(file.path(fixture_dir, "..", "..", ".."), mustWork = FALSE)
  if (!file.exists(file.path(root, "src", "rust", "server", "Cargo.toml"))) {
    skip_on_cran()
    stop("cannot find the cometr-server binary nor the sources to build it")
  }
  cargo <- Sys.which("cargo")
  if (!nzchar(cargo)) cargo <- file.path(Sys.getenv("HOME"), ".cargo", "bin", "cargo")
  out <- withr::with_dir(root, withr::with_envvar(c(CARGO_TARGET_DIR = target), system2(
    cargo, c("build", "--release", "--locked", "-p", "cometr-server", "--bin", "cometr-server"),
    stdout = TRUE, stderr = TRUE
  )))
  if (!file.exists(bin)) stop(paste(c("cannot build cometr-server:", tail(out, 5)), collapse = "\n"))
  bin
}

# The address a started cometr-server process announces ("serving http://...:PORT/").
cometr_server_url <- function(proc, timeout = 30) {
  deadline <- Sys.time() + timeout
  seen <- character()
  while (Sys.time() < deadline) {
    proc$poll_io(200)
    seen <- c(seen, proc$read_output_lines())
    hit <- regmatches(seen, regexpr("http://[^ /]+:[0-9]+", seen))
    if (length(hit) > 0) return(paste0(hit[[1]], "/clientlib/"))
    if (!proc$is_alive()) break
  }
  stop(paste(c("cometr-server did not start:", seen, proc$read_error_lines()), collapse = "\n"))
}

# A cometr-server process serving `dir` on `port` (a free one when 0), killed when the
# calling test ends; its address and process.
server_process <- function(dir, port = 0L, env = parent.frame()) {
  proc <- processx::process$new(cometr_server_bin(), c("--port", port, "--dir", dir),
                                stdout = "|", stderr = "|")
  withr::defer(if (proc$is_alive()) proc$kill(), envir = env)
  url <- cometr_server_url(proc)
  list(proc = proc, url = url, port = as.integer(sub("^.*:([0-9]+)/clientlib/$", "\\1", url)))
}

# The comparisons with Comet's Python SDK never skip: a machine without python3, a shell
# or the pinned packages of fixtures/python/requirements.txt fails them (tools/setup.sh
# installs python3 and python3-venv). `status` and `out`: what fixtures/python/sdk.sh gave.
need_python_sdk <- function(status = 0L, out = character()) {
  if (!nzchar(Sys.which("python3"))) stop("python3 is not installed (tools/setup.sh installs it)")
  if (!nzchar(Sys.which("sh"))) stop("no POSIX shell to run fixtures/python/sdk.sh")
  if (identical(status, 90L)) stop("fixtures/python/sdk.sh found no python3")
  if (identical(status, 91L)) {
    stop(paste("cannot create the virtualenv or install fixtures/python/requirements.txt:",
               paste(tail(out, 3), collapse = " ")))
  }
  invisible(TRUE)
}

# Run a Python script of fixtures/python with the comet_ml virtualenv; fails when
# python3 or the virtualenv is not available. `cache` is the real cache folder.
python_sdk <- function(script, args, cache, env = character()) {
  need_python_sdk()
  withr::local_envvar(XDG_CACHE_HOME = cache)
  withr::local_envvar(env)
  out <- suppressWarnings(system2(
    "sh", c(shQuote(fixture("python", "sdk.sh")), shQuote(fixture("python", script)),
            shQuote(args)),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(out, "status") %||% 0L
  need_python_sdk(status, out)
  list(status = status, out = out)
}
