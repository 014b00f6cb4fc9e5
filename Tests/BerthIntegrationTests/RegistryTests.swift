#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Testing

/// Pull and push against the real CNCF registry, through the docker CLI, cross-checked with
/// skopeo; failures a network and a registry can cause.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct RegistryTests {
    func text(_ r: Subprocess.Result) -> String { r.stdoutText + r.stderrText }

    /// Pushes busybox as `ref`, then removes both names locally: the image exists only in the registry.
    func pushBusyboxAway(_ d: TestDaemon, as ref: String) async throws {
        #expect(try await d.docker("tag", "busybox", ref).status == 0)
        #expect(try await d.docker("push", ref).status == 0)
        #expect(try await d.docker("rmi", ref, "busybox").status == 0)
    }

    @Test func pushPullAndOtherClients() async throws {
        try await withRegistry { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                let r = reg.host
                #expect(try await d.docker("tag", "busybox", "\(r)/it/bb:1").status == 0)
                let push = try await d.docker("push", "\(r)/it/bb:1")
                #expect(push.status == 0 && push.stdoutText.contains("1: digest: sha256:"), "\(text(push))")
                let repoDigest = try await d.docker("image", "inspect", "-f", "{{index .RepoDigests 0}}", "\(r)/it/bb:1").stdoutText
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(repoDigest.hasPrefix("\(r)/it/bb@sha256:"))
                // An independent client reads what Berth pushed.
                let sk = try await Subprocess.run(["skopeo", "inspect", "--tls-verify=false", "docker://\(r)/it/bb:1"])
                #expect(sk.status == 0 && sk.stdoutText.contains(String(repoDigest.split(separator: "@")[1])), "\(text(sk))")

                // Gone locally (layers too), then pulled back and run.
                #expect(try await d.docker("rmi", "\(r)/it/bb:1", "busybox").status == 0)
                let pull = try await d.docker("pull", "\(r)/it/bb:1")
                #expect(pull.status == 0 && pull.stdoutText.contains("Pull complete")
                        && pull.stdoutText.contains("Status: Downloaded newer image for \(r)/it/bb:1"), "\(text(pull))")
                #expect(try await d.docker("run", "--rm", "\(r)/it/bb:1", "echo", "pulled").stdoutText == "pulled\n")
                // The same layer into another repository of the registry is mounted, not uploaded.
                #expect(try await d.docker("tag", "\(r)/it/bb:1", "\(r)/it/other:1").status == 0)
                let mount = try await d.docker("push", "\(r)/it/other:1")
                #expect(mount.status == 0 && mount.stdoutText.contains("Mounted from it/bb"), "\(text(mount))")
                // Without a tag, every tag of the repository comes.
                #expect(try await d.docker("tag", "\(r)/it/bb:1", "\(r)/it/other:2").status == 0)
                #expect(try await d.docker("push", "\(r)/it/other:2").status == 0)
                #expect(try await d.docker("rmi", "\(r)/it/other:1", "\(r)/it/other:2").status == 0)
                let all = try await d.docker("pull", "--all-tags", "\(r)/it/other")
                #expect(all.status == 0 && all.stdoutText.contains("1: Pulling from it/other") && all.stdoutText.contains("2: Pulling from it/other")
                        && all.stdoutText.contains("Status: Downloaded newer image for \(r)/it/other"), "\(text(all))")
                #expect(try await d.docker("image", "inspect", "\(r)/it/other:2").status == 0)
                let byDigest = try await d.docker("pull", repoDigest)
                #expect(byDigest.status == 0 && byDigest.stdoutText.contains("Image is up to date"), "\(text(byDigest))")
                let missing = try await d.docker("pull", "\(r)/it/nosuch:1")
                #expect(missing.status != 0 && missing.stderrText.contains("not found"), "\(text(missing))")
                let dist = try await Subprocess.run(["curl", "-s", "--unix-socket", d.socket, "http://berth/distribution/\(r)/it/bb:1/json"])
                #expect(dist.stdoutText.contains("\"Platforms\"") && dist.stdoutText.contains("amd64"), "\(dist.stdoutText)")

                // skopeo pushes an OCI-format copy; Berth pulls and runs it.
                let archive = d.root + "/bb.tar"
                #expect(try await d.docker("save", "-o", archive, "\(r)/it/bb:1").status == 0)
                let copy = try await Subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--format", "oci",
                                                     "docker-archive:" + archive, "docker://\(r)/it/oci:1"])
                #expect(copy.status == 0, "\(text(copy))")
                let ociPull = try await d.docker("pull", "\(r)/it/oci:1")
                #expect(ociPull.status == 0, "\(text(ociPull))")
                #expect(try await d.docker("run", "--rm", "\(r)/it/oci:1", "echo", "oci").stdoutText == "oci\n")

                // A manifest list: amd64 and arm64 entries pull the amd64 one; arm64 alone is refused.
                let manifest = try await Subprocess.run(["curl", "-s", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
                                                         "http://\(r)/v2/it/bb/manifests/1"]).stdout
                let mdigest = String(repoDigest.split(separator: "@")[1])
                func index(_ archs: [String]) -> String {
                    let entries = archs.map { a in
                        #"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"\#(mdigest)","size":\#(manifest.count),"platform":{"architecture":"\#(a)","os":"linux"}}"#
                    }
                    return #"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[\#(entries.joined(separator: ","))]}"#
                }
                for (tag, archs) in [("multi", ["arm64", "amd64"]), ("armonly", ["arm64"])] {
                    let put = try await Subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                                                        "-H", "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
                                                        "--data-binary", index(archs), "http://\(r)/v2/it/bb/manifests/\(tag)"])
                    #expect(put.stdoutText == "201", "\(text(put))")
                }
                let multi = try await d.docker("pull", "\(r)/it/bb:multi")
                #expect(multi.status == 0, "\(text(multi))")
                let arm = try await d.docker("pull", "\(r)/it/bb:armonly")
                #expect(arm.status != 0 && arm.stderrText.contains("no matching manifest for linux/amd64"), "\(text(arm))")
                // Asked for, another platform is chosen; a single-platform image must match the ask.
                let armPull = try await d.docker("pull", "--platform", "linux/arm64", "\(r)/it/bb:armonly")
                #expect(armPull.status == 0, "\(text(armPull))")
                let mismatch = try await d.docker("pull", "--platform", "linux/arm64", "\(r)/it/bb:1")
                #expect(mismatch.status != 0 && mismatch.stderrText.contains("does not match the specified platform"), "\(text(mismatch))")
            }
        }
    }

    @Test func corruptedBlobLeavesNoImage() async throws {
        try await withRegistry { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                let ref = "\(reg.host)/it/corrupt:1"
                try await pushBusyboxAway(d, as: ref)
                // Flip one byte in the middle of the layer blob (the one big file).
                let layer = try #require(reg.blobFiles().max { FS.fileSize($0) < FS.fileSize($1) })
                var bytes = [UInt8](try FS.read(layer))
                bytes[bytes.count / 2] ^= 0xff
                try FS.writeAtomically(layer, Data(bytes), mode: 0o644)
                let pull = try await d.docker("pull", ref)
                #expect(pull.status != 0 && pull.stderrText.contains("verification failed"), "\(text(pull))")
                #expect(try await d.docker("image", "inspect", ref).status != 0)
                #expect(try await d.docker("images", "-q").stdoutText.isEmpty)
            }
        }
    }

    @Test func droppedConnectionIsRetriedThenFailsCleanly() async throws {
        try await withRegistry { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                try await pushBusyboxAway(d, as: "\(reg.host)/it/drop:1")
                // Cut once: the download is retried and the pull succeeds.
                let once = try DroppingProxy(upstreamPort: reg.port, drops: 1)
                defer { once.stop() }
                let ok = try await d.docker("pull", "127.0.0.1:\(once.port)/it/drop:1")
                #expect(ok.status == 0 && ok.stdoutText.contains("Retrying"), "\(text(ok))")
                #expect(try await d.docker("rmi", "127.0.0.1:\(once.port)/it/drop:1").status == 0)
                // Cut every time: the pull fails, saying why, and leaves no image.
                let always = try DroppingProxy(upstreamPort: reg.port, drops: 100)
                defer { always.stop() }
                let bad = try await d.docker("pull", "127.0.0.1:\(always.port)/it/drop:1")
                #expect(bad.status != 0 && bad.stderrText.contains("blobs/sha256:"), "\(text(bad))")
                #expect(try await d.docker("images", "-q").stdoutText.isEmpty)
            }
        }
    }

    @Test func basicAuthLoginPushPull() async throws {
        let dir = "/tmp/berth-htpasswd-" + String(Identifier.random64().prefix(8))
        try FS.mkdirAll(dir)
        defer { FS.removeAll(dir) }
        let hp = try await Subprocess.run(["htpasswd", "-Bbn", "berth", "s3cret"])
        try FS.writeAtomically(dir + "/htpasswd", Data(hp.stdout), mode: 0o644)
        try await withRegistry(auth: "  htpasswd: { realm: berth-test, path: \(dir)/htpasswd }") { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                let ref = "\(reg.host)/it/private:1"
                #expect(try await d.docker("tag", "busybox", ref).status == 0)
                let anon = try await d.docker("push", ref)
                #expect(anon.status != 0 && text(anon).contains("no basic auth credentials"), "\(text(anon))")
                let wrong = try await d.docker("login", "-u", "berth", "--password-stdin", reg.host, input: "nope\n")
                #expect(wrong.status != 0 && wrong.stderrText.contains("401 Unauthorized"), "\(text(wrong))")
                let right = try await d.docker("login", "-u", "berth", "--password-stdin", reg.host, input: "s3cret\n")
                #expect(right.status == 0 && right.stdoutText.contains("Login Succeeded"), "\(text(right))")
                #expect(try await d.docker("push", ref).status == 0)
                #expect(try await d.docker("rmi", ref).status == 0)
                #expect(try await d.docker("pull", ref).status == 0)
                #expect(try await d.docker("logout", reg.host).status == 0)
                #expect(try await d.docker("rmi", ref).status == 0)
                let denied = try await d.docker("pull", ref)
                #expect(denied.status != 0 && denied.stderrText.contains("no basic auth credentials"), "\(text(denied))")
                #expect(!(try String(contentsOfFile: d.root + "/berthd.log", encoding: .utf8)).contains("s3cret"))
            }
        }
    }
}

