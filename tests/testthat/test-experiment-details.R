# Output capture, code logging and the end-of-session flush, in real Rscript processes.

test_that("stdout and stderr reach the server in order and still reach the console", {
  srv <- local_test_server()
  res <- run_rscript(c(
    "library(cometr)",
    "exp <- create_experiment(log_error = TRUE, log_code = FALSE, log_system_details = FALSE,",
    "                         keep_active = FALSE)",
    "cat('key=', exp$get_key(), '\\n', sep = '')",
    "for (i in 1:3) cat('out line', i, '\\n')",
    "message('err line 1')",
    "print(1:3)",
    "warning('careful')",
    "cat('last partial line')",
    "exp$stop()",
    "cat('\\nafter stop\\n')"
  ), env = c(paste0("COMET_URL_OVERRIDE=", srv$url), "COMET_API_KEY=k",
             "COMET_WORKSPACE=local", "COMET_PROJECT_NAME=general"))
  expect_identical(res$status, 0L)
  key <- sub("^key=", "", grep("^key=", res$stdout, value = TRUE))
  expect_match(key, "^[0-9a-f]{32}$")
  # The console still shows everything.
  expect_true(all(c("out line 1 ", "out line 3 ", "[1] 1 2 3") %in% res$stdout))
  expect_true(any(grepl("last partial line", res$stdout)))
  expect_true("err line 1" %in% res$stderr)
  expect_true(any(grepl("careful", res$stderr)))
  # The server has every captured line, once, in order, up to the last partial one.
  exp <- suppressMessages(get_experiment(key))
  withr::defer(exp$stop())
  out <- strsplit(exp$get_output()$output, "\n", fixed = TRUE)[[1]]
  # In order within each stream.
  for (want in list(c("out line 1 ", "out line 2 ", "out line 3 ", "[1] 1 2 3"),
                    c("err line 1", "Warning message:", "careful "))) {
    pos <- match(want, out)
    expect_false(anyNA(pos))
    expect_identical(pos, sort(pos))
  }
  expect_identical(sum(out == "out line 2 "), 1L)
  expect_true(any(grepl("careful", out)))
  expect_true("last partial line" %in% out)
  expect_false("after stop" %in% out)
})

test_that("without log_error, stderr is not captured", {
  srv <- local_test_server()
  res <- run_rscript(c(
    "library(cometr)",
    "exp <- create_experiment(log_code = FALSE, log_system_details = FALSE, keep_active = FALSE)",
    "cat('key=', exp$get_key(), '\\n', sep = '')",
    "message('not captured')",
    "cat('captured\\n')",
    "exp$stop()"
  ), env = c(paste0("COMET_URL_OVERRIDE=", srv$url), "COMET_API_KEY=k",
             "COMET_WORKSPACE=local", "COMET_PROJECT_NAME=general"))
  expect_identical(res$status, 0L)
  key <- sub("^key=", "", grep("^key=", res$stdout, value = TRUE))
  exp <- suppressMessages(get_experiment(key))
  withr::defer(exp$stop())
  out <- exp$get_output()$output
  expect_match(out, "captured")
  expect_false(grepl("not captured", out))
  expect_true("not captured" %in% res$stderr)
})

test_that("log_code logs the Rscript file and a source()d file; R exit flushes", {
  srv <- local_test_server()
  env <- c(paste0("COMET_URL_OVERRIDE=", srv$url), "COMET_API_KEY=k",
           "COMET_WORKSPACE=local", "COMET_PROJECT_NAME=general")
  code <- c("library(cometr)",
            "exp <- create_experiment(log_output = FALSE, log_system_details = TRUE,",
            "                         keep_active = TRUE)",
            "cat('key=', exp$get_key(), '\\n', sep = '')",
            "for (i in 1:500) exp$log_metric('m', i)",
            "# no stop(): the end of the session flushes")
  res <- run_rscript(code, env = env)
  expect_identical(res$status, 0L)
  key <- sub("^key=", "", grep("^key=", res$stdout, value = TRUE))
  exp <- suppressMessages(get_experiment(key))
  withr::defer(exp$stop())
  expect_identical(exp$get_code()$code, paste(code, collapse = "\n"))
  expect_length(exp$get_metric("m")$metrics, 500)
  sd <- exp$get_system_details()
  expect_identical(sd$osType, Sys.info()[["sysname"]])
  expect_true(is.numeric(sd$pid))
  pkgs <- unlist(sd$installedPackages)
  expect_false(anyDuplicated(pkgs) > 0)
  expect_true(any(startsWith(pkgs, "R6@")))

  inner <- tempfile(fileext = ".R")
  writeLines(c("exp <- create_experiment(log_output = FALSE, log_system_details = FALSE,",
               "                         keep_active = FALSE)",
               "cat('key=', exp$get_key(), '\\n', sep = '')", "exp$stop()"), inner)
  res <- run_rscript(c("library(cometr)", sprintf("source('%s')", inner)), env = env)
  expect_identical(res$status, 0L)
  key <- sub("^key=", "", grep("^key=", res$stdout, value = TRUE))
  exp2 <- suppressMessages(get_experiment(key))
  on.exit(exp2$stop(), add = TRUE)
  expect_identical(exp2$get_code()$code, paste(readLines(inner), collapse = "\n"))
})

test_that("log_git_info logs branch, commit, user, root and a patch of all changes", {
  skip_if(!nzchar(Sys.which("git")), "git is not installed")
  srv <- local_test_server()
  repo <- withr::local_tempdir()
  withr::with_dir(repo, {
    system2("git", c("init", "-q", "-b", "trunk"))
    system2("git", c("config", "user.name", "'Ann Example'"))
    system2("git", c("config", "user.email", "ann@example.org"))
    system2("git", c("remote", "add", "origin", "https://example.org/r.git"))
    writeLines("a", "f.txt")
    system2("git", c("add", "f.txt"))
    system2("git", c("commit", "-q", "-m", "first"))
    writeLines(c("a", "staged"), "f.txt")
    system2("git", c("add", "f.txt"))
    writeLines(c("a", "staged", "unstaged"), "f.txt")
    exp <- suppressMessages(create_experiment(log_git_info = TRUE, log_code = FALSE,
                                              log_output = FALSE, log_system_details = FALSE,
                                              keep_active = FALSE))
  })
  withr::defer(exp$stop())
  g <- exp$get_git_metadata()
  expect_identical(g$branch, "trunk")
  expect_identical(g$origin, "https://example.org/r.git")
  expect_match(g$parent, "^[0-9a-f]{40}$")
  expect_identical(g$user, "Ann Example <ann@example.org>")
  expect_identical(normalizePath(g$root), normalizePath(repo))
  patch <- exp$get_git_patch()
  expect_match(patch, "+staged", fixed = TRUE)
  expect_match(patch, "+unstaged", fixed = TRUE)
})
