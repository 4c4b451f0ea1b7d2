# Fieldvisit API + field app. SQLite and a photo folder under /data by default;
# set FIELDVISIT_DATABASE_URL=postgresql://… to use PostgreSQL.
# Swagger UI for /docs and the field app's libraries come from the npm registry (package-lock.json), like
# every front-end package; scripts/build-pwa.mjs turns the app's into ES modules under pwa/vendor/.
FROM python:3.11-slim AS assets
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/build-pwa.mjs scripts/
RUN npm ci --omit=dev --no-audit --no-fund && node scripts/build-pwa.mjs

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    FIELDVISIT_DATABASE_URL=sqlite:////data/fieldvisit.db \
    FIELDVISIT_PHOTO_DIR=/data/photos
WORKDIR /srv/fieldvisit
COPY pyproject.toml README.md ./
COPY api ./api
COPY migrations ./migrations
COPY pwa ./pwa
COPY --from=assets /build/node_modules/swagger-ui-dist ./node_modules/swagger-ui-dist
COPY --from=assets /build/pwa/vendor ./pwa/vendor
RUN pip install --no-cache-dir -e . && useradd --system --home /data fieldvisit && mkdir -p /data && chown fieldvisit /data
USER fieldvisit
VOLUME ["/data"]
EXPOSE 8000
CMD ["sh", "-c", "fieldvisit migrate && fieldvisit serve --host 0.0.0.0 --port 8000"]
