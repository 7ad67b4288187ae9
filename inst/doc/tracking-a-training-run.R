## ---- include = FALSE---------------------------------------------------------
knitr::opts_chunk$set(collapse = TRUE, comment = "#>")


## -----------------------------------------------------------------------------
library(cometr)
srv <- local_server()
srv$dashboard


## -----------------------------------------------------------------------------
set.seed(42)
x <- scale(as.matrix(iris[, 1:4]))
y <- iris$Species
classes <- levels(y)
onehot <- diag(length(classes))[as.integer(y), ]
validation <- sample(nrow(x), 45)
train <- setdiff(seq_len(nrow(x)), validation)

softmax <- function(z) {
  z <- exp(z - apply(z, 1, max))
  z / rowSums(z)
}
predict_probs <- function(w, x) softmax(cbind(1, x) %*% w)
cross_entropy <- function(p, onehot) -mean(rowSums(onehot * log(p + 1e-12)))


## -----------------------------------------------------------------------------
fit <- function(exp, learning_rate, epochs = 80) {
  exp$log_parameters(list(learning_rate = learning_rate, epochs = epochs,
                          model = "softmax regression", features = ncol(x),
                          train_size = length(train)))
  w <- matrix(0, ncol(x) + 1, length(classes))
  for (epoch in seq_len(epochs)) {
    p <- predict_probs(w, x[train, ])
    gradient <- t(cbind(1, x[train, ])) %*% (p - onehot[train, ]) / length(train)
    w <- w - learning_rate * gradient
    pv <- predict_probs(w, x[validation, ])
    exp$log_metrics(list(
      loss = cross_entropy(p, onehot[train, ]),
      val_loss = cross_entropy(pv, onehot[validation, ]),
      val_accuracy = mean(max.col(pv) == as.integer(y[validation]))
    ), step = epoch, epoch = epoch)
  }
  w
}

run_a <- create_experiment(experiment_name = "softmax lr=0.5", project_name = "iris",
                           log_code = FALSE, log_output = FALSE)
run_a$add_tags(c("iris", "softmax"))
w_a <- fit(run_a, learning_rate = 0.5)


## -----------------------------------------------------------------------------
predicted <- factor(classes[max.col(predict_probs(w_a, x[validation, ]))], classes)
run_a$log_figure(function() {
  plot(iris$Petal.Length[validation], iris$Petal.Width[validation],
       col = as.integer(predicted), pch = 19,
       xlab = "Petal length", ylab = "Petal width",
       main = "Validation set, coloured by predicted species")
}, name = "predictions.png")
run_a$log_table(data.frame(actual = y[validation], predicted = predicted,
                           iris[validation, 1:4]), name = "validation-predictions.csv")
run_a$log_confusion_matrix(actual = y[validation], predicted = predicted)
table(actual = y[validation], predicted = predicted)


## -----------------------------------------------------------------------------
model_file <- file.path(tempdir(), "softmax-weights.rds")
saveRDS(w_a, model_file)
model <- create_artifact("iris-softmax", "model")
model$add(model_file)
invisible(run_a$log_artifact(model))
run_a$stop()


## -----------------------------------------------------------------------------
run_b <- create_experiment(experiment_name = "softmax lr=0.05", project_name = "iris",
                           log_code = FALSE, log_output = FALSE)
run_b$add_tags(c("iris", "softmax"))
w_b <- fit(run_b, learning_rate = 0.05)
predicted_b <- factor(classes[max.col(predict_probs(w_b, x[validation, ]))], classes)
run_b$log_confusion_matrix(actual = y[validation], predicted = predicted_b)
run_b$stop()








## -----------------------------------------------------------------------------
both <- compare_experiments(list(run_a, run_b), metrics = "val_loss")
last <- both[both$step == max(both$step), c("experiment_name", "metric", "step", "value")]
last


## ---- fig.width = 7, fig.height = 6, out.width = "100%", fig.alt = "The first run's metrics over the epochs"----
plot(run_a, ggplot = FALSE)


## -----------------------------------------------------------------------------
srv$stop()

