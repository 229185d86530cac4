"""The limit for benchmarks/api.py: a bare FastAPI endpoint on the same server stack
(uvicorn, uvloop, httptools, the same TLS), answering a small JSON document at once, on the event loop (no thread hop)."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/v1/users/{user_id}/visibility")
async def visibility(user_id: str) -> dict:
    return {"user_id": user_id, "visible": True, "reason_codes": []}
