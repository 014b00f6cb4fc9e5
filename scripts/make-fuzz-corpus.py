#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (Tests/FuzzCorpus/<target>/*).
Run again only to change the seeds; the files are committed."""
import hashlib, io, json, os, tarfile, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "FuzzCorpus")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def tar(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for m in members:
            info = tarfile.TarInfo(m["name"])
            info.type = m.get("type", tarfile.REGTYPE)
            info.linkname = m.get("link", "")
            info.mode = m.get("mode", 0o644)
            info.mtime = m.get("mtime", 1_000_000_000)
            info.uid = m.get("uid", 0)
            info.pax_headers = m.get("pax", {})
            data = m.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buf.getvalue()

layer = tar([
    {"name": "bin/", "type": tarfile.DIRTYPE, "mode": 0o755},
    {"name": "bin/busybox", "data": b"\x7fELF" + b"\0" * 60, "mode": 0o755},
    {"name": "bin/sh", "type": tarfile.SYMTYPE, "link": "busybox"},
    {"name": "etc/passwd", "data": b"root:x:0:0:root:/root:/bin/sh\n"},
    {"name": "etc/link", "type": tarfile.LNKTYPE, "link": "etc/passwd"},
    {"name": ".wh.gone", "data": b""},
    {"name": "dir/.wh..wh..opq", "data": b""},
])
put("tar", "layer-pax", layer)
put("tar", "long-gnu", tar([{"name": "d/" + "n" * 150, "data": b"x"}, {"name": "l", "type": tarfile.SYMTYPE, "link": "t" * 120}], tarfile.GNU_FORMAT))
put("tar", "pax-records", tar([{"name": "p", "data": b"abc", "pax": {"mtime": "1234.5", "SCHILY.xattr.user.a": "v", "uid": "1000"}}]))
put("tar", "ustar", tar([{"name": "u/file", "data": b"hello"}], tarfile.USTAR_FORMAT))
put("tar", "empty", b"\0" * 1024)

def sha(b): return "sha256:" + hashlib.sha256(b).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2000-01-01T00:00:00Z",
                  "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
                  "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
save = tar([
    {"name": "l/layer.tar", "data": layer},
    {"name": "c.json", "data": cfg},
    {"name": "manifest.json", "data": json.dumps([{"Config": "c.json", "RepoTags": ["acc/x:1"], "Layers": ["l/layer.tar"]}]).encode()},
], tarfile.USTAR_FORMAT)
put("archive", "docker-save", save)
manifest = json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": len(layer)}]}).encode()
index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
                    "size": len(manifest), "annotations": {"io.containerd.image.name": "docker.io/acc/oci:1"}}]}).encode()
oci = tar([
    {"name": "oci-layout", "data": b'{"imageLayoutVersion":"1.0.0"}'},
    {"name": "blobs/sha256/" + hashlib.sha256(layer).hexdigest(), "data": layer},
    {"name": "blobs/sha256/" + hashlib.sha256(cfg).hexdigest(), "data": cfg},
    {"name": "blobs/sha256/" + hashlib.sha256(manifest).hexdigest(), "data": manifest},
    {"name": "index.json", "data": index},
], tarfile.USTAR_FORMAT)
put("archive", "oci-layout", oci)

for i, s in enumerate(["2026-11-29T13:41:18.520332872Z", "2000-01-01T00:00:00+02:00", "1700000000.5", "-1.25",
                       "SIGRTMIN+3", "10MiB", '{"label":{"a=b":true},"status":["running"]}', "sha256:" + "a" * 64,
                       "127.0.0.1:5000/acc/bb:1@sha256:" + "b" * 64, "linux/amd64/v2",
                       'Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull"',
                       "eyJ1c2VybmFtZSI6ImEiLCJwYXNzd29yZCI6ImIifQ=="]):
    put("time", f"s{i}", s)

put("http", "get", "GET /v1.47/containers/json?all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D HTTP/1.1\r\nHost: localhost\r\n\r\n")
put("http", "post-chunked", "POST /containers/create?name=x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n")
put("http", "pipelined", "GET /_ping HTTP/1.1\r\nHost: a\r\n\r\nHEAD /_ping HTTP/1.1\r\nHost: a\r\n\r\nPOST /v1.24/images/load?quiet=1 HTTP/1.0\r\nContent-Length: 3\r\nX-Registry-Auth: e30=\r\n\r\nabc")
put("http", "upgrade", "POST /containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nstdin bytes")

create = json.dumps({"Image": "busybox", "Cmd": ["sh", "-c", "echo hi"], "Env": ["A=1"], "Labels": {"l": "v"},
                     "HostConfig": {"Memory": 7000000, "NanoCpus": 500000000, "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}],
                                    "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}}, "OomScoreAdj": 10}})
put("json", "create", b"\0" + create.encode())
put("json", "hostconfig", b"\1" + json.dumps({"Memory": 9223372036854775807, "CpuPeriod": 100000, "CpuQuota": 50000, "ShmSize": 1}).encode())
put("json", "exec", b"\2" + json.dumps({"Cmd": ["ls"], "Tty": True, "Env": ["X=1"], "User": "1:1"}).encode())
put("json", "image-config", b"\3" + cfg)
put("json", "manifest", b"\4" + manifest)
put("json", "index", b"\5" + json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": sha(b"a"), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}]}).encode())
put("json", "auth", b"\6" + json.dumps({"username": "u", "auth": "dTpw"}).encode())
put("json", "deep", b"\7" + b"[" * 600 + b"]" * 600)

put("config", "merge", json.dumps({"Cmd": ["x"], "Env": ["A=1", "B"], "Labels": {"a": "1"}}).encode() + b"\0" +
    json.dumps({"Entrypoint": ["/e"], "Env": ["A=0", "PATH=/bin"], "ExposedPorts": {"80/tcp": {}}, "User": "u"}).encode() + b"\0" +
    b"ENV A=2 C=3\nLABEL x=y\nCMD [\"a\",\"b\"]\nEXPOSE 8080 53/udp\nVOLUME /data\nWORKDIR /w\nUSER 1\nSTOPSIGNAL SIGINT")
