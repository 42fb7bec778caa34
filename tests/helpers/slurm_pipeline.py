"""A pipeline of "the user's own" on their SLURM cluster, for record & replay (test_slurm.py):
word counts of the corpus' books and a small task-based shuffle, on two dask-jobqueue workers of
1 core and 1 GiB, one sbatch job each.

    SLURM_CONF=... python tests/helpers/slurm_pipeline.py CORPORA SCALE LOG_DIRECTORY

It waits for both workers before it makes its client: ``memreplay record`` reads the cluster's
shape when the client connects, and a batch queue's workers come later.
"""

import sys
from pathlib import Path

import dask
from dask_jobqueue import SLURMCluster
from distributed import Client

from memreplay.corpora import ensure_corpus

CHECKOUT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(CHECKOUT))  # the graph's functions are tests.helpers.user_pipeline's, on the workers too
from tests.helpers.user_pipeline import counts_and_letters  # noqa: E402


def main(corpora: str, scale: float, logs: str) -> None:
    books = [path for path in ensure_corpus("text", scale, corpora).paths if path.name.startswith("book")]
    with SLURMCluster(cores=1, processes=1, memory="1GiB", n_workers=2, interface="lo", walltime="00:10:00",
                      python=sys.executable, job_name="memreplay-record", log_directory=logs,
                      job_script_prologue=[f"export PYTHONPATH={CHECKOUT}"],
                      scheduler_options={"dashboard_address": ":0"}) as cluster:
        cluster.wait_for_workers(2, timeout=120)
        with Client(cluster):
            top, totals = dask.compute(*counts_and_letters(books, 8, 20_000, 4))
            print(len(top), "files counted,", len(totals), "letters")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
