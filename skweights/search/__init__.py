"""Cross-validated hyperparameter search with Optuna, over the search spaces of the paper (A.4).

The paper tunes every accuracy predictor by evaluating 1k configurations with 3-fold
cross-validation on the training networks and refitting the best one. `WeightSearchCV` does that
for any scikit-learn estimator or Pipeline; `gbm_space`, `mlp_space` and `logit_linear_space`
return the paper's spaces as plain ``{name: optuna distribution}`` dicts that you can edit
(`Conditional` entries depend on a categorical one, e.g. the learning rate on the optimizer).
The paper's ranges live in one read-only constant, `PAPER_SPACES`.

Storage, resuming and distributed search
----------------------------------------
``storage=None`` keeps the study in memory. Any Optuna storage makes the search durable:

- ``storage="sqlite:///search.db"`` or ``"postgresql://user:password@host/db"`` (any SQLAlchemy
  URL; PostgreSQL through psycopg 3, ``pip install skweights[postgres]``),
- ``storage="journal:///path/search.log"`` (an ``optuna.storages.JournalStorage`` on a
  ``JournalFileBackend``; safe for several processes on one machine or on a shared file system),
- or any ``optuna.storages.BaseStorage`` instance (see `make_storage`).

``n_trials`` is the number of **finished** trials (complete, or pruned by the pruner) the study
should hold, counted over every run and every worker. Re-running the same search after an
interruption keeps the finished trials and runs only the remaining ones. With
``heartbeat_interval`` (RDB storages), a trial whose worker died (SIGKILL, lost machine) is marked
``FAIL`` once its heartbeat is ``2 * heartbeat_interval`` seconds old and re-queued with the same
parameters; workers whose remaining trials all run elsewhere wait for them, so the study ends with
exactly ``n_trials`` finished trials. Without a heartbeat (journal storages: Optuna has none for
them) a killed worker's trial stays ``RUNNING`` and is ignored, and concurrent workers may
overshoot ``n_trials`` by ``n_workers - 1``.

To spread one search over several machines, start the same command on each of them with the same
RDB URL (PostgreSQL or MySQL; SQLite only for processes on one machine) and the same
``study_name`` (``skweights fit`` derives one from its settings). ``study_settings`` are stored
in the study and a worker with different ones is refused. Each worker samples new
configurations from the shared history; its sampler is seeded with ``sampler_seed`` (None: fresh
entropy, so workers never propose the same sequence), while integer ``cv`` always means the same
shuffled folds (seeded with ``random_state``, or 0), so the scores of all workers are comparable.

Pruning
-------
``pruner="median"``, ``"halving"`` (successive halving) or ``"hyperband"``: each trial reports the
mean score of the folds evaluated so far after every fold but the last, and the pruner stops
configurations that trail the others on the same folds. With 3 folds a pruned trial costs a
third or two thirds of a full one.

Examples
--------
>>> import numpy as np
>>> from sklearn.linear_model import Ridge
>>> from optuna.distributions import FloatDistribution
>>> from skweights.search import WeightSearchCV
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 3))
>>> y = X @ [1.0, 2.0, 0.0] + 0.1 * rng.normal(size=60)
>>> space = {"alpha": FloatDistribution(1e-3, 10.0, log=True)}
>>> search = WeightSearchCV(Ridge(), space, n_trials=5, sampler_seed=0).fit(X, y)
>>> search.n_trials_, len(search.cv_results_["params"])
(5, 5)
>>> bool(search.best_score_ > 0.9)
True
"""

from skweights.search._search import WeightSearchCV, search_report
from skweights.search._spaces import (
    HIGH_DIMENSIONAL_THRESHOLD,
    MLP_LEARNING_RATES,
    PAPER_SPACES,
    SPACES,
    Conditional,
    gbm_space,
    logit_linear_space,
    mlp_space,
)
from skweights.search._storage import (
    DEFAULT_HEARTBEAT,
    STORAGE_FORMS,
    check_study_settings,
    is_rdb_url,
    make_storage,
    study_name_for,
)
from skweights.search._trials import PRUNERS, make_pruner

__all__ = [
    "DEFAULT_HEARTBEAT",
    "HIGH_DIMENSIONAL_THRESHOLD",
    "MLP_LEARNING_RATES",
    "PAPER_SPACES",
    "PRUNERS",
    "SPACES",
    "STORAGE_FORMS",
    "Conditional",
    "WeightSearchCV",
    "check_study_settings",
    "gbm_space",
    "is_rdb_url",
    "logit_linear_space",
    "make_pruner",
    "make_storage",
    "mlp_space",
    "search_report",
    "study_name_for",
]
