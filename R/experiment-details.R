# What create_experiment() logs by itself: the running script, system details and git
# information. Each gatherer returns NULL (or empty) when there is nothing to log.

# The script being run: a file being source()d, else the file given to Rscript.
script_path <- function() {
  for (i in rev(seq_len(sys.nframe()))) {
    if (identical(sys.function(i), base::source)) {
      env <- sys.frame(i)
      for (v in c("ofile", "file")) {
        p <- if (exists(v, envir = env, inherits = FALSE)) get(v, envir = env) else NULL
        if (is.character(p) && length(p) == 1L && file.exists(p)) return(normalizePath(p))
      }
    }
  }
  file_arg <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(file_arg) == 1L) {
    p <- path.expand(sub("^--file=", "", file_arg))
    if (file.exists(p)) return(normalizePath(p))
  }
  NULL
}

system_details <- function() {
  si <- Sys.info()
  pkgs <- utils::installed.packages(fields = character())
  pkgs <- pkgs[is.na(pkgs[, "Priority"]), , drop = FALSE]
  script <- script_path()
  command <- c(script, commandArgs(TRUE))
  list(
    command = if (length(command) > 0L) command,
    executable = commandArgs(FALSE)[[1]],
    hostname = si[["nodename"]],
    installed_packages = sort(unique(paste0(pkgs[, "Package"], "@", pkgs[, "Version"]))),
    os = paste(si[c("sysname", "release", "version")], collapse = " "),
    os_type = si[["sysname"]],
    pid = Sys.getpid(),
    user = si[["user"]],
    r_version = paste0(R.version$major, ".", R.version$minor),
    r_version_verbose = R.version.string
  )
}

git <- function(...) {
  out <- suppressWarnings(tryCatch(
    system2("git", c(...), stdout = TRUE, stderr = FALSE),
    error = function(e) structure(character(), status = 1L)
  ))
  if (!is.null(attr(out, "status")) && attr(out, "status") != 0L) return(NULL)
  out
}

# Branch, origin, parent commit, user and root of the repository holding the working
# directory, and a patch of its staged and unstaged changes.
git_info <- function() {
  if (!nzchar(Sys.which("git"))) return(NULL)
  root <- git("rev-parse", "--show-toplevel")
  if (length(root) != 1L) return(NULL)
  one <- function(x) if (length(x) >= 1L && nzchar(x[[1]])) x[[1]] else NULL
  name <- one(git("config", "user.name"))
  email <- one(git("config", "user.email"))
  branch <- one(git("rev-parse", "--abbrev-ref", "HEAD"))
  list(
    metadata = drop_nulls(list(
      branch = if (!identical(branch, "HEAD")) branch,
      origin = one(git("config", "--get", "remote.origin.url")),
      parent = one(git("rev-parse", "HEAD")),
      user = if (!is.null(name)) paste0(name, if (!is.null(email)) paste0(" <", email, ">")),
      root = root
    )),
    patch = paste(git("diff", "HEAD", "--no-color", "--no-ext-diff"), collapse = "\n")
  )
}
