# Every wait in the package gives way to Ctrl-C within half a second, with R's own
# interrupt condition, and a wait longer than about 2 s says once what it waits for.

# Run `code` in a background Rscript, send it SIGINT `after` seconds after it prints
# READY, and return how long it took after the signal to print "interrupted" or end,
# with its output. (What the script does after that, such as stopping its experiment
# at exit, is a wait of its own.)
interrupt_rscript <- function(code, after = 2.5) {
  skip_if_not_installed("processx")
  skip_on_os("windows")
  file <- tempfile(fileext = ".R")
  writeLines(code, file)
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  p <- processx::process$new(file.path(R.home("bin"), "Rscript"), file,
                             stdout = "|", stderr = "|",
                             env = c("current", R_LIBS = libs))
  withr::defer(if (p$is_alive()) p$kill())
  # Wait until the script says it has reached the wait.
  started <- Sys.time()
  seen <- ""
  while (!grepl("READY", seen) && p$is_alive() &&
         difftime(Sys.time(), started, units = "secs") < 60) {
    p$poll_io(200)
    seen <- paste0(seen, p$read_output())
  }
  Sys.sleep(after)
  sent <- Sys.time()
  p$interrupt()
  while (!grepl("interrupted", seen) && p$is_alive() &&
         difftime(Sys.time(), sent, units = "secs") < 10) {
    p$poll_io(20)
    seen <- paste0(seen, p$read_output())
  }
  took <- as.numeric(difftime(Sys.time(), sent, units = "secs"))
  alive <- p$is_alive()
  p$poll_io(200)
  seen <- paste0(seen, p$read_output())
  err <- p$read_error()
  p$kill()
  list(took = took, alive = alive, stdout = seen, stderr = err)
}

# A TCP listener that never accepts: connections open and requests go unanswered.
black_hole <- function(env = parent.frame()) {
  for (i in 1:20) {
    port <- sample(20000:40000, 1)
    s <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(s)) break
  }
  withr::defer(close(s), envir = env)
  sprintf("http://127.0.0.1:%d/clientlib/", port)
}

quiet_create <- "create_experiment(log_code = FALSE, log_system_details = FALSE,
                                  log_output = FALSE, keep_active = FALSE)"

test_that("create_experiment() against a server that never answers ends on Ctrl-C", {
  local_isolated_config()
  url <- black_hole()
  env <- sprintf('Sys.setenv(COMET_URL_OVERRIDE = "%s", COMET_API_KEY = "k",
    COMET_WORKSPACE = "w", COMET_PROJECT_NAME = "p", COMET_OFFLINE_FALLBACK = "false")', url)
  # No handler: Rscript ends, as on any interrupt.
  res <- interrupt_rscript(c("library(cometr)", env, 'cat("READY\\n")', quiet_create,
                             'cat("NOT REACHED\\n")'))
  expect_false(res$alive)
  expect_lt(res$took, 1)
  expect_false(grepl("NOT REACHED", res$stdout))
  # With a handler: R's ordinary interrupt condition, caught by tryCatch(interrupt = ).
  res <- interrupt_rscript(c("library(cometr)", env, 'cat("READY\\n")',
    sprintf('r <- tryCatch(%s, interrupt = function(e) "interrupted")', quiet_create),
    'cat(r, "\\n")'), after = 3)
  expect_lt(res$took, 1)
  expect_match(res$stdout, "interrupted")
  # The wait said once, after about 2 s, what it waits for and what changes it.
  said <- regmatches(res$stderr, gregexpr("Waiting for Comet at [^\n]*", res$stderr))[[1]]
  expect_length(said, 1)
  expect_match(said, sub("/clientlib/$", "", url), fixed = TRUE)
  expect_match(said, "cometr.retry_timeout", fixed = TRUE)
})

# In a child: an experiment on a local server that then delays every answer by a
# minute, with a metric queued; `wait` is the call that must give way to Ctrl-C.
stalled_experiment <- function(wait) {
  c("library(cometr)",
    "srv <- local_server()",
    sprintf("exp <- %s", quiet_create),
    'exp$log_metric("loss", 1)',
    "srv$set_faults(list(latency_ms = 60000))",
    'cat("READY\\n")',
    sprintf('r <- tryCatch({%s; "returned"}, interrupt = function(e) "interrupted")', wait),
    'cat(r, "\\n")')
}

test_that("a read that flushes the queue ends on Ctrl-C", {
  local_isolated_config()
  res <- interrupt_rscript(stalled_experiment("exp$get_metrics_summary()"), after = 1)
  expect_lt(res$took, 1)
  expect_match(res$stdout, "interrupted")
})

