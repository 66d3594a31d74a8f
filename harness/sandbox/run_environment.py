"""Names of the environment variables the sandbox worker sets for every unlearning run.

Shared by the worker (which sets them) and the submission kit (which reads them); documented
for participants in submissions/README.md.
"""

ENV_SEED = "UNLEARN_SEED"
ENV_TIME_BUDGET = "UNLEARN_TIME_BUDGET_S"
ENV_NUM_CLASSES = "UNLEARN_NUM_CLASSES"
ENV_DEVICE = "UNLEARN_DEVICE"
ENV_COMPETITION = "UNLEARN_COMPETITION"
ENV_TIME_BASIS = "UNLEARN_TIME_BASIS"  # "cpu" or "wall": the clock the budget is charged on

# The values of UNLEARN_TIME_BASIS (and of RunOutcome.time_basis): the sandbox's CPU time (user +
# system, all its processes), where its cgroup accounts it, else wall-clock time.
TIME_BASIS_CPU = "cpu"
TIME_BASIS_WALL = "wall"
TIME_BASES = (TIME_BASIS_CPU, TIME_BASIS_WALL)
