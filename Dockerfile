# One image for both modes: ECOMARKET_MODE (and the rest of .env.example) at run time picks branch or central.
# Head office with PostgreSQL and Redis: compose.yaml. A store's box is better served by deploy/systemd/branch/
# (LimitNICE for the SQLite writer boost); the image runs a branch too with its data in a volume at DATA_DIR.
# Build: docker build -t ecomarket .   (runs as the unprivileged user "ecomarket", uid 10001)
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENV_FILE= \
    DATA_DIR=/var/lib/ecomarket \
    STATIC_ROOT=/opt/ecomarket/staticfiles \
    WHITENOISE_USE_FINDERS=false

WORKDIR /opt/ecomarket

# Runtime dependencies only (test tools stay out); a layer of its own so a code change does not reinstall them.
COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/ecomarket --create-home ecomarket

# The product's code only: the test and dev harness (harness/), the benchmarks and the docs stay out (.dockerignore).
COPY manage.py pyproject.toml ./
COPY ecomarket ./ecomarket
COPY inventory ./inventory
COPY branches ./branches
COPY cash ./cash
COPY chain ./chain
COPY pricing ./pricing
COPY reconciliation ./reconciliation
COPY reports ./reports
COPY templates ./templates
COPY locale ./locale

# Static files of both modes (central installs every app a branch does, and more), served by whitenoise. The
# build-time key is thrown away with this layer's environment; the container needs its own SECRET_KEY.
RUN SECRET_KEY=collectstatic-only ECOMARKET_MODE=central DATA_DIR=/tmp/collectstatic \
    python manage.py collectstatic --no-input -v 0 && rm -rf /tmp/collectstatic

USER ecomarket
VOLUME ["/var/lib/ecomarket"]
EXPOSE 8000

# The web server; the worker and beat are the same image with another command (compose.yaml).
CMD ["gunicorn", "ecomarket.wsgi:application", "--config", "python:ecomarket.gunicorn_conf", \
     "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "60", "--graceful-timeout", "20"]
