"""A real writer process for the crash tests: pushes numbered batches, acks some, reports progress on stdout.

usage: python -m tests.buffer.writer_child DIR SYNC_INTERVAL ACK_EVERY
Prints `pushed N` after each push and `acked N` once the ack is in the ledger; exits cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.buffer.support import disk, number, numbered


async def main() -> None:
    directory, sync_interval, ack_every = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    buf = disk(directory, sync_interval=sync_interval, max_size=256 * 1024 * 1024, segment_size=256 * 1024)
    await buf.open()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    i = 0
    while not stop.is_set():
        await buf.push(numbered(i, pad=1000))
        print("pushed", i, flush=True)
        i += 1
        if ack_every and i % ack_every == 0:
            entry = await buf.get()
            assert entry is not None
            buf.ack(entry)
            await asyncio.sleep(0)  # the ledger write is scheduled with call_soon
            print("acked", number(entry.batch), flush=True)
        await asyncio.sleep(0.001)
    await buf.close()
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
