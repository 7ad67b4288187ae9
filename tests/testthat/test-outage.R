# A training script whose server goes down mid-run behaves as it would with the server
# up: its loop takes the same time, it ends normally and promptly, everything it logged
# is in the spool, and send_spool() delivers all of it exactly once.

# The training script: `n` steps of a little work each (computation and a pause, as a
# training step computes and waits on data), logging two metrics a step, a parameter
# and an other now and then. With KILL_PID set, it kills that process (the server)
# with SIGKILL halfway through. It prints the loop's time ("LOOP <seconds>").
train_script <- c(
  "library(cometr)",
  "n <- 300L",
  "kill <- Sys.getenv('KILL_PID')",
  "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE,",
  "                         log_output = FALSE, keep_active = FALSE)",
  "writeLines(exp$get_key(), Sys.getenv('KEY_FILE'))",
  "m <- matrix(0.5, 40, 40)",
  "t0 <- Sys.time()",
  "for (i in seq_len(n)) {",
  "  if (i == n %/% 2 && nzchar(kill)) tools::pskill(as.integer(kill), tools::SIGKILL)",
  "  for (k in 1:4) m <- crossprod(m) / sum(m)",
  "  Sys.sleep(0.004)",
  "  exp$log_metric('loss', 1 / i, step = i)",
  "  exp$log_metric('acc', i / n, step = i)",
  "  if (i %% 50 == 0) exp$log_parameter(paste0('lr_', i), 1 / i)",
  "  if (i %% 100 == 0) exp$log_other(paste0('note_', i), i)",
  "}",
  "cat(sprintf('LOOP %.4f\\n', as.numeric(difftime(Sys.time(), t0, units = 'secs'))))"
)
train_steps <- 300

# Run the training script against `url`; returns the loop's time, the time from the
# loop's end to the process's exit, the exit status, the experiment key and the folder
# its spool files would be in.
run_training <- function(url, kill_pid = NULL) {
  file <- tempfile(fileext = ".R")
  writeLines(train_script, file)
  cache <- tempfile("cache-")
  key_file <- tempfile()
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  p <- processx::process$new(
    file.path(R.home("bin"), "Rscript"), file, stdout = "|", stderr = "|",
    env = c("current", R_LIBS = libs, R_USER_CACHE_DIR = cache, COMET_URL_OVERRIDE = url,
            COMET_API_KEY = "outage-key", COMET_WORKSPACE = "local",
            COMET_PROJECT_NAME = "general", KEY_FILE = key_file,
            KILL_PID = if (is.null(kill_pid)) "" else as.character(kill_pid)))
  withr::defer(if (p$is_alive()) p$kill())
  out <- ""
  started <- Sys.time()
  while (!grepl("LOOP [0-9.]+", out) && p$is_alive() &&
         difftime(Sys.time(), started, units = "secs") < 120) {
    p$poll_io(100)
    out <- paste0(out, p$read_output())
  }
  looped <- Sys.time()
  p$wait(60000)
  ended <- as.numeric(difftime(Sys.time(), looped, units = "secs"))
  out <- paste0(out, p$read_all_output())
  loop <- as.numeric(sub(".*LOOP ([0-9.]+).*", "\\1", out))
  list(loop = loop, end = ended, status = p$get_exit_status(), stderr = p$read_all_error(),
       key = readLines(key_file), spool = file.path(cache, "R", "cometr", "spool"))
}

# Points of metric `name` the server holds for experiment `key`, as their steps.
stored_points <- function(key, name) {
  exp <- suppressMessages(get_experiment(key))
  on.exit(exp$stop())
  vapply(exp$get_metric(name)$metrics, function(x) as.numeric(x$step), 0)
}

test_that("a training script whose server is killed mid-run runs on, ends at once and loses nothing", {
  skip_if_not_installed("processx")
  skip_on_os("windows")
  local_isolated_config()
  up <- server_process(withr::local_tempdir())
  # The loop is timed with the server up and with it killed halfway, five times each,
  # alternating, so that the load of a busy machine (the tests run on two shared cores)
  # falls on both alike; the medians are compared, so one run slowed by a neighbour
  # does not decide. Each step pauses 4 ms and computes a little (about 6 ms a step,
  # 2 s a run): logging that waited on the dead server (one connection attempt or retry
  # in the loop's thread) would cost far beyond the 10% allowed (0.6 ms a step), while
  # the runs' spread on such a machine, measured at 2-6%, stays within it.
  downs <- list()
  with_server <- without_server <- numeric()
  for (round in 1:5) {
    with_server[round] <- run_training(up$url)$loop
    dir <- withr::local_tempdir()
    srv <- server_process(dir)
    run <- run_training(srv$url, kill_pid = srv$proc$get_pid())
    expect_false(srv$proc$is_alive())
    without_server[round] <- run$loop
    downs[[round]] <- c(run, list(dir = dir))
  }
  expect_lt(median(without_server), 1.1 * median(with_server))

  for (run in downs) {
    # The script ends normally, and promptly: its end does not wait out the 30 s stop
    # timeout for a server that refuses every connection.
    expect_identical(run$status, 0L)
    expect_lt(run$end, 10)
    expect_match(run$stderr, "cannot be reached", fixed = TRUE)
  }
  for (run in downs[1:2]) {
    # Everything not delivered before the kill is in the spool, and send_spool()
    # delivers it to the server restarted on the same data, exactly once.
    files <- list.files(run$spool, pattern = "\\.spool$", full.names = TRUE)
    expect_length(files, 1)
    srv <- local_server(dir = run$dir, activate = FALSE)
    withr::defer(srv$stop())
    out <- suppressMessages(send_spool(run$spool, api_key = "outage-key", url = srv$url))
    expect_true(all(out$delivered))
    expect_gt(out$items, 0)
    batches <- function() sum(grepl("batch/logger/experiment/metric", srv$requests(), fixed = TRUE))
    sent <- batches()
    expect_gt(sent, 0)
    # Once delivered, nothing is left to send again.
    expect_message(send_spool(run$spool, api_key = "outage-key", url = srv$url),
                   "No undelivered data")
    expect_identical(batches(), sent)
    withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "outage-key",
                        COMET_WORKSPACE = "local", COMET_PROJECT_NAME = "general")
    expect_identical(sort(stored_points(run$key, "loss")), as.numeric(seq_len(train_steps)))
    expect_identical(sort(stored_points(run$key, "acc")), as.numeric(seq_len(train_steps)))
    exp <- suppressMessages(get_experiment(run$key))
    params <- exp$get_parameters()$values
    expect_setequal(vapply(params, function(p) p$name, ""),
                    paste0("lr_", seq(50, train_steps, by = 50)))
    exp$stop()
    srv$stop()
  }
})
