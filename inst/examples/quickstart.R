# cometr quick start: log a small training run to the embedded Comet-compatible
# server and show what was recorded. No Comet account and no network are needed.
#
#   Rscript inst/examples/quickstart.R
#
# The server's data stays in ./cometr-demo-runs, so a second run adds a second
# experiment next to the first.

library(cometr)

srv <- local_server(dir = "cometr-demo-runs")
cat("Local Comet server:", srv$url, "\n")

exp <- create_experiment(experiment_name = "quickstart", project_name = "demo",
                         log_git_info = FALSE)
exp$log_parameter("learning_rate", 0.05)
exp$log_parameter("epochs", 20)
exp$add_tags(c("quickstart", "linear-model"))

# A toy "training loop": fit y = 3x + 1 by gradient descent and log every step.
set.seed(42)
x <- runif(200)
y <- 3 * x + 1 + rnorm(200, sd = 0.1)
w <- 0
b <- 0
for (epoch in 1:20) {
  for (i in seq(1, 200, by = 20)) {
    idx <- i:(i + 19)
    err <- (w * x[idx] + b) - y[idx]
    w <- w - 0.05 * 2 * mean(err * x[idx])
    b <- b - 0.05 * 2 * mean(err)
    exp$log_metric("loss", mean(err^2), step = (epoch - 1) * 10 + (i - 1) / 20 + 1, epoch = epoch)
  }
  cat(sprintf("epoch %2d  w = %.3f  b = %.3f\n", epoch, w, b))
}
exp$log_metric("final_w", w)
exp$log_other("model", "linear")
exp$log_html("<h1>Quick start</h1><p>A linear model fitted by gradient descent.</p>")

predictions <- tempfile("predictions-", fileext = ".csv")
write.csv(data.frame(x = x, y = y, fitted = w * x + b), predictions, row.names = FALSE)
exp$upload_asset(predictions, name = "predictions.csv", metadata = list(rows = 200))
exp$stop()

# Read back what the server recorded.
cat("\n== What was recorded ==\n")
cat("Experiment:", exp$get_url(), "\n")
summary <- exp$get_metrics_summary()$values
or_dash <- function(x) if (is.null(x)) "-" else x
for (m in summary) {
  cat(sprintf("metric %-8s last %s  min %s  max %s  (steps %s..%s)\n", m$name,
              m$valueCurrent, m$valueMin, m$valueMax, or_dash(m$stepMin), or_dash(m$stepMax)))
}
cat("points of 'loss':", length(exp$get_metric("loss")$metrics), "\n")
for (p in exp$get_parameters()$values) cat("parameter", p$name, "=", p$valueCurrent, "\n")
cat("tags:", paste(unlist(exp$get_tags()$tags), collapse = ", "), "\n")
for (a in exp$get_asset_list()$assets) cat("asset", a$fileName, a$fileSize, "bytes\n")
out <- strsplit(exp$get_output()$output, "\n")[[1]]
cat("captured output:", length(out), "lines, the last being:", tail(out, 1), "\n")
n <- length(get_experiments(project_name = "demo")$experiments)
cat("experiments in project 'demo':", n, "\n")
cat("server data kept in:", srv$dir, "\n")
srv$stop()
