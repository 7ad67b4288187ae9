# Output capture (log_output / log_error) as users meet it: scripts redirected to files,
# terminal sessions and knitted documents, each in its own R process.

capture_env <- function(srv, ...) {
  # The children load the package from the library the tests run against, which may be
  # known to this process only (a temporary library in .libPaths()).
  libs <- paste(.libPaths(), collapse = .Platform$path.sep)
  c("current", R_LIBS = libs, COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "k",
    COMET_WORKSPACE = "local", COMET_PROJECT_NAME = "general", ...)
}

# Run `script` with Rscript under sh, its output redirected as `redirect` says
# (a shell redirection naming the files `out` and `err`); returns the files' bytes.
run_redirected <- function(script, redirect, env) {
  dir <- withr::local_tempdir()
  cmd <- sprintf("exec %s %s %s", shQuote(file.path(R.home("bin"), "Rscript")),
                 shQuote(script), redirect)
  res <- processx::run("sh", c("-c", cmd), wd = dir, env = env, error_on_status = FALSE,
                       timeout = 120)
  read <- function(f) {
    f <- file.path(dir, f)
    if (file.exists(f)) readBin(f, "raw", file.size(f)) else raw()
  }
  list(status = res$status, out = read("out"), err = read("err"))
}

# Run the R code `lines` in a new R process working in `dir`: with Rscript, or
# (`interactive`) as an interactive session reading it from its standard input.
run_session <- function(srv, dir, lines, interactive = FALSE) {
  script <- file.path(dir, "session.R")
  writeLines(lines, script)
  if (interactive) {
    cmd <- file.path(R.home("bin"), "R")
    args <- c("--interactive", "--no-save", "--quiet")
    stdin <- script
  } else {
    cmd <- file.path(R.home("bin"), "Rscript")
    args <- script
    stdin <- NULL
  }
  processx::run(cmd, args, stdin = stdin, wd = dir, env = capture_env(srv), timeout = 120,
                error_on_status = FALSE)
}

# The experiment whose key a session wrote to key.txt in `dir`, stopped when the test ends.
written_experiment <- function(dir, env = parent.frame()) {
  exp <- suppressMessages(get_experiment(readLines(file.path(dir, "key.txt"))))
  withr::defer(exp$stop(), envir = env)
  exp
}

# The experiment key in a console's text, and the text with every key replaced, as
# two runs differ in their keys only.
key_in <- function(bytes) {
  m <- regmatches(rawToChar(bytes), regexpr("[0-9a-f]{32}", rawToChar(bytes)))
  if (length(m) == 0L) NA_character_ else m
}
without_keys <- function(bytes) gsub("[0-9a-f]{32}", "KEY", rawToChar(bytes))

# A training script that prints to both streams, with a long print so the console's
# order depends on the capture relaying stdout promptly, and fails at the end.
training_script <- function() {
  file <- tempfile(fileext = ".R")
  writeLines(c(
    "library(cometr)",
    "log <- as.logical(Sys.getenv('CAPTURE'))",
    "exp <- create_experiment(log_output = log, log_error = log, log_code = FALSE,",
    "                         log_system_details = FALSE, keep_active = FALSE)",
    "for (i in 1:3) cat('training line', i, '\\n')",
    "print(seq_len(20000))",
    "message('a message')",
    "cat('after the message\\n')",
    "print(summary(c(1, 2, 3)))",
    "warning('careful')",
    "cat('last line\\n')",
    "stop('boom')"
  ), file)
  file
}

test_that("a redirected script's files hold what they hold without capture, in order", {
  srv <- local_test_server()
  script <- training_script()
  for (redirect in c("> out 2>&1", "> out 2> err")) {
    on <- run_redirected(script, redirect, capture_env(srv, CAPTURE = "TRUE"))
    off <- run_redirected(script, redirect, capture_env(srv, CAPTURE = "FALSE"))
    expect_identical(on$status, 1L)
    expect_identical(off$status, 1L)
    # Byte for byte, but for the experiment's key in its link.
    expect_identical(without_keys(on$out), without_keys(off$out), label = redirect)
    expect_identical(without_keys(on$err), without_keys(off$err), label = redirect)
  }
  # The shared file ends with the training lines, then the error.
  shared <- run_redirected(script, "> out 2>&1", capture_env(srv, CAPTURE = "TRUE"))
  lines <- strsplit(rawToChar(shared$out), "\n", fixed = TRUE)[[1]]
  expect_identical(tail(lines, 3), c("last line", "Error: boom", "Execution halted"))
  # The experiment's output holds the printed lines, in order, and the messages.
  exp <- suppressMessages(get_experiment(key_in(shared$out)))
  withr::defer(exp$stop())
  out <- strsplit(exp$get_output()$output, "\n", fixed = TRUE)[[1]]
  want <- c("training line 1 ", "training line 3 ", "a message", "after the message",
            "Warning message:", "careful ", "last line", "Error: boom")
  pos <- match(want, out)
  expect_false(anyNA(pos), label = paste(want[is.na(pos)], collapse = ", "))
  expect_identical(pos, sort(pos))
  expect_identical(sum(out == "training line 2 "), 1L)
})

