# Regenerate man/ and NAMESPACE.   Usage: Rscript tools/document.R
# roxygen2's "source" loader parses each file from text, so R6 methods carry no file
# name and their @description/@param blocks cannot be matched ("Cannot find matching
# R6 method"). This loader sources the files with their names kept; nothing is compiled.
options(keep.source = TRUE)
load_with_filenames <- function(path) {
  env <- new.env(parent = globalenv())
  methods::setPackageName(read.dcf(file.path(path, "DESCRIPTION"), "Package")[1, 1], env)
  for (p in c("R6", "jsonlite", "utils", "tools")) suppressPackageStartupMessages(
    library(p, character.only = TRUE))
  files <- roxygen2:::package_files(path)
  for (f in files) sys.source(f, envir = env, keep.source = TRUE)
  env
}
roxygen2::roxygenise(load_code = load_with_filenames)
