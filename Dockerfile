# Fieldvisit API + field app. SQLite and a photo folder under /data by default;
# set FIELDVISIT_DATABASE_URL=postgresql://… to use PostgreSQL.
# Swagger UI for /docs comes from the npm registry (package-lock.json), like every front-end package.
FROM python:3.11-slim AS assets
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    FIELDVISIT_DATABASE_URL=sqlite:////data/fieldvisit.db \
    FIELDVISIT_PHOTO_DIR=/data/photos
WORKDIR /srv/fieldvisit
COPY pyproject.toml README.md ./
COPY api ./api
COPY migrations ./migrations
COPY pwa ./pwa
COPY --from=assets /build/node_modules ./node_modules
RUN pip install --no-cache-dir -e . && useradd --system --home /data fieldvisit && mkdir -p /data && chown fieldvisit /data
USER fieldvisit
VOLUME ["/data"]
EXPOSE 8000
CMD ["sh", "-c", "fieldvisit migrate && fieldvisit serve --host 0.0.0.0 --port 8000"]
