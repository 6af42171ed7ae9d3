"""gunicorn settings and hooks for EcoMarket's web servers (``gunicorn -c python:ecomarket.gunicorn_conf ...``).

After a worker has loaded Django, everything it holds so far (modules, models, settings: the bulk of its objects)
is moved out of the garbage collector's reach with ``gc.freeze()``. Otherwise every full collection walks all of
it, and a pause that lands while the worker holds the branch's write lock stalls every till behind it. Frozen,
those collections are a fraction as long (docs/benchmarks.md, "Figures behind choices in the code").

Logs: gunicorn's own lines and its access log (on, to stderr) go through the same handler and format as Django's
(``LOG_FORMAT``, ecomarket/logs.py); each access line carries the request id our middleware put in the response.

Metrics: every worker writes its counters under ``DATA_DIR/metrics`` (ecomarket/metrics.py). At start the files of
processes that are gone are removed (their counts restart, which ``rate()`` takes as a reset); a worker that exits
is marked dead so its live values stop being reported.
"""

import gc
import os

from ecomarket.logs import logging_config

accesslog = "-"
# No request header is logged (Authorization never appears); the request id is the response's, set by our
# middleware (ecomarket.middleware.RequestContextMiddleware).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
# Read from the environment: this file is loaded before Django settings are.
logconfig_dict = logging_config(
    log_format=os.environ.get("LOG_FORMAT", "json"), level=os.environ.get("LOG_LEVEL", "INFO")
)
logconfig_dict["handlers"]["access"] = {
    **logconfig_dict["handlers"]["console"],
    "filters": ["access", "context"],
}
logconfig_dict["filters"]["access"] = {"()": "ecomarket.logs.AccessLogFilter"}
logconfig_dict["loggers"].update(
    {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False, "qualname": "gunicorn.access"},
    }
)


def on_starting(server) -> None:
    from django.conf import settings

    from ecomarket import metrics  # after settings: they point prometheus-client at DATA_DIR/metrics

    metrics.multiprocess_files_prune(settings.METRICS_DIR)


def child_exit(server, worker) -> None:
    from ecomarket import metrics

    metrics.process_dead(worker.pid)


def post_worker_init(worker) -> None:
    gc.collect()
    gc.freeze()