extension RegistryTests {
    @Test func bearerTokenLoginPushPull() async throws {
        let tokens = try await TokenServer(user: "berth", password: "t0ken")
        defer { tokens.stop() }
        try await withRegistry(auth: tokens.registryAuth) { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                let ref = "\(reg.host)/it/tok:1"
                #expect(try await d.docker("tag", "busybox", ref).status == 0)
                let anon = try await d.docker("push", ref)
                #expect(anon.status != 0, "\(text(anon))")
                let wrong = try await d.docker("login", "-u", "berth", "--password-stdin", reg.host, input: "nope\n")
                #expect(wrong.status != 0 && wrong.stderrText.contains("incorrect username or password"), "\(text(wrong))")
                let right = try await d.docker("login", "-u", "berth", "--password-stdin", reg.host, input: "t0ken\n")
                #expect(right.status == 0 && right.stdoutText.contains("Login Succeeded"), "\(text(right))")
                let push = try await d.docker("push", ref)
                #expect(push.status == 0 && push.stdoutText.contains("digest: sha256:"), "\(text(push))")
                #expect(try await d.docker("rmi", ref, "busybox").status == 0)
                let pull = try await d.docker("pull", ref)
                #expect(pull.status == 0 && pull.stdoutText.contains("Pull complete"), "\(text(pull))")
                #expect(try await d.docker("run", "--rm", ref, "echo", "token").stdoutText == "token\n")
            }
        }
    }
}

