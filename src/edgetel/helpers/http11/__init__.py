"""Small asyncio HTTP/1.1 server and client on h11 (aiohttp costs ~13 MiB of idle RSS; h11 ~0.4 MiB)."""
