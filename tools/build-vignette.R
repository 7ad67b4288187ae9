# Build the vignettes into inst/doc, as `R CMD build` would, so that a package installed
# straight from the sources (`R CMD INSTALL .`, as the README says) has
# vignette("cometr") and the others. Run after changing anything in vignettes/, with
# cometr installed:
#   R_LIBS=<library> Rscript tools/build-vignette.R
# The test "the installed package has its vignettes" fails when inst/doc is stale.
if (!dir.exists("vignettes")) stop("run this from the package's top folder")
sources <- list.files("vignettes", pattern = "[.]Rmd$")
out <- file.path("inst", "doc")
dir.create(out, recursive = TRUE, showWarnings = FALSE)
unlink(list.files(out, full.names = TRUE))
work <- tempfile("vignettes-")
dir.create(work)
# The whole folder: a vignette may include its images.
invisible(file.copy(list.files("vignettes", full.names = TRUE), work, recursive = TRUE))
# Rendered in a scratch folder (their demos write there), each in a fresh R process
# with no Comet settings of the user's: they run against the local server.
for (rmd in sources) {
  code <- sprintf(paste0(
    "rmarkdown::render('%s', quiet = TRUE, envir = new.env()); ",
    "invisible(knitr::purl('%s', output = '%s', quiet = TRUE, documentation = 1L))"),
    rmd, rmd, sub("[.]Rmd$", ".R", rmd))
  status <- withr::with_envvar(
    c(COMET_API_KEY = NA, COMET_WORKSPACE = NA, COMET_PROJECT_NAME = NA,
      COMET_URL_OVERRIDE = NA, R_USER_CACHE_DIR = file.path(work, "cache")),
    withr::with_dir(work, system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(code))))
  )
  if (status != 0) stop("cannot build ", rmd)
  made <- file.path(work, paste0(sub("[.]Rmd$", "", rmd), c(".html", ".R")))
  invisible(file.copy(c(made, file.path("vignettes", rmd)), out, overwrite = TRUE))
}
unlink(work, recursive = TRUE)
cat("wrote", list.files(out, full.names = TRUE), sep = "\n")
