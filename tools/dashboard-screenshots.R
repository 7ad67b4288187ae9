# Take the screenshots of the dashboard that the vignette "Tracking an R training run"
# shows, from the real runs: run the vignette's code (which logs two runs to a local
# server), serve the server's data again, and photograph its pages in headless Chromium.
# Usage, from the package's top folder, with cometr installed:
#   Rscript tools/dashboard-screenshots.R [library-dir]
# Writes vignettes/dashboard-project.png, dashboard-experiment.png and dashboard-details.png.
args <- commandArgs(TRUE)
if (length(args) >= 1) .libPaths(c(args[1], .libPaths()))
vignette <- normalizePath("vignettes/tracking-a-training-run.Rmd", mustWork = TRUE)
out_dir <- dirname(vignette)

if (!requireNamespace("png", quietly = TRUE)) stop("needs the png package: apt install r-cran-png")
browser <- unname(Sys.which(c("chromium", "chromium-browser", "google-chrome")))
browser <- browser[nzchar(browser)][1]
if (is.na(browser)) stop("needs Chromium: apt install chromium (tools/setup.sh does)")

# The vignette's code, run in a folder of its own with no Comet configuration, so the
# runs go to the local server it starts (and stops, leaving its data folder behind).
work <- tempfile("cometr-shots-")
dir.create(work)
code <- file.path(work, "vignette.R")
invisible(knitr::purl(vignette, output = code, documentation = 0, quiet = TRUE))
for (v in c("COMET_API_KEY", "COMET_WORKSPACE", "COMET_PROJECT_NAME", "COMET_URL_OVERRIDE")) {
  Sys.unsetenv(v)
}
env <- new.env()
old <- setwd(work)
sys.source(code, envir = env)
setwd(old)

srv <- cometr::local_server(dir = env$srv$dir)
on.exit(srv$stop(), add = TRUE)
project <- function(...) paste0(srv$dashboard, "local/iris", ...)
keys <- c(env$run_a$get_key(), env$run_b$get_key())

shoot <- function(url, file, height) {
  profile <- tempfile("chromium-profile-")
  on.exit(unlink(profile, recursive = TRUE))
  status <- system2(browser, c(
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
    "--disable-extensions", paste0("--user-data-dir=", profile),
    "--virtual-time-budget=30000", "--force-device-scale-factor=1",
    paste0("--window-size=1100,", height), paste0("--screenshot=", file), shQuote(url)),
    stdout = FALSE, stderr = FALSE)
  if (status != 0 || !file.exists(file)) stop("Chromium could not take ", file)
  message("wrote ", file)
}

shoot(project("?compare=", paste(keys, collapse = ",")),
      file.path(out_dir, "dashboard-project.png"), 860)
# The run's page is taken whole, then cut in two: headless Chromium's screenshots show
# only the top of a page (scrolled ones come out blank).
page <- tempfile(fileext = ".png")
shoot(project("/", keys[1]), page, 3200)
# The cuts fall after the figure and after the artifact, for this vignette's runs.
img <- png::readPNG(page)
cut <- 1580
end <- min(cut + 1290, dim(img)[1])
png::writePNG(img[seq_len(cut), , , drop = FALSE], file.path(out_dir, "dashboard-experiment.png"))
png::writePNG(img[(cut + 1):end, , , drop = FALSE], file.path(out_dir, "dashboard-details.png"))
message("wrote dashboard-experiment.png and dashboard-details.png in ", out_dir)
