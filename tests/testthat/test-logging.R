test_that("the log file records calls and never the API key", {
  srv <- local_test_server()
  log <- file.path(tempdir(), "cometr-test.log")
  unlink(log)
  old_umask <- Sys.umask("022")
  withr::defer(Sys.umask(old_umask))
  key <- "LoggedKeyShouldNotAppear42"
  withr::local_envvar(COMET_API_KEY = key, COMET_LOGGING_FILE = log,
                      COMET_LOGGING_FILE_LEVEL = "DEBUG")
  cometr:::reset_logging()
  withr::defer(cometr:::reset_logging())
  get_workspaces()
  try(call_api("/nope"), silent = TRUE)
  lines <- readLines(log)
  expect_true(any(grepl("\\[INF\\] API call: GET", lines)))
  expect_true(any(grepl("\\[DBG\\]", lines)))
  expect_true(any(grepl("\\[ERR\\]", lines)))
  expect_false(any(grepl(key, lines, fixed = TRUE)))
  expect_true(all(grepl("^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}", lines)))
  # The file is the user's alone, whatever the umask.
  if (.Platform$OS.type == "unix") {
    expect_identical(format(file.info(log)$mode), "600")
  }
  n <- length(lines)
  expect_null(disable_logging())
  get_workspaces()
  expect_length(readLines(log), n)
})

test_that("half a logging configuration warns and logs nothing", {
  local_isolated_config()
  withr::local_envvar(COMET_LOGGING_FILE = file.path(tempdir(), "x.log"))
  cometr:::reset_logging()
  withr::defer(cometr:::reset_logging())
  expect_warning(expect_false(cometr:::logging_enabled()), "must set both")
  cometr:::reset_logging()
  withr::local_envvar(COMET_LOGGING_FILE_LEVEL = "LOUD")
  expect_warning(expect_false(cometr:::logging_enabled()), "must be one of")
})
