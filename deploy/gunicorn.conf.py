"""gunicorn for tapebackup's web process (console, admin, /metrics, /health).

Run: gunicorn -c deploy/gunicorn.conf.py tapebackup.wsgi
Every setting can be overridden from the environment (GUNICORN_*), so the systemd unit and
bin/up share this file. Pages are short queries (bench/console_bench.py: well under 300 ms
on 1M catalog rows); nothing long runs in a request: backups, restores, verifies and
inventories are job runs executed by the qclusters. So: sync workers, a short timeout.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", os.environ.get("TAPEBACKUP_BIND", "127.0.0.1:8000"))
# Sync workers: each page is a handful of queries; the console's live fragments poll every
# 3 s per open page, which a few workers serve easily. 2-4 per CPU is gunicorn's advice.
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9)))
worker_class = "sync"
# A request that takes this long is stuck (every page is well under a second): kill it
# rather than let it hold a worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (settings trust it
# through SECURE_PROXY_SSL_HEADER): only the proxy on this host may claim it.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# Logs to stdout/stderr: journald keeps them under the unit's name.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Load the application in the master: workers fork with it imported (faster start, less
# memory). Database connections are opened per worker after the fork, never shared.
preload_app = True
proc_name = "tapebackup-web"
