#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// What a client can make berthd hold: bounded decompression, work that stops when the client
/// leaves, requests answered in order, slow heads cut off, slow readers cut off.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct ResourceBoundsTests {
    /// `total` bytes of zeros as a gzip stream: one compressed 64 MiB member, repeated (a valid
    /// multi-member gzip file a few hundred KiB long per GiB).
    static func gzipBomb(total: Int64) throws -> [UInt8] {
        let member = try Subprocess.runBlocking(["gzip", "-1", "-c"], input: [UInt8](repeating: 0, count: 64 << 20)).stdout
        var out: [UInt8] = []
        for _ in 0..<(total / (64 << 20)) { out += member }
        return out
    }

    /// Peak resident memory of a process, in bytes.
    static func peakRSS(_ pid: pid_t) -> Int64 {
        let status = (FS.readText("/proc/\(pid)/status")) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    static func tmpEntries(_ d: TestDaemon) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: d.root + "/data/tmp")) ?? []
    }

    /// Waits (bounded) until `condition` holds, checking every 50 ms.
    @Test func gzipBombsStopAtTheLimit() async throws {
        try await withDaemon(extraArgs: ["--max-decompressed-size", "512MiB"]) { d in
            // The whole archive gzip-compressed: 2 GiB of zeros.
            let bomb = try Self.gzipBomb(total: 2 << 30)
            let r = try await d.client.http.request(.POST, "/images/load?quiet=1", body: bomb)
            #expect(r.status == 400 && r.text.contains("expands beyond the limit of 512 MiB"), "\(r.status) \(r.text)")
            #expect(Self.tmpEntries(d).isEmpty, "\(Self.tmpEntries(d))")
            // A layer inside a plain archive, gzip-compressed: 1 GiB of zeros.
            let layerBomb = try Self.gzipBomb(total: 1 << 30)
            let archive = try ImageArchive.layer([
                (TarEntry(name: "manifest.json", kind: .file), Array(#"[{"Config":"c.json","RepoTags":["bomb:1"],"Layers":["l.tar"]}]"#.utf8)),
                (TarEntry(name: "c.json", kind: .file),
                 Array(#"{"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:\#(String(repeating: "0", count: 64))"]}}"#.utf8)),
                (TarEntry(name: "l.tar", kind: .file), layerBomb),
            ])
            let r2 = try await d.client.http.request(.POST, "/images/load?quiet=1", body: archive)
            #expect(r2.status == 400 && r2.text.contains("expands beyond the limit"), "\(r2.status) \(r2.text)")
            #expect(Self.tmpEntries(d).isEmpty, "\(Self.tmpEntries(d))")
            #expect(Self.peakRSS(d.pid) < 100 << 20, "peak RSS \(Self.peakRSS(d.pid) >> 20) MiB")
            #expect(try await d.client.ping() == "OK")
        }
    }

    @Test func loadStopsWhenTheClientLeaves() async throws {
        try await withDaemon { d in
            // 16 GiB of zeros would take long to expand; the client leaves as soon as it is sent.
            let bomb = try Self.gzipBomb(total: 16 << 30)
            let conn = try HijackTests.RawConn(path: d.socket)
            try conn.send("POST /images/load?quiet=1 HTTP/1.1\r\nHost: x\r\nContent-Length: \(bomb.count)\r\n\r\n")
            try bomb.withUnsafeBytes { try Syscall.writeAll(conn.fd, $0) }
            #expect(await eventually(.seconds(15)) { Self.tmpEntries(d).contains { $0.hasSuffix(".plain") } }, "the load never started")
            shutdown(conn.fd, Int32(SHUT_RDWR))
            #expect(await eventually(.seconds(15)) { Self.tmpEntries(d).isEmpty }, "still there: \(Self.tmpEntries(d))")
            #expect(try await d.client.ping() == "OK")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let id = try await d.client.createContainer(image: "busybox", cmd: ["sleep", "0.5"]).Id
            try await d.client.startContainer(id)
            let conn = try HijackTests.RawConn(path: d.socket)
            // The wait takes half a second; the ping behind it must still come second.
            try conn.send("POST /containers/\(id)/wait HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                          + "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let all = String(decoding: conn.readToEOF(), as: UTF8.self)
            let wait = all.range(of: "StatusCode"), ping = all.range(of: "\r\n\r\nOK")
            #expect(wait != nil && ping != nil && wait!.lowerBound < ping!.lowerBound, "\(all)")
        }
    }

    @Test func slowRequestHeadsAreCutOff() async throws {
        try await withDaemon(extraArgs: ["--http-header-timeout", "3"]) { d in
            let conn = try HijackTests.RawConn(path: d.socket)
            try conn.send("GET /_ping HTTP/1.1\r\nHost: x\r\n")  // and nothing more
            let start = ContinuousClock.now
            #expect(conn.readToEOF().isEmpty)
            #expect(ContinuousClock.now - start < .seconds(10))
            // A connection that sends its head in time (all at once, on a fresh connection) is served.
            let ok = try HijackTests.RawConn(path: d.socket)
            try ok.send("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(String(decoding: ok.readToEOF(), as: UTF8.self).hasSuffix("\r\n\r\nOK"))
        }
    }

    @Test func eventsClientThatFallsBehindIsCutOff() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let conn = try HijackTests.RawConn(path: d.socket)
            var small: Int32 = 4096
            setsockopt(conn.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            try conn.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            // Several thousand events while the client reads none of them.
            await withTaskGroup(of: Void.self) { g in
                for w in 0..<4 {
                    g.addTask {
                        for i in 0..<900 { _ = try? await d.client.http.request(.POST, "/images/busybox/tag?repo=ev\(w)&tag=t\(i)") }
                    }
                }
            }
            // Reading now: what was buffered, then the end — without the final chunk of a
            // response that ended normally.
            var rest: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            var closed = false
            while true {
                let n = read(conn.fd, &buf, buf.count)
                if n > 0 { rest += buf[0..<n]; continue }
                closed = n == 0  // EOF; -1 is the 15 s receive timeout of a stream left open
                break
            }
            let text = String(decoding: rest, as: UTF8.self)
            #expect(closed, "the events stream was left open")
            #expect(text.contains("\"Action\":\"tag\""))
            #expect(!text.hasSuffix("0\r\n\r\n"), "the stream ended normally")
            #expect(try await d.client.ping() == "OK")
        }
    }

    @Test func stdinIsBackPressured() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            // The container never reads its stdin.
            let created = try await d.client.http.request(.POST, "/containers/create",
                                                          body: Array(#"{"Image":"busybox","Cmd":["sleep","60"],"OpenStdin":true,"AttachStdin":true}"#.utf8),
                                                          headers: [("Content-Type", "application/json")])
            let id = try JSONDecoder().decode(ContainerCreateResponse.self, from: Data(created.body)).Id
            let conn = try HijackTests.RawConn(path: d.socket)
            try conn.send("POST /containers/\(id)/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            let (head, _) = conn.readHead()
            #expect(head.contains("101"))
            try await d.client.startContainer(id)
            _ = fcntl(conn.fd, F_SETFL, fcntl(conn.fd, F_GETFL) | O_NONBLOCK)
            let chunk = [UInt8](repeating: 0x61, count: 64 << 10)
            var sent = 0
            // Write until berthd stops taking bytes for two seconds (or 256 MiB went in).
            while sent < 256 << 20 {
                let n = chunk.withUnsafeBytes { write(conn.fd, $0.baseAddress, $0.count) }
                if n > 0 { sent += n; continue }
                var p = pollfd(fd: conn.fd, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, 2000) == 0 { break }
            }
            #expect(sent < 32 << 20, "berthd took \(sent >> 20) MiB of stdin nobody reads")
            try await d.client.removeContainer(id, force: true)
        }
    }

    /// A client that leaves in the middle of `docker save` or `export` stops the producer, and
    /// berthd goes on (the producer's gate must allow being dropped with chunks unread).
    @Test func streamsStopWhenTheClientLeaves() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            _ = try await d.client.createContainer(name: "leaver", image: "busybox", cmd: ["true"])
            for path in ["/images/busybox/get", "/containers/leaver/export"] {
                for _ in 0..<3 {
                    let conn = try HijackTests.RawConn(path: d.socket)
                    try conn.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                    let (head, _) = conn.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
                    shutdown(conn.fd, Int32(SHUT_RDWR))
                }
            }
            #expect(try await d.client.ping() == "OK")
            #expect(try await d.docker("save", "-o", d.root + "/whole.tar", "busybox").status == 0)
            #expect(FS.fileSize(d.root + "/whole.tar") > 1 << 20)
        }
    }
}
