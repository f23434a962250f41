# syntax=docker/dockerfile:1
# One image for every process of the Procfile (docs/operations.md, "Topology"); the
# command chooses the process. Build: docker build -t identity-escrow .
# Pin the base image by digest where you build (PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the runtime dependencies, each at the version and hash of the lock ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY pyproject.toml requirements-dev.lock .ci/runtime_requirements.py ./
# Only what [project].dependencies needs, not the development tools; --no-deps because
# the subset is already complete, which `pip check` then confirms.
RUN python runtime_requirements.py pyproject.toml requirements-dev.lock > runtime.lock \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r runtime.lock \
 && /opt/venv/bin/pip check

# --- the service ---------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    STATIC_ROOT=/app/staticfiles \
    CELERY_BEAT_SCHEDULE_FILENAME=/tmp/celerybeat-schedule \
    GUNICORN_BIND=0.0.0.0:8000
RUN groupadd --system --gid 10001 escrow \
 && useradd --system --uid 10001 --gid escrow --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin escrow
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . .
# Static files are collected into the image with the production storage (hashed names
# and their manifest). collectstatic reads no secret, but production settings insist on
# each one being set, so it gets throwaway values that live only in this step.
RUN ESCROW_ENV=production SECRET_KEY=collectstatic-only \
    ESCROW_SERVICE_SECRET=collectstatic-only ESCROW_TOTP_SEED_KEY=collectstatic-only \
    ESCROW_LOG_ORIGIN=collectstatic.invalid/log \
    ESCROW_LOG_SIGNING_KEY=collectstatic-only REDIS_URL=redis://collectstatic.invalid:6379/0 \
    python manage.py collectstatic --no-input -v 0
# The code and static files stay root's: the service can read them, not change them.
USER escrow:escrow
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi"]
