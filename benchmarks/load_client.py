"""A small HTTP/1.1 keep-alive load generator (asyncio, one process, no dependencies).

``python load_client.py PORT CONCURRENCY SECONDS`` keeps CONCURRENCY connections busy with
POST /api/predict-genre for SECONDS (after a short warm-up) and prints one JSON line:
requests, requests/s, latency percentiles, non-200 answers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from benchmarks.common import bodies, percentile


async def worker(port: int, payloads: list[bytes], stop: list[float], out: list, errors: list):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    clock = time.perf_counter
    try:
        while True:
            body = payloads[i % len(payloads)]
            i += 1
            request = (
                b"POST /api/predict-genre HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            started = clock()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            finished = clock()
            if finished > stop[1]:
                break
            if finished > stop[0]:
                out.append(finished - started)
                if b" 200 " not in status_line:
                    errors.append(status_line)
    finally:
        writer.close()


async def main(port: int, concurrency: int, seconds: float) -> dict:
    payloads = [b.encode() for b in bodies(256)]
    warmup = min(1.0, seconds / 4)
    now = time.perf_counter()
    window = [now + warmup, now + warmup + seconds]
    latencies: list[float] = []
    errors: list[bytes] = []
    await asyncio.gather(
        *(worker(port, payloads, window, latencies, errors) for _ in range(concurrency))
    )
    ms = [x * 1000 for x in latencies]
    return {
        "concurrency": concurrency,
        "seconds": seconds,
        "requests": len(ms),
        "rps": len(ms) / seconds,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "non_200": len(errors),
    }


if __name__ == "__main__":
    port, concurrency, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(main(port, concurrency, seconds))))
