# Build the vignette into inst/doc, as `R CMD build` would, so that a package installed
# straight from the sources (`R CMD INSTALL .`, as the README says) has
# vignette("cometr"). Run after changing vignettes/cometr.Rmd, with cometr installed:
#   R_LIBS=<library> Rscript tools/build-vignette.R
# The test "the installed package has its vignette" fails when inst/doc is stale.
src <- "vignettes/cometr.Rmd"
if (!file.exists(src)) stop("run this from the package's top folder")
out <- file.path("inst", "doc")
dir.create(out, recursive = TRUE, showWarnings = FALSE)
work <- tempfile("vignette-")
dir.create(work)
invisible(file.copy(src, work))
# Rendered in a scratch folder (its demo writes there), with no Comet settings of the
# user's: the vignette runs against the local server.
withr::with_envvar(
  c(COMET_API_KEY = NA, COMET_WORKSPACE = NA, COMET_PROJECT_NAME = NA, COMET_URL_OVERRIDE = NA,
    R_USER_CACHE_DIR = file.path(work, "cache")),
  withr::with_dir(work, {
    rmarkdown::render("cometr.Rmd", quiet = TRUE, envir = new.env())
    invisible(knitr::purl("cometr.Rmd", output = "cometr.R", quiet = TRUE, documentation = 1L))
  })
)
invisible(file.copy(c(file.path(work, c("cometr.html", "cometr.R")), src), out, overwrite = TRUE))
unlink(work, recursive = TRUE)
cat("wrote", file.path(out, c("cometr.Rmd", "cometr.html", "cometr.R")), sep = "\n")
