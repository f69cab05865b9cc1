"""Paramiko, asyncssh and parallel-ssh doing the benchmark workloads, for scripts/bench-connect, bench-warm and
bench-fanout. Prints one JSON object with the times measured inside the process (after the imports).

usage: ssh_py_clients.py LIB MODE PORT USER KEY KNOWN_HOSTS [N [PARALLEL [COMMAND EXPECTED_FILE]]]
  LIB   paramiko | asyncssh | pssh (fanout only)
  MODE  connect       one connection: connect, authenticate, exec `true`, close
        connect-loop  N such connections one after another
        exec-loop     one connection, then N execs of `true` on it one after another
        fanout        N connections to the same server, PARALLEL at a time, each running `echo ok` (or COMMAND,
                      whose stdout must then be EXPECTED_FILE's bytes on every connection)
Host keys are checked against KNOWN_HOSTS by Paramiko and asyncssh (parallel-ssh has no such option).
"""
import json, sys, time

t_start = time.perf_counter()
lib, mode, port, user, key, kh = sys.argv[1:7]
port = int(port)
n = int(sys.argv[7]) if len(sys.argv) > 7 else 1
parallel = int(sys.argv[8]) if len(sys.argv) > 8 else 64
command, expected = "echo ok", b"ok\n"
if len(sys.argv) > 10:
    command = sys.argv[9]
    with open(sys.argv[10], "rb") as f:
        expected = f.read()

if lib == "paramiko":
    import paramiko
elif lib == "asyncssh":
    import asyncio, asyncssh
elif lib == "pssh":
    from pssh.clients import ParallelSSHClient
else:
    sys.exit(f"unknown library {lib}")
t_imported = time.perf_counter()


def pm_connect():
    c = paramiko.SSHClient()
    c.load_host_keys(kh)
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect("127.0.0.1", port=port, username=user, key_filename=key, look_for_keys=False, allow_agent=False)
    return c


def pm_exec(c, cmd):
    _, out, _ = c.exec_command(cmd)
    data = out.read()
    if out.channel.recv_exit_status() != 0:
        raise SystemExit(f"{cmd} failed")
    return data


def as_connect():
    return asyncssh.connect("127.0.0.1", port=port, username=user, client_keys=[key], known_hosts=kh)


async def as_exec(c, cmd):
    r = await c.run(cmd, check=True)
    return r.stdout


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


result = {"lib": lib, "mode": mode, "import_s": t_imported - t_start}
if mode in ("connect", "connect-loop"):
    walls = []
    for _ in range(n if mode == "connect-loop" else 1):
        t = time.perf_counter()
        if lib == "paramiko":
            c = pm_connect()
            pm_exec(c, "true")
            c.close()
        else:
            async def one():
                async with as_connect() as c:
                    await as_exec(c, "true")
            asyncio.run(one())
        walls.append(time.perf_counter() - t)
    result.update(walls=walls, median_s=median(walls))
elif mode == "exec-loop":
    if lib == "paramiko":
        t = time.perf_counter()
        c = pm_connect()
        t1 = time.perf_counter()
        for _ in range(n):
            pm_exec(c, "true")
        t2 = time.perf_counter()
        c.close()
    else:
        async def loop():
            t = time.perf_counter()
            async with as_connect() as c:
                t1 = time.perf_counter()
                for _ in range(n):
                    await as_exec(c, "true")
                t2 = time.perf_counter()
            return t, t1, t2
        t, t1, t2 = asyncio.run(loop())
    result.update(connect_s=t1 - t, loop_s=t2 - t1)
elif mode == "fanout":
    t = time.perf_counter()
    if lib == "paramiko":
        from concurrent.futures import ThreadPoolExecutor

        def one(_):
            c = pm_connect()
            try:
                return pm_exec(c, command)
            finally:
                c.close()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            outs = list(pool.map(one, range(n)))
    elif lib == "asyncssh":
        async def all_hosts():
            sem = asyncio.Semaphore(parallel)

            async def one():
                async with sem:
                    async with as_connect() as c:
                        return await as_exec(c, command)
            return await asyncio.gather(*(one() for _ in range(n)))
        outs = [o.encode() for o in asyncio.run(all_hosts())]
    else:
        client = ParallelSSHClient(["127.0.0.1"] * n, user=user, port=port, pkey=key, pool_size=parallel,
                                   num_retries=1)
        output = client.run_command(command)
        client.join(output)
        outs = []
        for o in output:
            if o.exception is not None:
                raise SystemExit(f"pssh: {o.exception!r}")
            text = "\n".join(o.stdout)  # read the output before asking for the exit code
            if o.exit_code != 0:
                raise SystemExit(f"pssh: exit code {o.exit_code}")
            outs.append((text + "\n").encode())
    ok = sum(1 for o in outs if o == expected)
    if ok != n:
        raise SystemExit(f"{lib} fanout: {ok} of {n} hosts answered as expected")
    result.update(s=time.perf_counter() - t, ok=ok)
else:
    sys.exit(f"unknown mode {mode}")
print(json.dumps(result))
