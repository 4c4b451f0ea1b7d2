# Fieldvisit API + field app. SQLite and a photo folder under /data by default;
# set FIELDVISIT_DATABASE_URL=postgresql://… to use PostgreSQL.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    FIELDVISIT_DATABASE_URL=sqlite:////data/fieldvisit.db \
    FIELDVISIT_PHOTO_DIR=/data/photos
WORKDIR /srv/fieldvisit
COPY pyproject.toml README.md ./
COPY api ./api
COPY migrations ./migrations
COPY pwa ./pwa
RUN pip install --no-cache-dir -e . && useradd --system --home /data fieldvisit && mkdir -p /data && chown fieldvisit /data
USER fieldvisit
VOLUME ["/data"]
EXPOSE 8000
CMD ["sh", "-c", "fieldvisit migrate && fieldvisit serve --host 0.0.0.0 --port 8000"]
