# The sagascope application image: web (daphne), worker and management commands.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DJANGO_SETTINGS_MODULE=config.settings
WORKDIR /app
COPY pyproject.toml README.md manage.py ./
COPY sagas sagas
COPY config config
COPY dashboard dashboard
COPY templates templates
COPY static static
# Editable, so templates/ and static/ stay next to the code that finds them.
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]
