"""Training and evaluation machinery: optimizers and amp, lr schedules, the loss, callbacks, checkpoints in and out,
the weight EMA, the training loop and top-k evaluation. Every function takes explicit values; the entry scripts
unpack the configuration into them."""