extension RegistryTests {
    @Test func zstdLayersPull() async throws {
        try await withRegistry { reg in
            try await withDaemon { d in
                let archive = d.root + "/busybox.tar"
                try FS.writeAtomically(archive, Data(BusyboxImage.archive), mode: 0o600)
                let copy = try await Subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--format", "oci", "--dest-compress",
                                                     "--dest-compress-format", "zstd", "docker-archive:" + archive,
                                                     "docker://\(reg.host)/it/zstd:1"])
                #expect(copy.status == 0, "\(text(copy))")
                let pull = try await d.docker("pull", "\(reg.host)/it/zstd:1")
                #expect(pull.status == 0 && pull.stdoutText.contains("Pull complete"), "\(text(pull))")
                #expect(try await d.docker("run", "--rm", "\(reg.host)/it/zstd:1", "echo", "zstd").stdoutText == "zstd\n")
            }
        }
    }
}

extension RegistryTests {
    /// Blob downloads that redirect elsewhere (as registries do to storage) are followed.
    @Test func blobRedirectsAreFollowed() async throws {
        try await withRegistry { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                try await pushBusyboxAway(d, as: "\(reg.host)/it/redir:1")
                let proxy = try DroppingProxy(upstreamPort: reg.port, drops: 0, redirectBlobs: true)
                defer { proxy.stop() }
                let pull = try await d.docker("pull", "127.0.0.1:\(proxy.port)/it/redir:1")
                #expect(pull.status == 0 && pull.stdoutText.contains("Pull complete"), "\(text(pull))")
                #expect(proxy.redirected > 0)
            }
        }
    }

    /// Docker Hub names go to a --registry-mirror first.
    @Test func hubPullsUseTheMirror() async throws {
        try await withRegistry { mirror in
            try await withDaemon(extraArgs: ["--registry-mirror", "http://\(mirror.host)"]) { d in
                try await d.loadBusybox()
                try await pushBusyboxAway(d, as: "\(mirror.host)/library/mirrored:1")
                let pull = try await d.docker("pull", "mirrored:1")
                #expect(pull.status == 0 && pull.stdoutText.contains("Status: Downloaded newer image for mirrored:1"), "\(text(pull))")
                #expect(try await d.docker("run", "--rm", "mirrored:1", "echo", "mirrored").stdoutText == "mirrored\n")
            }
        }
    }
}
