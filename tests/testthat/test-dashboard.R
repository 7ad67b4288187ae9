# The local server's dashboard, driven in headless Chromium (Debian's `chromium`, which
# tools/setup.sh installs): each page is loaded until its script says it is ready, and
# the DOM it built is read back. Screenshots of each page are kept in
# tests/testthat/_artifacts/dashboard/ (not committed) to look at after a run.

chromium_binary <- function() {
  for (name in c("chromium", "chromium-browser", "google-chrome")) {
    path <- Sys.which(name)
    if (nzchar(path)) return(unname(path))
  }
  stop("the dashboard tests need Chromium: install Debian's chromium package (tools/setup.sh)")
}

# Made and resolved now: the tests below change the working directory, which
# test_path() follows.
artifact_dir <- local({
  dir <- test_path("_artifacts", "dashboard")
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  dir <- normalizePath(dir)
  function() dir
})

# Run headless Chromium on `url` with a profile of its own (or `profile`, to keep the
# browser's storage between calls); returns its standard output.
chromium <- function(url, ..., profile = withr::local_tempdir(), budget = 20000) {
  args <- c("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--mute-audio",
            paste0("--user-data-dir=", profile), paste0("--virtual-time-budget=", budget),
            ..., url)
  res <- processx::run(chromium_binary(), args, error_on_status = FALSE, timeout = 120)
  res$stdout
}

# The DOM of a dashboard page once its script has finished (or has asked for a key);
# on a loaded machine the first try may stop early, so it tries again with more time.
page_dom <- function(url, profile = withr::local_tempdir()) {
  dom <- ""
  for (budget in c(20000, 60000, 120000)) {
    dom <- chromium(url, "--dump-dom", profile = profile, budget = budget)
    if (grepl('data-state="(ready|key-needed|error)"', dom)) break
  }
  dom
}

screenshot <- function(url, name, height = 1400, profile = withr::local_tempdir()) {
  file <- file.path(artifact_dir(), name)
  unlink(file)
  chromium(url, paste0("--screenshot=", file), paste0("--window-size=1280,", height),
           profile = profile)
  message("dashboard screenshot: ", file)
  file
}

count_matches <- function(pattern, text) {
  m <- gregexpr(pattern, text, perl = TRUE)[[1]]
  if (m[1] == -1) 0L else length(m)
}

hostile_tag <- "<script>document.title='pwned'</script>"
hostile_tag2 <- "<img src=x onerror=\"document.title='pwned'\">"

log_run <- function(name, scale, image = NULL) {
  exp <- new_test_experiment(experiment_name = name, project_name = "dash-e2e")
  exp$log_parameter("learning_rate", scale / 10)
  exp$add_tags(list(hostile_tag, hostile_tag2, "baseline"))
  for (step in 1:12) exp$log_metric("loss", round(1 / (step * scale), 4), step = step)
  if (!is.null(image)) {
    exp$upload_asset(image, type = "image")
    # A machine reading, as SDKs log them: shown apart from the run's own metrics.
    for (step in 1:3) exp$log_metric("sys.ram.used", 1e9 + step, step = step)
  }
  exp$stop()
  exp
}

