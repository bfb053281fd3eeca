"""Load tests and benchmarks of the tracker: `loadtest/run` (Locust with SLO and loss checks), `loadtest/bench`."""
