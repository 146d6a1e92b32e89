# One image for the project's own services in docker-compose.yml: bridge, worker, dashboard,
# edge agent and twin (the command picks the service). The Jetson image is deploy/jetson's.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libglib2.0-0 and libgomp1: shared libraries that the OpenCV and ONNX Runtime wheels load
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN pip install ".[edge,cloud,sim]" \
    && useradd --system --uid 10001 --home-dir /var/lib/iiot --create-home iiot

USER iiot
WORKDIR /var/lib/iiot
EXPOSE 8080
CMD ["iiot", "--help"]
