"""What LiveKit's deployment guide asks of a production host, beyond its config file.

- UDP receive buffers of at least 5 MB (`net.core.rmem_max`; the kernel default, ~208 KB, drops
  media under load), and the same ceiling for sending, which an SFU does more of than receiving.
- Enough open files for the containers: every WebSocket and every media socket is one.
"""

from __future__ import annotations

UDP_BUFFER_BYTES = 5_000_000
SYSCTLS = (("net.core.rmem_max", UDP_BUFFER_BYTES), ("net.core.wmem_max", UDP_BUFFER_BYTES))
CONTAINER_NOFILE = 65536
