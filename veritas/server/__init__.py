"""The backend: ``veritas serve`` streams each audit to a browser over a WebSocket.

One concept per module: ``settings`` (what the command line decides), ``requests`` (input
checks), ``frames`` (the WebSocket text frames), ``history`` (the SQLite history),
``metrics_export`` (Prometheus), ``registry`` (the audits, their states and the concurrency
limit), ``stream`` (one WebSocket client's audit), ``app`` (the routes), ``serve`` (uvicorn).
"""
