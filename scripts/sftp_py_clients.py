"""Paramiko and asyncssh doing one SFTP get or put, for scripts/bench-sftp.
usage: sftp_py_clients.py paramiko|asyncssh get|put PORT USER KEY SRC DST"""
import sys

lib, op, port, user, key, src, dst = sys.argv[1:8]
port = int(port)
if lib == "paramiko":
    import paramiko
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", port=port, username=user, key_filename=key, look_for_keys=False, allow_agent=False)
    s = c.open_sftp()
    (s.get if op == "get" else s.put)(src, dst)
    c.close()
else:
    import asyncio, asyncssh

    async def main():
        async with asyncssh.connect("127.0.0.1", port=port, username=user, client_keys=[key], known_hosts=None) as conn:
            async with conn.start_sftp_client() as s:
                await (s.get if op == "get" else s.put)(src, dst)

    asyncio.run(main())
