"""Tiny TCP forwarder (stdlib only): LISTEN_HOST:LISTEN_PORT -> TARGET_HOST:TARGET_PORT.

Used by setup.sh so that `sam local` containers (podman bridge) reach MariaDB, which listens on the
host's 127.0.0.1 only. It listens on the wildcard address, which exists whether or not podman's
bridge is up (netavark creates the bridge and its gateway address only while a container is
attached), and accepts only peers from the networks given with ``--allow`` (podman's subnet and
loopback), so MariaDB is not exposed to the machine's other networks. Connections arrive at MariaDB
from 127.0.0.1, so the existing root@127.0.0.1 account applies.

    python3 tcp_forward.py 0.0.0.0:13306 127.0.0.1:3306 --allow 10.88.0.0/16 --allow 127.0.0.0/8
"""

import argparse
import asyncio
import ipaddress
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


async def _main(listen: str, target: str, allowed: list[ipaddress.IPv4Network]) -> None:
    target_host, target_port = _split(target)

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        peer = ipaddress.ip_address(client_w.get_extra_info("peername")[0])
        if not any(peer in network for network in allowed):
            print(f"tcp_forward: refused {peer} (not in --allow)", file=sys.stderr, flush=True)
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.wait_for(
                asyncio.open_connection(target_host, target_port), timeout=5
            )
        except (OSError, TimeoutError) as exc:
            print(f"tcp_forward: cannot reach {target}: {exc}", file=sys.stderr, flush=True)
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    host, port = _split(listen)
    server = await asyncio.start_server(handle, host, port, reuse_address=True)
    nets = ", ".join(map(str, allowed))
    print(f"tcp_forward: {listen} -> {target} (from {nets})", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("listen")
    parser.add_argument("target")
    parser.add_argument("--allow", action="append", type=ipaddress.ip_network, required=True)
    args = parser.parse_args()
    asyncio.run(_main(args.listen, args.target, args.allow))