test_that("a large download ends on Ctrl-C", {
  local_isolated_config()
  code <- c("library(cometr)",
    "srv <- local_server()",
    sprintf("exp <- %s", quiet_create),
    "f <- tempfile()",
    "writeBin(as.raw(rep(0:255, 40000)), f)",
    'a <- create_artifact("big", "dataset")',
    'a$add(f, logical_path = "big.bin")',
    "logged <- suppressMessages(exp$log_artifact(a))",
    'srv$set_faults(list(latency_ms = 60000, paths = "get-asset"))',
    'cat("READY\\n")',
    'r <- tryCatch({logged$download(tempfile()); "returned"}, interrupt = function(e) "interrupted")',
    'cat(r, "\\n")')
  res <- interrupt_rscript(code, after = 1)
  expect_lt(res$took, 1)
  expect_match(res$stdout, "interrupted")
})

test_that("a large upload ends on Ctrl-C in the middle of the transfer", {
  local_isolated_config()
  # An artifact of 3 GiB (a sparse file, so it costs no disk) takes seconds to hash and
  # send to the local server even on a fast machine, with no fault injected; Ctrl-C
  # comes 2 s into it.
  code <- c("library(cometr)",
    "srv <- local_server()",
    sprintf("exp <- %s", quiet_create),
    "f <- tempfile()",
    "con <- file(f, 'wb'); seek(con, 3 * 2^30 - 1); writeBin(as.raw(0), con); close(con)",
    'a <- create_artifact("big", "dataset")',
    'a$add(f, logical_path = "big.bin")',
    'cat("READY\\n")',
    't0 <- Sys.time()',
    'r <- tryCatch({suppressMessages(exp$log_artifact(a)); "returned"}, interrupt = function(e) "interrupted")',
    'cat(r, "after", format(as.numeric(difftime(Sys.time(), t0, units = "secs"))), "\\n")')
  res <- interrupt_rscript(code, after = 2)
  expect_lt(res$took, 1)
  expect_match(res$stdout, "interrupted after")
})

test_that("stop() ends on Ctrl-C, and says once what it waits for", {
  local_isolated_config()
  res <- interrupt_rscript(stalled_experiment("exp$stop()"))
  expect_lt(res$took, 1)
  expect_match(res$stdout, "interrupted")
  said <- regmatches(res$stderr, gregexpr("Waiting for [^\n]*", res$stderr))[[1]]
  expect_length(said, 1)
  expect_match(said, "cometr.stop_timeout", fixed = TRUE)
})

test_that("the waiting notice is an ordinary message: muffled or caught like any other", {
  local_isolated_config()
  # suppressMessages() muffles it and the wait goes on.
  res <- interrupt_rscript(stalled_experiment(
    "withCallingHandlers(suppressMessages(exp$stop()), message = function(m) cat('SEEN\\n'))"),
    after = 3)
  expect_false(grepl("Waiting for", res$stderr))
  expect_false(grepl("SEEN", res$stdout))
  expect_match(res$stdout, "interrupted")
  # A handler that leaves by a jump ends the wait at once, and R goes on.
  res <- run_rscript(c("library(cometr)", "srv <- local_server()",
    sprintf("exp <- %s", quiet_create), 'exp$log_metric("loss", 1)',
    "srv$set_faults(list(latency_ms = 60000))",
    "t0 <- Sys.time()",
    "r <- tryCatch(exp$stop(), message = function(m) conditionMessage(m))",
    "took <- as.numeric(difftime(Sys.time(), t0, units = 'secs'))",
    'cat("CAUGHT", r, if (took < 10) "PROMPTLY" else took, "\\n")',
    "srv$set_faults(NULL)"))
  expect_match(paste(res$stdout, collapse = "\n"), "CAUGHT Waiting for .* PROMPTLY")
})

test_that("a local server's stop() ends on Ctrl-C, and the session is restored all the same", {
  local_isolated_config()
  # A request in progress (held by a minute's latency) makes the server's stop wait for
  # it, up to 5 s; the request comes from a raw socket so that R itself is not waiting.
  code <- c("library(cometr)",
    "srv <- local_server()",
    "srv$set_faults(list(latency_ms = 60000))",
    "con <- socketConnection('127.0.0.1', srv$port, blocking = TRUE, open = 'r+b')",
    "writeLines(sprintf(paste0('GET /api/rest/v2/workspaces HTTP/1.1\\r\\nHost: 127.0.0.1:%d',",
    "  '\\r\\nAuthorization: local-api-key\\r\\n\\r'), srv$port), con, sep = '\\n')",
    "flush(con)",
    "Sys.sleep(0.5)",
    'cat("READY\\n")',
    'r <- tryCatch({srv$stop(); "returned"}, interrupt = function(e) "interrupted")',
    'cat(r, "URL:", Sys.getenv("COMET_URL_OVERRIDE", "unset"), "\\n")')
  res <- interrupt_rscript(code, after = 1)
  expect_lt(res$took, 1)
  expect_match(res$stdout, "interrupted URL: unset", fixed = TRUE)
})
