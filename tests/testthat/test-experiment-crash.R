# A script that ends in an error leaves its run recorded as crashed, with the error's
# message, as Comet's SDK does; a script that ends normally leaves a finished run.

# Run `code` in an Rscript child logging to the test's server `srv`; the child prints
# its experiment's key as "KEY=<key>". Returns the exit status, output and key.
crash_child <- function(srv, code, env = character()) {
  skip_if_not_installed("processx")
  file <- tempfile(fileext = ".R")
  writeLines(c("library(cometr)",
               "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,",
               "                         log_output = FALSE, keep_active = FALSE)",
               'cat("KEY=", exp$get_key(), "\\n", sep = "")',
               'exp$log_metric("loss", 0.5, step = 1)',
               code), file)
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  res <- processx::run(file.path(R.home("bin"), "Rscript"), file, error_on_status = FALSE,
                       timeout = 120, env = c("current", R_LIBS = libs,
                                              COMET_URL_OVERRIDE = srv$url,
                                              COMET_API_KEY = "local-api-key",
                                              COMET_WORKSPACE = "local",
                                              COMET_PROJECT_NAME = "general", env))
  key <- sub("^KEY=", "", grep("^KEY=", strsplit(res$stdout, "\n")[[1]], value = TRUE))
  expect_length(key, 1)
  list(status = res$status, stdout = res$stdout, stderr = res$stderr, key = key)
}

# The run as the server stored it: its metadata and metric values.
stored_run <- function(key) {
  exp <- suppressMessages(get_experiment(key))
  meta <- exp$get_metadata()
  points <- exp$get_metric("loss")$metrics
  exp$stop()
  list(meta = meta, points = length(points))
}

test_that("a script that ends in an uncaught error leaves a crashed run with the error", {
  srv <- local_test_server()
  res <- crash_child(srv, c("train <- function() stop('boom')", "train()",
                            'cat("NOT REACHED\\n")'))
  # R's own ending is unchanged: the error, "Execution halted", status 1.
  expect_identical(res$status, 1L)
  expect_match(res$stderr, "Error in train() : boom", fixed = TRUE)
  expect_match(res$stderr, "Execution halted", fixed = TRUE)
  expect_false(grepl("NOT REACHED", res$stdout))
  run <- stored_run(res$key)
  expect_false(run$meta$running)
  expect_true(run$meta$hasCrashed)
  expect_match(run$meta$error, "boom", fixed = TRUE)
  expect_match(run$meta$error, "train()", fixed = TRUE)
  # What was logged before the error arrived too.
  expect_identical(run$points, 1L)
  expect_true(any(grepl("update-status", srv$requests(), fixed = TRUE)))
})

test_that("a script that ends normally leaves a finished run, not a crashed one", {
  srv <- local_test_server()
  res <- crash_child(srv, c(
    # An error caught by the script is no crash.
    "r <- tryCatch(stop('handled'), error = function(e) 'caught')",
    "try(log(-1) + stop('also handled'), silent = TRUE)",
    'cat("END\\n")'))
  expect_identical(res$status, 0L)
  expect_match(res$stdout, "END")
  run <- stored_run(res$key)
  expect_false(run$meta$running)
  expect_false(run$meta$hasCrashed)
  expect_null(run$meta$error)
  expect_identical(run$points, 1L)
})

test_that("the user's own error option still runs, and decides whether the script goes on", {
  srv <- local_test_server()
  # A handler that returns: R goes on with the script, which then ends normally.
  res <- crash_child(srv, c('options(error = function() cat("HANDLED\\n"))',
                            "stop('not the end')", 'cat("WENT ON\\n")'))
  expect_identical(res$status, 0L)
  expect_match(res$stdout, "HANDLED\\s+WENT ON")
  expect_false(stored_run(res$key)$meta$hasCrashed)
  # Set before the experiment: the user's handler quits, with its own status.
  res <- crash_child(srv, c("stop('boom')"),
                     env = c(R_PROFILE_USER = local({
                       p <- tempfile()
                       writeLines('options(error = quote({cat("QUITTING\\n"); q("no", status = 3)}))', p)
                       p
                     })))
  expect_identical(res$status, 3L)
  expect_match(res$stdout, "QUITTING")
  run <- stored_run(res$key)
  expect_true(run$meta$hasCrashed)
  expect_match(run$meta$error, "boom", fixed = TRUE)
})

test_that("an offline run that ends in an error is uploaded as crashed", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  res <- crash_child(srv, "stop('offline boom')",
                     env = c(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir))
  expect_identical(res$status, 1L)
  archive <- file.path(dir, paste0(res$key, ".zip"))
  expect_true(file.exists(archive))
  unpacked <- withr::local_tempdir()
  utils::unzip(archive, exdir = unpacked)
  meta <- jsonlite::read_json(file.path(unpacked, "experiment.json"))
  expect_true(meta$customer_error_reported)
  expect_match(meta$customer_error_message, "offline boom", fixed = TRUE)
  invisible(suppressMessages(upload_offline(archive)))
  run <- stored_run(res$key)
  expect_true(run$meta$hasCrashed)
  expect_match(run$meta$error, "offline boom", fixed = TRUE)
  expect_identical(run$points, 1L)
})
