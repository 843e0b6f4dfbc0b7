# The Portaria controller (ARI app + AudioSocket server). Not exercised by CI: these machines have no Docker engine.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir "uv>=0.5"
WORKDIR /opt/portaria
COPY pyproject.toml uv.lock README.md ./
COPY controller controller
COPY audiosocket audiosocket
COPY data data
RUN UV_PYTHON_DOWNLOADS=never uv sync --frozen --no-dev && .venv/bin/python -m audiosocket.speech.install_model
ENV PORTARIA_AUDIOSOCKET_BIND=127.0.0.1:9092
CMD [".venv/bin/python", "-m", "controller"]
