"""What the Docker SDK for Python expects of a daemon, each step as dockerd 20.10 answers it.
Run by SDKTests with DOCKER_HOST pointing at a test berthd; prints one line per check."""
import os, sys, time
import docker
from docker.errors import APIError

client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="1.41")
api = client.api
failures = []

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)
    if not cond:
        failures.append(name)

# 1. run() returns the output: the SDK reads logs only for json-file, journald or local.
out = client.containers.run("busybox", "echo hi", remove=True)
check("run returns the output", out == b"hi\n", repr(out))
c = client.containers.create("busybox", "true")
check("default log driver is json-file", c.attrs["HostConfig"]["LogConfig"]["Type"] == "json-file", c.attrs["HostConfig"]["LogConfig"])
c.remove()
quiet = client.containers.run("busybox", "echo x", detach=True, log_config={"Type": "none"})
quiet.wait()
try:
    quiet.logs()
    check("logs of a none-driver container are refused", False, "no error")
except APIError as e:
    check("logs of a none-driver container are refused", "does not support reading" in str(e) and e.status_code == 501, str(e))
quiet.remove()
try:
    client.containers.create("busybox", "true", log_config={"Type": "syslog-nope"})
    check("an unknown log driver is refused", False, "created")
except APIError as e:
    check("an unknown log driver is refused", e.status_code == 400 and "no log driver named" in str(e), str(e))

# 2. kill answers once the exit is recorded.
c = client.containers.run("busybox", "sleep 300", detach=True)
c.kill()
c.reload()
check("kill: exit code 137 right after", c.attrs["State"]["ExitCode"] == 137 and c.status == "exited", (c.status, c.attrs["State"]["ExitCode"]))
try:
    c.remove()
    check("kill: remove right after", True)
except APIError as e:
    check("kill: remove right after", False, str(e))

# 3. exec: framing by the start request, detach, exit codes.
c = client.containers.run("busybox", "sleep 300", detach=True)
r = c.exec_run("echo tty", tty=True)
check("exec with a TTY", r.exit_code == 0 and r.output.replace(b"\r", b"") == b"tty\n", repr(r))
r = c.exec_run("sh -c 'echo out; echo err >&2'", demux=True)
check("exec demuxed", r.output == (b"out\n", b"err\n"), repr(r))
r = c.exec_run("nope-not-here")
check("exec of a missing command exits 127", r.exit_code == 127, repr(r))
r = c.exec_run("/etc/passwd")
check("exec of a non-executable exits 126", r.exit_code == 126, repr(r))
eid = api.exec_create(c.id, "sleep 1")["Id"]
res = api.exec_start(eid, detach=True)
check("exec start detached answers empty", res in (b"", ""), repr(res))

# 4. commit: pause only a running container; Parent, Container, ContainerConfig.
stopped = client.containers.run("busybox", "sh -c 'echo data > /f'", detach=True)
stopped.wait()
try:
    img = stopped.commit(repository="sdk-commit", tag="1")
    check("commit of a stopped container (pause=true)", True)
    attrs = client.images.get("sdk-commit:1").attrs
    base = client.images.get("busybox").id
    check("committed image names its parent", attrs.get("Parent") == base, attrs.get("Parent"))
    check("committed image names its container", attrs.get("Container") == stopped.id, attrs.get("Container"))
    check("committed image keeps the container's config", (attrs.get("ContainerConfig") or {}).get("Cmd") == ["sh", "-c", "echo data > /f"], attrs.get("ContainerConfig"))
except APIError as e:
    check("commit of a stopped container (pause=true)", False, str(e))
stopped.remove()

# 5. restart policy through the SDK.
c = client.containers.run("busybox", "sh -c 'exit 4'", detach=True, restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
deadline = time.time() + 20
while time.time() < deadline:
    c.reload()
    if c.status == "exited" and c.attrs["RestartCount"] == 2:
        break
    time.sleep(0.1)
check("on-failure:2 through the SDK", c.status == "exited" and c.attrs["RestartCount"] == 2, (c.status, c.attrs["RestartCount"]))

# 6. images.build: a multi-stage Dockerfile with .dockerignore, a build arg, a target, and a
#    cached rebuild.
import io, os, tarfile, tempfile
ctx = tempfile.mkdtemp()
with open(os.path.join(ctx, "Dockerfile"), "w") as f:
    f.write("FROM busybox AS base\nARG WHO=world\nCOPY . /src\nRUN echo \"hello $WHO\" > /hello\n"
            "FROM busybox AS other\nRUN false\n"
            "FROM scratch\nCOPY --from=base /hello /hello\nCOPY --from=base /bin/busybox /busybox\n")
with open(os.path.join(ctx, "kept.txt"), "w") as f:
    f.write("kept")
with open(os.path.join(ctx, "secret.txt"), "w") as f:
    f.write("secret")
with open(os.path.join(ctx, ".dockerignore"), "w") as f:
    f.write("secret.txt\n")
try:
    img, logs = client.images.build(path=ctx, tag="sdk-built:1", buildargs={"WHO": "sdk"}, target="base")
    out = client.containers.run("sdk-built:1", "sh -c 'cat /hello; ls /src'", remove=True).decode()
    check("images.build with a build arg and a target", out.startswith("hello sdk\n") and "kept.txt" in out and "secret.txt" not in out, out)
    img2, logs2 = client.images.build(path=ctx, tag="sdk-built:1", buildargs={"WHO": "sdk"}, target="base")
    streams = "".join(l.get("stream", "") for l in logs2)
    check("images.build rebuild uses the cache", "Using cache" in streams and img2.id == img.id, streams)
    final, _ = client.images.build(path=ctx, tag="sdk-final:1", buildargs={"WHO": "sdk"})
    out = client.containers.run("sdk-final:1", ["/busybox", "cat", "/hello"], remove=True).decode()
    check("images.build of the last stage (the failing stage is skipped)", out == "hello sdk\n", out)
except Exception as e:
    check("images.build", False, repr(e))

for ct in client.containers.list(all=True):
    ct.remove(force=True)
sys.exit(1 if failures else 0)