test_that("the dashboard lists runs, charts and overlays them, shows images, and shows tags as text", {
  srv <- local_test_server()
  png_file <- file.path(tempdir(), "dash-plot.png")
  grDevices::png(png_file, width = 320, height = 240, type = "cairo")
  graphics::plot(1:10, main = "a logged figure")
  grDevices::dev.off()
  a <- log_run("run-a", 1, image = png_file)
  b <- log_run("run-b", 2)
  expect_identical(srv$dashboard, sub("clientlib/$", "", srv$url))

  # The projects page.
  home <- page_dom(srv$dashboard)
  expect_match(home, 'data-state="ready"', fixed = TRUE)
  expect_match(home, 'href="/local/dash-e2e"', fixed = TRUE)
  screenshot(srv$dashboard, "projects.png", height = 600)

  # The project's experiments, with both runs overlaid on one chart.
  project <- paste0(srv$dashboard, "local/dash-e2e?compare=", a$get_key(), ",", b$get_key())
  dom <- page_dom(project)
  expect_match(dom, 'data-state="ready"', fixed = TRUE)
  for (exp in list(a, b)) {
    expect_match(dom, sprintf('data-key="%s"', exp$get_key()), fixed = TRUE)
  }
  expect_match(dom, ">run-a</a>", fixed = TRUE)
  expect_match(dom, ">run-b</a>", fixed = TRUE)
  expect_match(dom, 'data-chart="loss" data-series="2"', fixed = TRUE)
  expect_no_match(dom, 'title="metric sys.ram.used"', fixed = TRUE)
  expect_identical(count_matches('<polyline[^>]*data-label="run-[ab]" data-points="12"', dom), 2L)
  # The tags are text: escaped in the DOM, no element made of them, nothing run.
  expect_match(dom, "&lt;script&gt;document.title='pwned'&lt;/script&gt;", fixed = TRUE)
  expect_match(dom, "&lt;img src=x onerror=", fixed = TRUE)
  expect_no_match(dom, "<script>document.title", fixed = TRUE)
  expect_no_match(dom, '<img src="x"', fixed = TRUE)
  expect_match(dom, "<title>dash-e2e · cometr</title>", fixed = TRUE)
  expect_no_match(dom, "pwned</title>", fixed = TRUE)
  shot <- screenshot(project, "project-compare.png", height = 900)
  expect_gt(file.size(shot), 10000)

  # The experiment's page, at the link create_experiment() printed: its chart with
  # the logged points, and the uploaded image shown.
  expect_match(a$get_url(), paste0("^", srv$dashboard, "local/dash-e2e/", a$get_key(), "$"))
  dom <- page_dom(a$get_url())
  expect_match(dom, 'data-state="ready"', fixed = TRUE)
  expect_match(dom, "<h1>run-a</h1>", fixed = TRUE)
  expect_match(dom, '<polyline[^>]*data-label="loss" data-points="12"')
  expect_match(dom, '<img alt="dash-plot.png" data-asset="dash-plot.png" src="blob:http://', fixed = TRUE)
  expect_match(dom, "learning_rate", fixed = TRUE)
  expect_match(dom, '<h3>System metrics</h3><div class="charts"><div class="chart-box"><h3>sys.ram.used</h3>',
               fixed = TRUE)
  shot <- screenshot(a$get_url(), "experiment.png", height = 1800)
  expect_gt(file.size(shot), 10000)
  # The same page with the other run overlaid.
  dom <- page_dom(paste0(a$get_url(), "?compare=", b$get_key()))
  expect_match(dom, 'data-chart="loss" data-series="2"', fixed = TRUE)
})

test_that("with an API key the dashboard asks for it once and the key stays out of the log", {
  key <- "dashboard-test-key-0123"
  srv <- local_test_server(api_key = key)
  exp <- new_test_experiment(experiment_name = "keyed", project_name = "dash-keyed")
  exp$log_metric("loss", 0.5, step = 1)
  exp$stop()

  profile <- withr::local_tempdir()
  dom <- page_dom(srv$dashboard, profile = profile)
  expect_match(dom, 'data-state="key-needed"', fixed = TRUE)
  expect_match(dom, 'type="password"', fixed = TRUE)
  dom <- page_dom(paste0(srv$dashboard, "#key=", key), profile = profile)
  expect_match(dom, 'data-state="ready"', fixed = TRUE)
  expect_match(dom, 'href="/local/dash-keyed"', fixed = TRUE)
  # Kept by the browser: the experiment's page opens without the key again.
  dom <- page_dom(exp$get_url(), profile = profile)
  expect_match(dom, 'data-state="ready"', fixed = TRUE)
  expect_match(dom, 'data-chart="loss"', fixed = TRUE)
  expect_false(any(grepl(key, srv$requests(), fixed = TRUE)))
})

test_that("the dashboard's files come with a policy that keeps the network out", {
  srv <- local_test_server()
  headers <- curlGetHeaders(srv$dashboard)
  expect_identical(attr(headers, "status"), 200L)
  csp <- grep("^content-security-policy:", headers, ignore.case = TRUE, value = TRUE)
  expect_length(csp, 1L)
  expect_match(csp, "default-src 'none'", fixed = TRUE)
  expect_match(csp, "connect-src 'self'", fixed = TRUE)
  script <- curlGetHeaders(paste0(srv$dashboard, "_dashboard/app.js"))
  expect_identical(attr(script, "status"), 200L)
  expect_identical(attr(curlGetHeaders(paste0(srv$dashboard, "favicon.ico")), "status"), 404L)
})
