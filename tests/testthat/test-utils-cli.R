# Messages in cli's style and progress bars on transfers (R/utils-cli.R), and what
# print() shows of experiments and artifacts.

# Ports, keys, temporary folders and times vary between runs.
scrub <- function(x) {
  x <- gsub("127\\.0\\.0\\.1:[0-9]+", "127.0.0.1:<port>", x)
  x <- gsub("[0-9a-f]{32}", "<key>", x)
  x <- gsub("'[^']*/(runs|out)(/[^']*)?'", "'<dir>/\\1\\2'", x)
  x <- gsub("(/tmp|/var)[^ ']*/(runs|out)", "<dir>/\\2", x)
  x <- gsub("(/tmp|/var)/[^ ']*", "<tmp>", x)
  x <- gsub("ETA *[0-9a-z?]+", "ETA <t>", x)
  # Offline, what is queued depends on when the writer last ran.
  x <- gsub("queued: .*$", "queued: <n>", x)
  x
}

test_that("informative messages are cli messages of class cometr_message", {
  local_test_server()
  m <- tryCatch(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                  log_output = FALSE, keep_active = FALSE),
                message = identity)
  expect_s3_class(m, c("cometr_created_message", "cometr_message", "rlang_message", "message"))
  # Braces in user data are text, never cli markup.
  e <- tryCatch(cometr:::cometr_inform(c(i = "x {v}"), .envir = list2env(list(v = "{oops}"))),
                message = identity)
  expect_identical(conditionMessage(e), "i x {oops}")
  # One line, however long: no wrapping at the console's width.
  long <- strrep("word ", 60)
  e <- tryCatch(cometr:::cometr_inform("{long}", .envir = environment()), message = identity)
  expect_false(grepl("\n.", conditionMessage(e)))
  expect_silent(suppressMessages(cometr:::cometr_inform("quiet")))
})

test_that("creating, replacing and retrieving experiments say so", {
  local_test_server()
  expect_snapshot({
    exp <- create_experiment(experiment_name = "first", log_code = FALSE,
                             log_system_details = FALSE, log_output = FALSE,
                             keep_active = FALSE)
    exp2 <- create_experiment(log_code = FALSE, log_system_details = FALSE,
                              log_output = FALSE, keep_active = FALSE)
    again <- get_experiment(exp$get_key())
  }, transform = scrub)
  exp2$stop()
  again$stop()
})

test_that("an experiment prints its name, key, link, project, state and queue", {
  srv <- local_test_server()
  exp <- suppressMessages(create_experiment(experiment_name = "my-run", log_code = FALSE,
                                            log_system_details = FALSE, log_output = FALSE,
                                            keep_active = FALSE))
  invisible(exp$get_metadata()) # a read sends what is queued first
  expect_snapshot(print(exp), transform = scrub)
  # What waits while the server is down is shown as queued.
  srv$set_faults(list(error_rate = 1, paths = "batch"))
  withr::local_options(cometr.flush_timeout = 0)
  for (i in 1:3) exp$log_metric("loss", i, step = i)
  Sys.sleep(0.5)
  out <- capture.output(print(exp))
  expect_match(out, "queued: +[1-9][0-9]* items?", all = FALSE)
  srv$set_faults(NULL)
  suppressMessages(exp$stop())
  expect_snapshot(print(exp), transform = scrub)
  # 0.4.0's line comes first, so a script reading it still finds the URL there.
  expect_match(capture.output(print(exp))[[1]], paste0("^Comet experiment ", exp$get_url(), " $"))
  expect_identical(withVisible(print(exp))$visible, FALSE)
})

test_that("an offline experiment prints where it is recorded; offline messages", {
  local_test_server()
  dir <- file.path(tempfile(), "runs")
  withr::local_envvar(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir)
  expect_snapshot({
    exp <- create_experiment(experiment_name = "away", log_code = FALSE,
                             log_system_details = FALSE, log_output = FALSE,
                             keep_active = FALSE)
    print(exp)
    exp$log_metric("loss", 1, step = 1)
    exp$stop()
  }, transform = scrub)
  withr::local_envvar(COMET_OFFLINE = NA)
  expect_snapshot(urls <- upload_offline(dir), transform = scrub)
  expect_snapshot(upload_offline(file.path(tempfile(), "none")), error = TRUE, transform = scrub)
})

