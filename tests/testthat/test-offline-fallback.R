# Comet unreachable at the start of a run: create_experiment() notices within seconds and
# records the run offline (unless told not to), for upload_offline() to send later.

closed_port_url <- function() {
  # A port just freed: nothing listens there, so connections are refused.
  for (i in 1:20) {
    port <- sample(20000:40000, 1)
    s <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(s)) {
      close(s)
      return(sprintf("http://127.0.0.1:%d/clientlib/", port))
    }
  }
  stop("no free port")
}

test_that("an unreachable service turns the run into an offline one, uploaded later", {
  local_isolated_config()
  dir <- file.path(tempfile(), "runs")
  withr::local_envvar(COMET_URL_OVERRIDE = closed_port_url(), COMET_API_KEY = "k",
                      COMET_WORKSPACE = "local", COMET_PROJECT_NAME = "general",
                      COMET_OFFLINE_DIRECTORY = dir)
  took <- system.time(msgs <- capture_messages(
    exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,
                             log_output = FALSE, keep_active = FALSE)
  ))[["elapsed"]]
  expect_lt(took, 10)
  expect_match(msgs, "cannot be reached at http://127.0.0.1", all = FALSE)
  expect_match(msgs, dir, fixed = TRUE, all = FALSE)
  expect_match(msgs, "COMET_OFFLINE_FALLBACK", fixed = TRUE, all = FALSE)
  key <- exp$get_key()
  exp$log_metric("loss", 0.5, step = 1)
  exp$log_metric("loss", 0.25, step = 2)
  suppressMessages(exp$stop())
  expect_length(list.files(dir, pattern = "\\.zip$"), 1L)
  # Later, with the service back: the archive uploads and holds the metrics.
  srv <- local_server()
  withr::defer(srv$stop())
  msgs <- capture_messages(capture.output(upload_offline(dir)))
  # Counts agree with their nouns.
  expect_match(msgs, "2 metric values, 1 parameter|2 metric values, [02-9][0-9]* parameters",
               all = FALSE)
  expect_false(any(grepl("\\b1 [a-z ]+s\\b,", msgs)))
  back <- suppressMessages(get_experiment(key))
  values <- vapply(back$get_metric("loss")$metrics, function(m) as.numeric(m$metricValue), 1)
  expect_setequal(values, c(0.5, 0.25))
})

test_that("with the fallback off, an unreachable service is a prompt connection error", {
  local_isolated_config()
  withr::local_envvar(COMET_URL_OVERRIDE = closed_port_url(), COMET_API_KEY = "k",
                      COMET_WORKSPACE = "w", COMET_PROJECT_NAME = "p")
  withr::local_options(cometr.offline_fallback = FALSE)
  took <- system.time(err <- expect_error(
    create_experiment(log_code = FALSE, log_system_details = FALSE, log_output = FALSE,
                      keep_active = FALSE),
    class = "cometr_connection_error"
  ))[["elapsed"]]
  expect_lt(took, 10)
  expect_match(conditionMessage(err), "cannot be reached at http://127.0.0.1")
  withr::local_options(cometr.offline_fallback = NULL)
  withr::local_envvar(COMET_OFFLINE_FALLBACK = "false")
  expect_error(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                 log_output = FALSE, keep_active = FALSE),
               class = "cometr_connection_error")
})

test_that("counts in messages agree with their nouns", {
  expect_identical(cometr:::n_of(1, "file"), "1 file")
  expect_identical(cometr:::n_of(0, "file"), "0 files")
  expect_identical(cometr:::n_of(2L, "metric value"), "2 metric values")
})
