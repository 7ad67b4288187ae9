# Run the test suite against the installed package and print one summary line:
# "N passed, N failed, N skipped".   Usage: Rscript tools/run-tests.R [library-dir]
args <- commandArgs(TRUE)
if (length(args) >= 1) .libPaths(c(args[1], .libPaths()))
pkg <- read.dcf("DESCRIPTION", fields = "Package")[1, 1]
options(testthat.progress.max_fails = Inf)
# The package's own runs are not CRAN's: snapshot tests (expect_snapshot()) run here.
Sys.setenv(NOT_CRAN = "true")
filter <- if (length(args) >= 2) args[2] else NULL
res <- testthat::test_dir("tests/testthat", package = pkg, filter = filter,
                          load_package = "installed",
                          reporter = testthat::ProgressReporter$new(show_praise = FALSE),
                          stop_on_failure = FALSE, stop_on_warning = FALSE)
df <- as.data.frame(res)
n_fail <- sum(df$failed) + sum(df$error)
n_skip <- sum(df$skipped)
n_pass <- if ("passed" %in% names(df)) sum(df$passed) else sum(df$nb) - sum(df$failed)
cat(sprintf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip))
# A skipped test is a failed promise of the suite: the run fails on any.
quit(status = if (n_fail > 0 || n_skip > 0 || nrow(df) == 0) 1L else 0L)
