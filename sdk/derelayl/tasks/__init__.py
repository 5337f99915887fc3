"""Built-in tasks (`derelayl.task.BUILTIN_TASKS`): digits (an MLP and a CNN on 8x8
images) and two tabular tasks (wine, breast cancer). Each is an ordinary `Task`, the
same kind a user writes; each also lends its public data set to the demo and the
benchmarks (`example_data`)."""