test_that("artifacts and logged artifacts print name, version, size and assets", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  f <- file.path(withr::local_tempdir(), "data.bin")
  writeBin(as.raw(1:200), f)
  a <- create_artifact("images", "dataset", artifact_version = "1.2.0", aliases = "best")
  a$add(f, logical_path = "raw/data.bin")
  a$add_remote("s3://bucket/all.tar")
  expect_snapshot(print(a))
  expect_snapshot(logged <- exp$log_artifact(a), transform = scrub)
  expect_snapshot(print(logged))
  expect_snapshot(print(exp$get_artifact("images")), transform = scrub)
  out <- file.path(withr::local_tempdir(), "out")
  expect_snapshot(copy <- logged$download(out), transform = scrub)
  # A version whose assets cannot be listed still prints, and says why.
  srv$inject_fault("artifacts/version/files", 500L, times = 5L)
  fresh <- suppressMessages(exp$get_artifact("images"))
  expect_output(print(fresh), "assets: not listed")
})

test_that("transfers show a progress bar when asked, none by default outside a console", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  dir <- withr::local_tempdir()
  for (i in 1:3) writeBin(as.raw(rep(i, 1000)), file.path(dir, paste0("f", i, ".bin")))
  a <- create_artifact("bars", "dataset")
  a$add(dir)
  # Not interactive: no bar unless asked.
  msgs <- capture_messages(logged <- exp$log_artifact(a))
  expect_false(any(grepl("Uploading 'local/bars", msgs, fixed = TRUE)))
  expect_match(msgs, "Still uploading", all = FALSE)
  withr::local_options(cometr.progress = TRUE, cli.progress_show_after = 0)
  a2 <- create_artifact("bars2", "dataset")
  a2$add(dir)
  msgs <- capture_messages(logged <- exp$log_artifact(a2))
  expect_match(msgs, "Uploading 'local/bars2:1.0.0'.*kB", all = FALSE)
  # With the bar shown, the per-asset lines are left to it.
  expect_false(any(grepl("Still uploading", msgs)))
  # Slow enough for cli to draw the bar between files.
  srv$set_faults(list(latency_ms = 300, paths = "get-asset"))
  msgs <- capture_messages(logged$download(file.path(dir, "copy")))
  srv$set_faults(NULL)
  expect_match(msgs, "Downloading 'local/bars2:1.0.0'.*kB", all = FALSE)
  expect_false(any(grepl("Downloading Artifact asset", msgs)))
  withr::local_options(cometr.progress = FALSE)
  msgs <- capture_messages(logged$download(file.path(dir, "copy2")))
  expect_false(any(grepl("Downloading 'local/bars2", msgs, fixed = TRUE)))
})

test_that("upload_offline() and send_spool() show progress over their files when asked", {
  srv <- local_test_server()
  dir <- file.path(tempfile(), "runs")
  withr::with_envvar(c(COMET_OFFLINE = "TRUE", COMET_OFFLINE_DIRECTORY = dir), {
    for (i in 1:2) {
      exp <- suppressMessages(create_experiment(log_code = FALSE, log_system_details = FALSE,
                                                log_output = FALSE, keep_active = FALSE))
      exp$log_metric("m", i)
      suppressMessages(exp$stop())
    }
  })
  withr::local_options(cometr.progress = TRUE, cli.progress_show_after = 0)
  # Slow enough for the bar to be drawn between the two.
  srv$set_faults(list(latency_ms = 300, paths = "logger/add/run"))
  msgs <- capture_messages(capture.output(upload_offline(dir)))
  expect_match(msgs, "Uploading offline experiments .* 1/2", all = FALSE)
  empty <- withr::local_tempdir()
  expect_snapshot(send_spool(empty), transform = scrub)
})
