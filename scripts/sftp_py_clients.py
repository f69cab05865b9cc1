"""Paramiko and asyncssh doing one SFTP get or put, for scripts/bench-sftp.
usage: sftp_py_clients.py paramiko|asyncssh get|put|getdir|putdir PORT USER KEY SRC DST [KNOWN_HOSTS]
getdir/putdir copy a directory of plain files (asyncssh: recurse=True; Paramiko has no recursive copy, so a loop)."""
import os, sys

lib, op, port, user, key, src, dst = sys.argv[1:8]
kh = sys.argv[8] if len(sys.argv) > 8 else None
port = int(port)
if lib == "paramiko":
    import paramiko
    c = paramiko.SSHClient()
    if kh:
        c.load_host_keys(kh)
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", port=port, username=user, key_filename=key, look_for_keys=False, allow_agent=False)
    s = c.open_sftp()
    if op == "getdir":
        os.makedirs(dst, exist_ok=True)
        for name in s.listdir(src):
            s.get(f"{src}/{name}", os.path.join(dst, name))
    elif op == "putdir":
        s.mkdir(dst)
        for name in os.listdir(src):
            s.put(os.path.join(src, name), f"{dst}/{name}")
    else:
        (s.get if op == "get" else s.put)(src, dst)
    c.close()
else:
    import asyncio, asyncssh

    async def main():
        async with asyncssh.connect("127.0.0.1", port=port, username=user, client_keys=[key], known_hosts=kh) as conn:
            async with conn.start_sftp_client() as s:
                rec = op.endswith("dir")
                await (s.get if op.startswith("get") else s.put)(src, dst, recurse=rec)

    asyncio.run(main())
