"""Tiny TCP forwarder (stdlib only): LISTEN_HOST:LISTEN_PORT -> TARGET_HOST:TARGET_PORT.

Used by setup.sh so that `sam local` containers (podman bridge) reach MariaDB, which listens on the
host's 127.0.0.1 only: the forwarder listens on the bridge gateway (host.containers.internal), and
connections arrive at MariaDB from 127.0.0.1, so the existing root@127.0.0.1 account applies.

    python3 tcp_forward.py 10.88.0.1:3306 127.0.0.1:3306
"""

import asyncio
import sys


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _main(listen: str, target: str) -> None:
    target_host, target_port = _split(target)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(target_host, target_port)
        except OSError as exc:
            print(f"tcp_forward: cannot reach {target}: {exc}", file=sys.stderr, flush=True)
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    host, port = _split(listen)
    server = await asyncio.start_server(handle, host, port, reuse_address=True)
    print(f"tcp_forward: {listen} -> {target}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(_main(sys.argv[1], sys.argv[2]))
