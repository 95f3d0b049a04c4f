"""The ``escrow`` client: commands that call a Partner Escrow server over HTTP.

``profiles`` keeps server URLs and API keys; ``api.Client`` exchanges them for tokens
and speaks the API with the client's own copies of its bodies (``models``); it imports
nothing of the server (no litestar, SQLAlchemy, Oso or minio). ``invocation`` gives every
command ``--profile`` and ``--json``; ``exits`` maps problems to documented exit codes.
"""
