# The source tarball is what R users install. It must build the way CRAN builds it:
# from the crates vendored inside it, with cargo cut off from the network and from any
# registry cache. This compiles every crate once (several minutes on two cores), so it
# runs where the package's source tree is at hand (tools/run-tests.R, CI), not in
# R CMD check of an installed copy.

source_tree <- function() {
  top <- normalizePath(test_path("..", ".."), mustWork = FALSE)
  needed <- file.path(top, c("DESCRIPTION", "Cargo.lock", "tools/build-tarball.sh"))
  if (all(file.exists(needed))) top else NULL
}

# Run a command with extra environment variables, its output going to `log`; returns
# the exit status, and shows the end of the log when it is not 0.
run_logged <- function(command, args, log, env = character()) {
  status <- system2(command, args, stdout = log, stderr = log, env = env)
  if (status != 0) cat(tail(readLines(log), 60), sep = "\n")
  status
}

test_that("the source tarball installs with the network cut off for cargo", {
  top <- source_tree()
  skip_if(is.null(top), "needs the package's source tree")
  out <- withr::local_tempdir()

  # Vignettes are built by tools/check.sh; here they would compile the crates twice.
  status <- run_logged("bash", c(shQuote(file.path(top, "tools", "build-tarball.sh")),
                                 shQuote(out), "--no-build-vignettes", "--no-manual"),
                       file.path(out, "build.log"))
  expect_identical(status, 0L)
  tarball <- list.files(out, "^cometr_.*[.]tar[.]gz$", full.names = TRUE)
  expect_length(tarball, 1L)
  files <- untar(tarball, list = TRUE)
  expect_true(all(c("cometr/src/rust/vendor.tar.xz", "cometr/src/rust/Cargo.lock",
                    "cometr/src/Makevars", "cometr/src/Makevars.win",
                    "cometr/tools/check-rust.sh", "cometr/inst/AUTHORS") %in% files))
  expect_false(any(c("cometr/Cargo.toml", "cometr/Cargo.lock") %in% files))
  expect_false(any(grepl("^cometr/src/rust/(target|vendor|cargo-home)/", files)))

  # An empty cargo home holds no registry cache, and a proxy on a closed port makes any
  # download fail; the target directory is the tarball's own.
  lib <- withr::local_tempdir()
  cargo_home <- withr::local_tempdir()
  proxy <- "http://127.0.0.1:9"
  offline <- c(CARGO_NET_OFFLINE = "true", CARGO_HOME = cargo_home, CARGO_TARGET_DIR = "",
               https_proxy = proxy, http_proxy = proxy, HTTPS_PROXY = proxy,
               HTTP_PROXY = proxy, ALL_PROXY = proxy, CARGO_HTTP_PROXY = proxy)
  install_log <- file.path(out, "install.log")
  status <- run_logged(file.path(R.home("bin"), "R"),
                       c("CMD", "INSTALL", paste0("--library=", shQuote(lib)), shQuote(tarball)),
                       install_log, env = paste0(names(offline), "=", shQuote(offline)))
  expect_identical(status, 0L)
  log <- readLines(install_log)
  expect_true(any(grepl("using Rust compiler: 'rustc ", log, fixed = TRUE)))
  expect_true(any(grepl("--offline", log, fixed = TRUE)))
  expect_length(list.files(cargo_home, recursive = TRUE, all.files = TRUE), 0L)

  # The installed copy works in a fresh R: it logs a metric to a local server. (Cargo
  # and rustup above needed the real home directory.)
  local_isolated_config()
  script <- file.path(out, "use.R")
  writeLines(c(
    sprintf("library(cometr, lib.loc = %s)", deparse(lib)),
    "srv <- local_server()",
    "exp <- suppressMessages(create_experiment(log_code = FALSE, log_output = FALSE,",
    "                                          log_system_details = FALSE))",
    "exp$log_metric('loss', 0.25, step = 1)",
    "value <- exp$get_metric('loss')$metrics[[1]]$metricValue",
    "exp$stop()",
    "srv$stop()",
    "cat(normalizePath(find.package('cometr')), value, sep = '\\n')"
  ), script)
  res <- system2(file.path(R.home("bin"), "Rscript"), shQuote(script), stdout = TRUE,
                 stderr = TRUE)
  expect_identical(attr(res, "status"), NULL)
  expect_identical(tail(res, 2), c(normalizePath(file.path(lib, "cometr")), "0.25"))
})