test_that("a terminal session's capture holds what it prints, no prompt, echo or control codes", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  p <- processx::process$new(file.path(R.home("bin"), "R"), c("--no-save", "--quiet"),
                             pty = TRUE, wd = dir, env = capture_env(srv, TERM = "xterm"))
  withr::defer(p$kill())
  # One command at a time, each once the previous one is done (its prompt is back).
  seen <- ""
  await_prompt <- function() {
    deadline <- Sys.time() + 60
    while (Sys.time() < deadline && p$is_alive()) {
      p$poll_io(200)
      seen <<- paste0(seen, p$read_output())
      if (grepl("> (\033\\[\\?2004l)?$", seen) || grepl("> $", seen)) return(invisible())
    }
  }
  send <- function(code) {
    seen <<- ""
    p$write_input(paste0(code, "\n"))
    await_prompt()
  }
  await_prompt()
  send("library(cometr)")
  send(paste("exp <- create_experiment(log_error = TRUE, log_code = FALSE,",
             "log_system_details = FALSE, keep_active = FALSE)"))
  send("x <- c(11, 22, 33)")
  send("x")
  send("cat('typed and printed\\n')")
  send("message('a message')")
  send("exp$stop()")
  send("writeLines(exp$get_key(), 'key.txt')")
  p$write_input("q('no')\n")
  p$wait(30)
  out <- written_experiment(dir)$get_output()$output
  expect_identical(strsplit(out, "\n", fixed = TRUE)[[1]],
                   c("[1] 11 22 33", "typed and printed", "a message"))
  expect_false(grepl("\033", out, fixed = TRUE))
  expect_false(grepl("> ", out, fixed = TRUE))
})

test_that("a session reading its commands from a file captures output, not the echo", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  res <- run_session(srv, dir, interactive = TRUE, c(
    "library(cometr)",
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, keep_active = FALSE)",
    "x <- 1:3",
    "x",
    "cat('printed line\\n')",
    "exp$stop()",
    "writeLines(exp$get_key(), 'key.txt')"
  ))
  expect_identical(res$status, 0L)
  # The console echoes the commands after their prompts ...
  expect_match(res$stdout, "> x <- 1:3", fixed = TRUE)
  # ... the experiment's output holds only what they printed.
  expect_identical(written_experiment(dir)$get_output()$output, "[1] 1 2 3\nprinted line\n")
})

test_that("a knitted document's printed lines are in the experiment's output", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  rmd <- file.path(dir, "report.Rmd")
  writeLines(c(
    "# Report", "",
    "```{r}",
    "library(cometr)",
    "exp <- create_experiment(log_error = TRUE, log_code = FALSE, log_system_details = FALSE,",
    "                         keep_active = FALSE)",
    "writeLines(exp$get_key(), 'key.txt')",
    "```", "",
    "```{r}",
    "for (i in 1:2) cat('knitted line', i, '\\n')",
    "print(c(a = 1, b = 2))",
    "message('knitted message')",
    "```", "",
    "```{r}",
    "cat('in the last chunk\\n')",
    "exp$stop()",
    "cat('after stop\\n')",
    "```"
  ), rmd)
  res <- run_session(srv, dir, "knitr::knit('report.Rmd', 'report.md', quiet = TRUE)")
  expect_identical(res$status, 0L)
  md <- readLines(file.path(dir, "report.md"))
  # knitr still puts the output in the document.
  expect_true("## knitted line 1 " %in% md)
  expect_true("## after stop" %in% md)
  out <- strsplit(written_experiment(dir)$get_output()$output, "\n", fixed = TRUE)[[1]]
  expect_identical(out, c("knitted line 1 ", "knitted line 2 ", "a b ", "1 2 ",
                          "knitted message", "in the last chunk"))
})

test_that("forked workers' output is captured through the parent, and nothing hangs", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  res <- run_session(srv, dir, c(
    "library(cometr)",
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, keep_active = FALSE)",
    "writeLines(exp$get_key(), 'key.txt')",
    "cat('before the workers\\n')",
    "for (round in 1:3) invisible(parallel::mclapply(1:2, function(i) {",
    "  cat(sprintf('worker %d of round %d\\n', i, round)); i }, mc.cores = 2))",
    "cat('after the workers\\n')"
  ))
  expect_identical(res$status, 0L)
  out <- strsplit(written_experiment(dir)$get_output()$output, "\n", fixed = TRUE)[[1]]
  expect_identical(out[c(1, length(out))], c("before the workers", "after the workers"))
  expect_setequal(out[-c(1, length(out))], sprintf("worker %d of round %d", 1:2, rep(1:3, each = 2)))
})

test_that("a script run on a terminal keeps the terminal while its output is captured", {
  srv <- local_test_server()
  dir <- withr::local_tempdir()
  script <- file.path(dir, "tty.R")
  writeLines(c(
    "library(cometr)",
    "exp <- create_experiment(log_error = TRUE, log_code = FALSE, log_system_details = FALSE,",
    "                         keep_active = FALSE)",
    "cat('stdout is a terminal:', isatty(stdout()), '\\n')",
    "message('stderr is a terminal: ', isatty(stderr()))",
    "exp$stop()",
    "writeLines(exp$get_key(), 'key.txt')"
  ), script)
  p <- processx::process$new(file.path(R.home("bin"), "Rscript"), script, pty = TRUE,
                             wd = dir, env = capture_env(srv))
  withr::defer(p$kill())
  p$wait(60000)
  out <- written_experiment(dir)$get_output()$output
  expect_identical(out, "stdout is a terminal: TRUE \nstderr is a terminal: TRUE\n")
})
