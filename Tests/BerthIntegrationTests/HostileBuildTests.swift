#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Testing

/// Hostile build contexts: links that point out of the context, a compression bomb, a step that
/// never ends a line. Nothing of the host may reach the image, and berthd must not grow without
/// bound or hang.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct HostileBuildTests {
    @Test func linksInTheContextStayInside() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let ctx = d.root + "/evil-ctx"
            try FS.mkdirAll(ctx)
            // A secret on the host, and links in the context that point at it.
            let secret = d.root + "/host-secret"
            try FS.write(secret, "host secret\n")
            #expect(symlink("/", ctx + "/root") == 0)
            #expect(symlink(secret, ctx + "/secret-link") == 0)
            #expect(try await Subprocess.run(["tar", "-cf", d.root + "/host.tar", "-C", d.root, "host-secret"]).status == 0)
            #expect(symlink(d.root + "/host.tar", ctx + "/archive.tar") == 0)
            for (i, step) in ["COPY root\(d.root)/host-secret /stolen", "COPY secret-link /stolen", "ADD archive.tar /stolen/"].enumerated() {
                try FS.write(ctx + "/Dockerfile", "FROM busybox\n\(step)\n")
                let r = try await d.dockerBuild(["-t", "it/evil:\(i)", ctx])
                if r.status == 0 {
                    // What was copied is the link itself (or nothing of the host).
                    let out = try await d.docker("run", "--rm", "it/evil:\(i)", "sh", "-c", "cat /stolen /stolen/* 2>/dev/null; true")
                    #expect(!out.stdoutText.contains("host secret"), "\(step): \(out.stdoutText)")
                } else {
                    #expect(!r.stderrText.contains("host secret"), "\(step): \(r.stderrText)")
                }
            }
        }
    }

    /// A body that is no archive is a Dockerfile: read no further than a Dockerfile may be long.
    /// A Dockerfile or .dockerignore that is a FIFO does not block the build; one that is a link
    /// out of the context reads nothing of the host. Each is an HTTP error before any output.
    @Test func hostileDockerfiles() async throws {
        try await withDaemon { d in
            func post(_ file: String) async throws -> String {
                try await Subprocess.run(["curl", "-s", "-m", "30", "--unix-socket", d.root + "/berth.sock", "-X", "POST",
                                          "-H", "Content-Type: application/x-tar", "--data-binary", "@" + file,
                                          "http://localhost/v1.47/build"]).stdoutText
            }
            #expect(try await Subprocess.run(["sh", "-c", "head -c 41943040 /dev/zero | tr '\\0' A > \(d.root)/big"]).status == 0)
            let big = try await post(d.root + "/big")
            #expect(big.hasPrefix(#"{"message":"#) && big.contains("larger than"), "\(big.prefix(200))")
            let ctx = d.root + "/fifo-ctx"
            try FS.mkdirAll(ctx)
            #expect(mkfifo(ctx + "/Dockerfile", 0o644) == 0 && mkfifo(ctx + "/.dockerignore", 0o644) == 0)
            #expect(try await Subprocess.run(["tar", "-C", ctx, "-cf", d.root + "/fifo.tar", "."]).status == 0)
            let fifo = try await post(d.root + "/fifo.tar")
            #expect(fifo.hasPrefix(#"{"message":"#) && fifo.contains("cannot be empty"), "\(fifo)")
            let link = d.root + "/link-ctx"
            try FS.mkdirAll(link)
            #expect(symlink("/etc/hostname", link + "/Dockerfile") == 0)
            #expect(try await Subprocess.run(["tar", "-C", link, "-cf", d.root + "/link.tar", "."]).status == 0)
            let out = try await post(d.root + "/link.tar")
            #expect(out.hasPrefix(#"{"message":"#) && !out.contains(ProcessInfo.processInfo.hostName), "\(out)")
        }
    }

    @Test func compressionBombAndEndlessLines() async throws {
        try await withDaemon(extraArgs: ["--max-decompressed-size", "4MiB"]) { d in
            try await d.loadBusybox()
            let ctx = d.root + "/bomb"
            try FS.mkdirAll(ctx)
            try FS.write(ctx + "/Dockerfile", "FROM busybox\n")
            #expect(try await Subprocess.run(["sh", "-c", "head -c 16777216 /dev/zero > \(ctx)/zeros && tar -C \(ctx) -cf - . | gzip -c > \(d.root)/bomb.tar.gz"]).status == 0)
            let r = try await Subprocess.run(["curl", "-s", "--unix-socket", d.root + "/berth.sock", "-X", "POST", "-H", "Content-Type: application/x-tar",
                                              "--data-binary", "@" + d.root + "/bomb.tar.gz", "http://localhost/v1.47/build"])
            // Refused before the build said anything: an HTTP error naming the limit.
            #expect(r.stdoutText.hasPrefix("{\"message\":") && r.stdoutText.contains("expand") && !r.stdoutText.contains("Successfully built"), "\(r.stdoutText)")
            // A step writing 300 KiB without a newline: the build goes on, the output arrives in pieces.
            let lines = d.root + "/lines"
            try FS.mkdirAll(lines)
            try FS.write(lines + "/Dockerfile", "FROM busybox\nRUN head -c 307200 /dev/zero | tr '\\0' a\n")
            let long = try await d.dockerBuild([lines])
            #expect(long.status == 0 && long.stdoutText.contains(String(repeating: "a", count: 1000)), "\(long.stderrText)")
        }
    }
}
